package slurm

import (
	"reflect"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/sweeps"
)

func trainJob(id string) sweeps.Job {
	return sweeps.Job{ID: id, Config: sweeps.Config{Kind: study.KindTrain}}
}

func evalJob(id, source string) sweeps.Job {
	j := sweeps.Job{ID: id, Config: sweeps.Config{Kind: study.KindEval, Source: source}}
	if source != "" {
		j.Deps = []string{source}
	}
	return j
}

func slurmConfig(t *testing.T, table string) sweeps.Slurm {
	t.Helper()
	g, err := sweeps.Parse("grid.toml", []byte(`[grid]
name = "t"
model = "m"
data_root = "d"
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
`+table))
	if err != nil {
		t.Fatal(err)
	}
	return g.Slurm
}

func TestPlanPairsEvalTasksWithTheirTrainTasks(t *testing.T) {
	cfg := slurmConfig(t, "[slurm.train]\njobs_per_task = 2\n")
	jobs := []sweeps.Job{
		trainJob("t1"), evalJob("e1", "t1"), trainJob("t2"), evalJob("e2", "t2"), evalJob("x1", "t1"),
		trainJob("t3"), trainJob("t4"), trainJob("t5"), evalJob("e5", "t5"),
		evalJob("late", "queued"), // its source is run by an earlier submission's array 77
		evalJob("zs", ""),         // zero-shot: no source
	}
	stages := plan(jobs, cfg, 1001, map[string]string{"queued": "77"})
	want := []Stage{
		{Name: "train", Resources: cfg.Stage("train"),
			Tasks: [][]string{{"t1", "t2"}, {"t3", "t4"}, {"t5"}},
			Parts: []Part{{Offset: 0, Indices: "0-2"}}},
		{Name: "eval", Resources: cfg.Stage("eval"),
			Tasks: [][]string{{"e1", "e2", "x1"}, nil, {"e5"}, {"late"}, {"zs"}},
			Parts: []Part{
				{Offset: 0, Indices: "0,2", After: []Dep{{Type: "aftercorr", Stage: "train", Part: 0}}},
				{Offset: 3, Indices: "0-1", After: []Dep{{Type: "afterany", JobID: "77"}}},
			}},
		{Name: "merge", Resources: cfg.Stage("merge"),
			Parts: []Part{{After: []Dep{
				{Type: "afterany", Stage: "train", Part: 0},
				{Type: "afterany", Stage: "eval", Part: 0},
				{Type: "afterany", Stage: "eval", Part: 1},
			}}}},
	}
	if !reflect.DeepEqual(stages, want) {
		t.Errorf("plan:\n got %+v\nwant %+v", stages, want)
	}
}

func TestPlanSplitsStagesAtMaxArraySize(t *testing.T) {
	var jobs []sweeps.Job
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		jobs = append(jobs, trainJob(id), evalJob(id+"-new", id))
	}
	stages := plan(jobs, slurmConfig(t, ""), 2, nil)
	train, eval := stages[0], stages[1]
	wantParts := []Part{{Offset: 0, Indices: "0-1"}, {Offset: 2, Indices: "0-1"}, {Offset: 4, Indices: "0"}}
	if !reflect.DeepEqual(train.Parts, wantParts) {
		t.Errorf("train arrays %+v", train.Parts)
	}
	for p, part := range eval.Parts {
		want := wantParts[p]
		want.After = []Dep{{Type: "aftercorr", Stage: "train", Part: p}}
		if !reflect.DeepEqual(part, want) {
			t.Errorf("eval array %d: %+v, want %+v", p, part, want)
		}
	}
	if n := len(stages[2].Parts[0].After); n != 6 {
		t.Errorf("the merge job waits for %d arrays, want 6", n)
	}
}

func TestArrayLists(t *testing.T) {
	for _, c := range []struct {
		idx  []int
		list string
	}{{[]int{0}, "0"}, {[]int{0, 1, 2, 3}, "0-3"}, {[]int{0, 2, 3, 4, 7, 9, 10}, "0,2-4,7,9-10"}} {
		if got := ranges(c.idx); got != c.list {
			t.Errorf("ranges(%v) = %q, want %q", c.idx, got, c.list)
		}
		if back, err := expandRanges(c.list + "%2"); err != nil || !reflect.DeepEqual(back, c.idx) {
			t.Errorf("expandRanges(%q) = %v, %v", c.list, back, err)
		}
	}
	if got, err := expandRanges("0-8:4"); err != nil || !reflect.DeepEqual(got, []int{0, 4, 8}) {
		t.Errorf("step: %v %v", got, err)
	}
	if _, err := expandRanges("a-b"); err == nil {
		t.Error("expandRanges accepted a-b")
	}
}

func TestSbatchArgs(t *testing.T) {
	st := Stage{Name: "eval", Resources: sweeps.Resources{Throttle: 4}}
	p := Part{Offset: 1002, Indices: "0-9", After: []Dep{
		{Type: "aftercorr", Stage: "train", Part: 1}, {Type: "afterany", JobID: "77"}, {Type: "afterany", JobID: "78"}}}
	opts, args, err := sbatchArgs(st, p, map[string]string{"train/1": "90"})
	want := []string{"--dependency=aftercorr:90,afterany:77:78", "--kill-on-invalid-dep=yes", "--array=0-9%4"}
	if err != nil || !reflect.DeepEqual(opts, want) || !reflect.DeepEqual(args, []string{"1002"}) {
		t.Errorf("got %q %q %v, want %q [1002]", opts, args, err, want)
	}
	if _, _, err := sbatchArgs(st, p, nil); err == nil {
		t.Error("a dependency on an array not submitted was accepted")
	}
}

func TestParseJobRecords(t *testing.T) {
	out := `JobId=11 ArrayJobId=10 ArrayTaskId=0 ArrayTaskThrottle=1 JobName=grid-t-train UserId=root(0) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 ExitCode=0:0 Command=/a b/c
JobId=10 ArrayJobId=10 ArrayTaskId=1-3%1 ArrayTaskThrottle=1 JobName=grid-t-train JobState=PENDING Reason=JobArrayTaskLimit Restarts=0 ExitCode=0:0
JobId=12 ArrayJobId=10 ArrayTaskId=4 JobName=grid-t-train JobState=FAILED Reason=NonZeroExitCode Restarts=0 ExitCode=137:0
JobId=13 JobName=grid-t-merge JobState=PENDING Reason=Dependency Restarts=0 ExitCode=0:0
`
	recs, err := parseJobRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []TaskRecord{
		{JobID: "10", Tasks: []int{0}, State: "RUNNING", Reason: "None", Restarts: 1, ExitCode: "0:0"},
		{JobID: "10", Tasks: []int{1, 2, 3}, State: "PENDING", Reason: "JobArrayTaskLimit", ExitCode: "0:0"},
		{JobID: "10", Tasks: []int{4}, State: "FAILED", Reason: "NonZeroExitCode", ExitCode: "137:0"},
		{JobID: "13", State: "PENDING", Reason: "Dependency", ExitCode: "0:0"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("got %+v\nwant %+v", recs, want)
	}
}
