package orchestrator

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/worker"
)

// The test binary plays three roles, chosen by environment variables: the
// tests themselves, a worker serving fakeEngine, and (for the kill test) an
// orchestrator process the test can SIGKILL.
const (
	envWorker = "GRID_TEST_WORKER"    // serve fakeEngine
	envOrch   = "GRID_TEST_ORCH_GRID" // run this grid file as an orchestrator
	envDir    = "GRID_TEST_DIR"       // where the fake engine logs and leaves markers
	envCrash  = "GRID_TEST_CRASH"     // "once": the first train job kills its worker mid-job
	envStep   = "GRID_TEST_STEP_MS"   // sleep per fake training step
)

func TestMain(m *testing.M) {
	if os.Getenv(envWorker) != "" {
		worker.ServeEngine(fakeEngine{dir: os.Getenv(envDir)})
	}
	if g := os.Getenv(envOrch); g != "" {
		s, err := Open(g)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sum, err := s.Run(context.Background(), orchestratorOptions())
		if err != nil || sum.Err() != nil {
			fmt.Fprintln(os.Stderr, err, sum.Err())
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func workerCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envWorker+"=1")
	return cmd
}

// fakeEngine trains nothing: it streams a few progress events, writes a
// checkpoint file and logs every call, so tests can count how often each job
// really ran.
type fakeEngine struct{ dir string }

func (f fakeEngine) log(line string) {
	fh, err := os.OpenFile(filepath.Join(f.dir, "calls.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	fmt.Fprintln(fh, line)
	fh.Close()
}

func (f fakeEngine) Train(ctx context.Context, s engine.TrainSpec, progress func(engine.Progress)) (engine.TrainResult, error) {
	f.log("train " + s.Checkpoint)
	if res, err, faulty := f.fault(ctx, s, progress); faulty { // reliability_test.go
		return res, err
	}
	f.logGPU("start", s.Checkpoint)
	defer f.logGPU("end", s.Checkpoint)
	step, _ := strconv.Atoi(os.Getenv(envStep))
	crash := os.Getenv(envCrash) == "once"
	if crash {
		marker := filepath.Join(f.dir, "crashed")
		if _, err := os.Stat(marker); err == nil {
			crash = false
		} else {
			os.WriteFile(marker, nil, 0o644)
		}
	}
	steps := 4 * s.Epochs
	for i := 0; i < steps; i++ {
		if err := ctx.Err(); err != nil {
			return engine.TrainResult{}, err
		}
		time.Sleep(time.Duration(step) * time.Millisecond)
		progress(engine.Progress{Epoch: i / 4, Epochs: s.Epochs, Step: i, Steps: steps, Loss: 1 / float64(i+1), LR: s.LR, TokenIDs: []int{1}, Prompt: "fake"})
		if crash && i == 1 {
			time.Sleep(50 * time.Millisecond) // let the progress reach the orchestrator
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	return f.finish(s)
}

// finish writes the checkpoint and returns a fixed result.
func (f fakeEngine) finish(s engine.TrainSpec) (engine.TrainResult, error) {
	if err := os.WriteFile(s.Checkpoint, []byte("ckpt "+s.Data.Dataset), 0o644); err != nil {
		return engine.TrainResult{}, err
	}
	return engine.TrainResult{TokenIDs: []int{1}, Prompt: "fake", Checkpoint: s.Checkpoint,
		Test: engine.Evaluation{Total: 10, Correct: 7, Accuracy: 70, MacroF1: 65}}, nil
}

func (f fakeEngine) Evaluate(ctx context.Context, s engine.EvalSpec) (engine.Evaluation, error) {
	if s.Checkpoint == "" {
		f.log("zeroshot " + s.Data.Dataset + " " + string(s.Data.Classes) + " " + s.Prompt)
		return engine.Evaluation{Total: 10, Correct: 5, Accuracy: 50, MacroF1: 45}, nil
	}
	f.log("eval " + s.Checkpoint + " " + string(s.Data.Classes))
	if _, err := os.Stat(s.Checkpoint); err != nil {
		return engine.Evaluation{}, err
	}
	return engine.Evaluation{Total: 10, Correct: 6, Accuracy: 60, MacroF1: 55}, nil
}

// writeGrid writes a grid file of `cells` base2new cells (2 jobs each).
func writeGrid(t *testing.T, dir string, cells, retries int) string {
	t.Helper()
	return writeGridText(t, dir, gridSource("", cells, retries, ""))
}

func calls(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "calls.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func setEnv(t *testing.T, dir string) {
	t.Setenv(envDir, dir)
	t.Setenv(envCrash, "")
	t.Setenv(envStep, "0")
}

func jobsByState(t *testing.T, s *Session) map[results.JobState][]results.Job {
	t.Helper()
	rows, err := s.DB.Jobs(s.GridID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[results.JobState][]results.Job{}
	for _, r := range rows {
		out[r.State] = append(out[r.State], r)
	}
	return out
}

func TestRunAllJobsThenNothingTwice(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	g := writeGrid(t, dir, 3, 0)
	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil {
		t.Fatal(err, sum.Err())
	}
	if sum.Done != 6 || sum.Total != 6 {
		t.Fatalf("summary %+v, want 6 done of 6", sum)
	}
	byState := jobsByState(t, s)
	if len(byState[results.StateDone]) != 6 {
		t.Fatalf("states %v", byState)
	}
	for _, j := range byState[results.StateDone] {
		evs, _ := s.DB.Evaluations(j.ID)
		if len(evs) != 1 {
			t.Errorf("%s: %d evaluations", j.Name, len(evs))
		}
		if j.Kind == "train" {
			ms, _ := s.DB.Metrics(j.ID)
			if len(ms) != 8 {
				t.Errorf("%s: %d metric rows, want 8", j.Name, len(ms))
			}
			if evs[0].Split != "base" {
				t.Errorf("%s: split %q", j.Name, evs[0].Split)
			}
		} else {
			if evs[0].Split != "new" {
				t.Errorf("%s: split %q", j.Name, evs[0].Split)
			}
			// The fake engine tests base at 70% and new at 60%.
			if want := 2 * 70.0 * 60 / 130; j.HarmonicMean == nil || *j.HarmonicMean < want-1e-9 || *j.HarmonicMean > want+1e-9 {
				t.Errorf("%s: stored harmonic mean %v, want %v", j.Name, j.HarmonicMean, want)
			}
		}
	}
	// Every eval ran after its train job wrote the checkpoint.
	first := calls(t, dir)
	if len(first) != 6 {
		t.Fatalf("engine calls %v", first)
	}
	// A second run finds everything done and runs nothing.
	sum, err = s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Done != 0 || sum.Skipped != 6 {
		t.Fatalf("second run: %+v %v", sum, err)
	}
	if got := calls(t, dir); len(got) != 6 {
		t.Fatalf("second run called the engine: %v", got[6:])
	}
	rows, err := Plan(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.State != PlanDone {
			t.Errorf("plan: %s is %s", r.Name, r.State)
		}
	}
}

func TestWorkerKilledMidJobIsRetried(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	t.Setenv(envCrash, "once")
	g := writeGrid(t, dir, 2, 1)
	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 1, Retries: -1, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil {
		t.Fatalf("run: %v %v %+v", err, sum.Err(), sum)
	}
	tries := map[int]int{}
	for _, j := range jobsByState(t, s)[results.StateDone] {
		tries[j.Attempts]++
	}
	if tries[2] != 1 || tries[1] != 3 {
		t.Fatalf("attempt counts %v: want one job with 2 attempts, three with 1", tries)
	}
}

func TestWorkerKilledWithoutRetriesFailsOnlyItsJob(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	t.Setenv(envCrash, "once")
	g := writeGrid(t, dir, 2, 0)
	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Blocked != 1 || sum.Done != 2 || sum.Err() == nil {
		t.Fatalf("summary %+v: want 1 failed, its eval blocked, the other cell done", sum)
	}
	failed := jobsByState(t, s)[results.StateFailed]
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "worker died") {
		t.Fatalf("failed jobs %+v: want one with the worker's death as reason", failed)
	}
	// The next run gives the failed job a new attempt and finishes the grid.
	sum, err = s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil || sum.Done != 2 {
		t.Fatalf("second run: %+v %v", sum, err)
	}
}

func TestKilledOrchestratorResumesWithoutRerunningFinishedJobs(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	t.Setenv(envStep, "60")
	g := writeGrid(t, dir, 4, 0)

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envOrch+"="+g)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "runs", "t", DBFile)
	deadline := time.Now().Add(60 * time.Second)
	var doneBefore []results.Job
	var workerPIDs []int
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(dbPath); err != nil {
			continue
		}
		db, err := results.Open(dbPath)
		if err != nil {
			continue
		}
		g, err := db.GridByName("t")
		if err == nil {
			rows, _ := db.Jobs(g.ID)
			doneBefore = doneBefore[:0]
			workerPIDs = workerPIDs[:0]
			for _, r := range rows {
				if r.State == results.StateDone {
					doneBefore = append(doneBefore, r)
				}
				if r.State == results.StateRunning {
					if f := strings.Fields(r.Worker); len(f) == 3 {
						pid, _ := strconv.Atoi(f[2])
						workerPIDs = append(workerPIDs, pid)
					}
				}
			}
		}
		db.Close()
		if len(doneBefore) >= 3 && len(workerPIDs) > 0 {
			break
		}
	}
	if len(doneBefore) < 3 || len(workerPIDs) == 0 {
		cmd.Process.Kill()
		t.Fatalf("orchestrator never reached 3 done jobs with one running (done %d)", len(doneBefore))
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// Its workers die with it (death signal), not orphaned.
	for _, pid := range workerPIDs {
		gone := false
		for i := 0; i < 50 && !gone; i++ {
			gone = syscall.Kill(pid, 0) != nil
			time.Sleep(50 * time.Millisecond)
		}
		if !gone {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("worker %d outlived its killed orchestrator", pid)
		}
	}

	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil {
		t.Fatalf("resume: %v %v", err, sum.Err())
	}
	if sum.Skipped < len(doneBefore) || sum.Done+sum.Skipped != 8 {
		t.Fatalf("resume summary %+v, %d were done before the kill", sum, len(doneBefore))
	}
	// Jobs finished before the kill were never run again.
	count := map[string]int{}
	for _, c := range calls(t, dir) {
		count[c]++
	}
	for _, j := range doneBefore {
		after, _ := s.DB.Job(j.ID)
		if after.Attempts != 1 {
			t.Errorf("%s: %d attempts after resume, want 1", j.Name, after.Attempts)
		}
		if j.Kind == "train" {
			key := "train " + s.CheckpointPath(j.ID)
			if abs, err := filepath.Abs(s.CheckpointPath(j.ID)); err == nil {
				key = "train " + abs
			}
			if count[key] != 1 {
				t.Errorf("%s trained %d times", j.Name, count[key])
			}
		}
	}
	for _, j := range jobsByState(t, s)[results.StateDone] {
		_ = j
	}
	if n := len(jobsByState(t, s)[results.StateDone]); n != 8 {
		t.Fatalf("%d jobs done after resume, want 8", n)
	}
}

func TestMissingModelDirectoryFailsBeforeAnyJob(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	g := writeGrid(t, dir, 1, 0)
	os.Remove(filepath.Join(dir, "model"))
	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
	if err == nil || !strings.Contains(err.Error(), "grid.toml:3: grid.model: stat") {
		t.Fatalf("run with a missing model directory: %v", err)
	}
	if len(calls(t, dir)) != 0 {
		t.Fatal("jobs ran without their model directory")
	}
}

func TestSecondRunOnSameDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := lockRunDir(dir); err == nil || !strings.Contains(err.Error(), "another `grid run`") {
		t.Fatalf("second lock: %v", err)
	}
}

// A zeroshot experiment's jobs reach the engine as evaluations of the
// template, with no checkpoint and nothing to wait for.
func TestZeroShotJobsEvaluateTheTemplate(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	g := writeGrid(t, dir, 1, 0)
	src, err := os.ReadFile(g)
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, "[[experiment]]\nname = \"zs\"\nprotocol = \"zeroshot\"\ndatasets = [\"dtd\"]\n"...)
	if err := os.WriteFile(g, src, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil || sum.Done != 4 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	var zs []string
	for _, c := range calls(t, dir) {
		if strings.HasPrefix(c, "zeroshot ") {
			zs = append(zs, c)
		}
	}
	sort.Strings(zs)
	want := []string{"zeroshot dtd base {} texture.", "zeroshot dtd new {} texture."}
	if !reflect.DeepEqual(zs, want) {
		t.Errorf("zero-shot engine calls %q, want %q", zs, want)
	}
	for _, j := range jobsByState(t, s)[results.StateDone] {
		if j.Name == "zs/dtd/new" && j.HarmonicMean != nil {
			t.Errorf("%s: a zero-shot job has no train job to complete a harmonic mean with, stored %v", j.Name, *j.HarmonicMean)
		}
	}
}
