package sweeps

import (
	"strings"
	"testing"
	"time"
)

// KeyError points at the line that sets a key for a job, however the file
// sets it, so that a problem found outside sweeps (a missing dataset
// folder, an n_ctx too long for the model) names file, line and key.
func TestKeyErrorFindsTheLineThatSetsTheKey(t *testing.T) {
	src := `[grid]
name = "t"
model = "models/m"
data_root = "data"
job_timeout = "90m"

[defaults]
n_ctx = 2

[[experiment]]
name = "axes"
protocol = "base2new"
datasets = ["demo", "dtd"]
[experiment.axes]
n_ctx = [1, 8]
[experiment.dataset.dtd]
n_ctx = 3

[[experiment]]
name = "zipped"
protocol = "train"
datasets = ["eurosat"]
[[experiment.zip]]
n_ctx = [5, 6]
seed = [1, 2]

[[experiment]]
name = "plain"
protocol = "train"
datasets = ["ucf101"]

[[experiment]]
name = "far"
protocol = "transfer"
from = "zipped"
targets = ["imagenet_a"]
`
	g, err := Parse("g.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if g.JobTimeout != 90*time.Minute {
		t.Errorf("job_timeout %v", g.JobTimeout)
	}
	find := func(name string) Job {
		for _, j := range g.Jobs {
			if strings.HasPrefix(j.Name, name) {
				return j
			}
		}
		t.Fatalf("no job %s", name)
		return Job{}
	}
	for _, tc := range []struct {
		job, key, want string
	}{
		{"axes/demo/n_ctx=1/train", "n_ctx", `g.toml:15: experiment "axes": axes.n_ctx: m`},
		{"axes/dtd/", "n_ctx", `g.toml:17: experiment "axes": dataset.dtd.n_ctx: m`},
		{"axes/demo/n_ctx=8/new", "n_ctx", `g.toml:15: experiment "axes": axes.n_ctx: m`},
		{"axes/demo/n_ctx=1/train", "datasets", `g.toml:13: experiment "axes": datasets: m`},
		{"zipped/", "n_ctx", `g.toml:24: experiment "zipped": zip.n_ctx: m`},
		{"plain/", "n_ctx", `g.toml:8: defaults.n_ctx: m`},
		{"plain/", "model", `g.toml:3: grid.model: m`},
		{"plain/", "data_root", `g.toml:4: grid.data_root: m`},
		{"far/", "datasets", `g.toml:36: experiment "far": targets: m`},
		{"far/", "n_ctx", `g.toml:24: experiment "zipped": zip.n_ctx: m`},
	} {
		if got := g.KeyError(find(tc.job), tc.key, "m").Error(); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.job, tc.key, got, tc.want)
		}
	}
	if _, err := Parse("g.toml", []byte(strings.Replace(src, `"90m"`, `"soon"`, 1))); err == nil ||
		!strings.Contains(err.Error(), `g.toml:5: grid.job_timeout: bad duration "soon"`) {
		t.Errorf("bad job_timeout: %v", err)
	}
}
