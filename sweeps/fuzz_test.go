package sweeps

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the grid language arbitrary text. Whatever the input,
// Parse must not panic, every error must be an *Error naming the file, and
// every grid it accepts must be a valid DAG: unique IDs that are the hashes
// of their configs, dependencies listed before the jobs that need them.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/fomo/*.toml")
	seeds = append(seeds, "../grid.toml")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(validGrid))
	f.Add([]byte(validGrid + "[slurm]\npartition = \"gpu\"\ntime = \"1-02:00\"\ngpus = 1\nmem = \"16G\"\nextra = [\"--qos=high\"]\n[slurm.eval]\njobs_per_task = 4\n"))
	f.Add([]byte("[grid]\nname = \"x\"\nmodel = \"m\"\ndata_root = \"d\"\n[[experiment]]\nname = \"t\"\nprotocol = \"transfer\"\nfrom = \"t\"\ntargets = [\"dtd\"]\n"))
	// Keep every expansion small: the fuzzer writes long axes quickly.
	saved := MaxJobs
	MaxJobs = 20_000
	defer func() { MaxJobs = saved }()
	f.Fuzz(func(t *testing.T, src []byte) {
		g, err := Parse("fuzz.toml", src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.toml" {
				t.Fatalf("error %v (%T) is not an *Error naming the file", err, err)
			}
			return
		}
		if len(g.Jobs) == 0 || len(g.Jobs) > MaxJobs {
			t.Fatalf("%d jobs", len(g.Jobs))
		}
		seen := map[string]bool{}
		for _, j := range g.Jobs {
			if seen[j.ID] {
				t.Fatalf("job %s listed twice", j.ID)
			}
			if ConfigID(j.Config) != j.ID {
				t.Fatalf("job %s: ID is not the hash of its config", j.Name)
			}
			for _, d := range j.Deps {
				if !seen[d] {
					t.Fatalf("job %s depends on %s, which is not listed before it", j.Name, d)
				}
			}
			seen[j.ID] = true
		}
	})
}

// validGrid exercises every part of the language, as a seed.
const validGrid = `
[grid]
name = "fz"
model = "m"
data_root = "d"
workers = 2
retries = 1

[defaults]
epochs = 2

[[experiment]]
name = "g"
protocol = "base2new"
datasets = ["demo", "dtd"]
variants = ["noshared"]
[experiment.axes]
n_ctx = [1, 2]
seed = [1, 2]
[[experiment.zip]]
lr = [0.1, 0.2]
epochs = [1, 2]
[[experiment.exclude]]
n_ctx = 1
seed = 2
[experiment.dataset.dtd]
shots = 4

[[experiment]]
name = "x"
protocol = "transfer"
from = "g"
targets = ["eurosat", "imagenet_a"]
`
