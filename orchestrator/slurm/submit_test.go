package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCluster records sbatch calls and answers scontrol with a state per
// array.
type fakeCluster struct {
	next   int
	calls  []string          // "options... script args..." per sbatch call
	arrays map[string]string // job ID -> its --array list
	state  map[string]string // job ID -> state of all its tasks; "" is PENDING, "GONE" forgotten
	failOn string            // sbatch of this script fails
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{next: 100, arrays: map[string]string{}, state: map[string]string{}}
}

func (f *fakeCluster) Submit(_ context.Context, options []string, script string, args []string) (string, error) {
	if f.failOn != "" && filepath.Base(script) == f.failOn {
		return "", errors.New("sbatch: error: Batch job submission failed: Invalid account")
	}
	f.next++
	id := fmt.Sprint(f.next)
	f.calls = append(f.calls, strings.Join(append(append(append([]string{}, options...), filepath.Base(script)), args...), " "))
	for _, o := range options {
		if list, ok := strings.CutPrefix(o, "--array="); ok {
			f.arrays[id] = list
		}
	}
	return id, nil
}

func (f *fakeCluster) Job(_ context.Context, id string) ([]TaskRecord, error) {
	state := f.state[id]
	if state == "GONE" {
		return nil, nil
	}
	if state == "" {
		state = "PENDING"
	}
	list, ok := f.arrays[id]
	if !ok {
		return []TaskRecord{{JobID: id, State: state}}, nil
	}
	tasks, err := expandRanges(list)
	return []TaskRecord{{JobID: id, Tasks: tasks, State: state}}, err
}

func (f *fakeCluster) MaxArraySize(context.Context) (int, error) { return 1001, nil }

// writeGridFile is a grid of 2 base2new cells and a transfer: 3 trains
// (one trained on all classes) and 3 evals.
func writeGridFile(t *testing.T, dir string) string {
	t.Helper()
	for _, d := range []string{"model", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "grid.toml")
	src := `[grid]
name = "t"
model = "model"
data_root = "data"

[[experiment]]
name = "g"
protocol = "base2new"
datasets = ["demo"]
[experiment.axes]
seed = [1, 2]

[[experiment]]
name = "src"
protocol = "train"
classes = "all"
datasets = ["demo"]

[[experiment]]
name = "x"
protocol = "transfer"
from = "src"
targets = ["demo_b"]

[slurm]
partition = "gpu"
time = "01:00:00"
throttle = 2
`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDryRunWritesNoScriptAndSubmitsNothing(t *testing.T) {
	dir := t.TempDir()
	f := newFakeCluster()
	var out bytes.Buffer
	m, err := Submit(context.Background(), writeGridFile(t, dir), SubmitOptions{DryRun: true, Out: &out, Cluster: f, Binary: "/opt/grid"})
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	if len(f.calls) != 0 {
		t.Errorf("a dry run called sbatch: %q", f.calls)
	}
	if _, err := os.Stat(Dir(m.Grid.RunDir)); err == nil {
		t.Error("a dry run created the submissions directory")
	}
	for _, want := range []string{"would submit 6 jobs", "#SBATCH --array=0-2%2", "#SBATCH --partition=gpu", "#SBATCH --time=01:00:00",
		"#SBATCH --signal=B:USR1@120", "'/opt/grid' __slurm-task", "EVAL_0=$(sbatch --parsable --dependency=aftercorr:$TRAIN_0 --kill-on-invalid-dep=yes --array=0-2%2",
		"--dependency=afterany:$TRAIN_0:$EVAL_0", "__slurm-merge"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSubmitAgainTakesOnlyWhatIsNeitherDoneNorQueued(t *testing.T) {
	dir := t.TempDir()
	grid := writeGridFile(t, dir)
	f := newFakeCluster()
	ctx := context.Background()
	m, err := Submit(ctx, grid, SubmitOptions{Cluster: f, Binary: "/opt/grid"})
	if err != nil || m == nil || m.Submission != "001" || len(m.Jobs) != 6 {
		t.Fatalf("first submission: %+v, %v", m, err)
	}
	want := []string{
		"--array=0-2%2 train.sbatch 0",
		"--dependency=aftercorr:101 --kill-on-invalid-dep=yes --array=0-2%2 eval.sbatch 0",
		"--dependency=afterany:101:102 merge.sbatch",
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sbatch calls:\n%s\nwant\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
	if st, err := os.Stat(m.Path()); err != nil || st.Mode().Perm()&0o222 != 0 {
		t.Errorf("manifest %v, mode %v: want it read-only", err, st.Mode())
	}
	back, err := ReadManifest(m.Path())
	if err != nil || len(back.Jobs) != 6 || len(back.Stages) != 3 {
		t.Fatalf("manifest read back: %+v, %v", back, err)
	}

	// Everything is queued: nothing to submit.
	var out bytes.Buffer
	if m, err := Submit(ctx, grid, SubmitOptions{Cluster: f, Out: &out}); m != nil || err != nil || !strings.Contains(out.String(), "6 queued") {
		t.Fatalf("second submission: %+v, %v, %s", m, err, out.String())
	}
	// The train array failed and its eval array was cancelled: its jobs go
	// again, and nothing else.
	f.state["101"], f.state["102"] = "FAILED", "CANCELLED"
	m, err = Submit(ctx, grid, SubmitOptions{Cluster: f, Binary: "/opt/grid"})
	if err != nil || m == nil || m.Submission != "002" || len(m.Jobs) != 6 {
		t.Fatalf("after the failure: %+v, %v", m, err)
	}
}

func TestSubmitStoppedHalfwayLeavesTheRestForTheNextSubmission(t *testing.T) {
	dir := t.TempDir()
	grid := writeGridFile(t, dir)
	f := newFakeCluster()
	f.failOn = "eval.sbatch"
	ctx := context.Background()
	if _, err := Submit(ctx, grid, SubmitOptions{Cluster: f, Binary: "/opt/grid"}); err == nil || !strings.Contains(err.Error(), "Invalid account") {
		t.Fatalf("sbatch failure: %v", err)
	}
	// The train array is queued; the evals are not: they go, after it.
	f.failOn = ""
	m, err := Submit(ctx, grid, SubmitOptions{Cluster: f, Binary: "/opt/grid"})
	if err != nil || m == nil || len(m.Jobs) != 3 {
		t.Fatalf("resubmission: %+v, %v", m, err)
	}
	for _, j := range m.Jobs {
		if j.Config.Kind != "eval" {
			t.Errorf("%s submitted again", j.Name)
		}
	}
	last := f.calls[len(f.calls)-2]
	if !strings.HasPrefix(last, "--dependency=afterany:101 --array=0-2%2 eval.sbatch 0") {
		t.Errorf("eval array submitted as %q: want it after the earlier train array 101", last)
	}
}
