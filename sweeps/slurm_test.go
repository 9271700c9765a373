package sweeps

import (
	"reflect"
	"testing"
)

func TestSlurmTableStagesInheritAndOverride(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "e"
protocol = "base2new"
datasets = ["eurosat"]

[slurm]
partition = "gpu"
account = "lab"
time = "04:00:00"
gpus = 1
cpus = 8
mem = "32G"
jobs_per_task = 2
throttle = 8
max_array_size = 500
extra = ["--qos=high"]

[slurm.eval]
jobs_per_task = 10
time = "30"
extra = ["--constraint=a100"]

[slurm.merge]
cpus = 1
`)
	s := g.Slurm
	if s.MaxArraySize != 500 {
		t.Errorf("max_array_size %d", s.MaxArraySize)
	}
	want := Resources{Partition: "gpu", Account: "lab", Time: "04:00:00", Mem: "32G", GPUs: 1, CPUs: 8,
		JobsPerTask: 2, Throttle: 8, Workers: 1, SignalSeconds: 120, Extra: []string{"--qos=high"}}
	if got := s.Stage(StageTrain); !reflect.DeepEqual(got, want) {
		t.Errorf("train:\n got %+v\nwant %+v", got, want)
	}
	eval := want
	eval.JobsPerTask, eval.Time, eval.Extra = 10, "30", []string{"--qos=high", "--constraint=a100"}
	if got := s.Stage(StageEval); !reflect.DeepEqual(got, eval) {
		t.Errorf("eval:\n got %+v\nwant %+v", got, eval)
	}
	merge := want
	merge.GPUs, merge.CPUs = 0, 1 // the merge job asks for no GPU unless told to
	if got := s.Stage(StageMerge); !reflect.DeepEqual(got, merge) {
		t.Errorf("merge:\n got %+v\nwant %+v", got, merge)
	}
}

func TestSlurmTableDoesNotChangeJobIDs(t *testing.T) {
	const exp = `
[[experiment]]
name = "e"
protocol = "base2new"
datasets = ["eurosat"]
`
	a := mustParse(t, header+exp)
	b := mustParse(t, header+exp+"[slurm]\ngpus = 2\n")
	if !reflect.DeepEqual(ids(a), ids(b)) {
		t.Error("a [slurm] table changed job IDs")
	}
	if got := a.Slurm.Stage(StageTrain); got.JobsPerTask != 1 || got.Workers != 1 || got.SignalSeconds != 120 {
		t.Errorf("defaults without [slurm]: %+v", got)
	}
}

func TestSlurmSeconds(t *testing.T) {
	for in, want := range map[string]int{"90": 5400, "5:30": 330, "01:02:03": 3723, "1-12": 129600, "2-01:30": 178200, "1-00:00:10": 86410} {
		if got, ok := SlurmSeconds(in); !ok || got != want {
			t.Errorf("SlurmSeconds(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "2h", "1-", ":30", "1:2:3:4"} {
		if _, ok := SlurmSeconds(bad); ok {
			t.Errorf("SlurmSeconds(%q) accepted", bad)
		}
	}
}
