package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/internal/testfs"
	"github.com/fomo-grid/grid/results"
)

// Faults the fake engine injects, for the tests of docs/reliability.md.
// envFault is "<fault>@<n>": the n-th train call of the test misbehaves.
const (
	envFault   = "GRID_TEST_FAULT"
	envFillDir = "GRID_TEST_FILL_DIR"     // the filesystem "fill-*" faults fill
	envWorkers = "GRID_TEST_WORKERS"      // the orchestrator role's workers (default 2)
	envBeatMS  = "GRID_TEST_HEARTBEAT_MS" // the orchestrator role's heartbeat
)

// orchestratorOptions are the options of the orchestrator role (TestMain).
func orchestratorOptions() Options {
	opts := Options{Workers: 2, Retries: 0, WorkerCommand: workerCommand}
	if n, err := strconv.Atoi(os.Getenv(envWorkers)); err == nil {
		opts.Workers = n
	}
	if ms, err := strconv.Atoi(os.Getenv(envBeatMS)); err == nil {
		opts.Liveness.Heartbeat = time.Duration(ms) * time.Millisecond
	}
	return opts
}

// fault misbehaves as envFault asks, when this is the train call it names:
//
//	fill-metrics     write the checkpoint, fill the disk, then report
//	                 400 steps of 4 KiB prompts (the metrics write fails)
//	fill-checkpoint  fill the disk, then write the checkpoint (ENOSPC)
//	stop             report two steps, then SIGSTOP this worker
//	hang             report two steps, then never return (heartbeats go on)
//	missing          fail with a missing file (bad input)
func (f fakeEngine) fault(ctx context.Context, s engine.TrainSpec, progress func(engine.Progress)) (engine.TrainResult, error, bool) {
	kind, at, _ := strings.Cut(os.Getenv(envFault), "@")
	n, _ := strconv.Atoi(at)
	log, _ := os.ReadFile(filepath.Join(f.dir, "calls.log"))
	trains := strings.Count("\n"+string(log), "\ntrain ")
	if kind == "" || trains != n {
		return engine.TrainResult{}, nil, false
	}
	step := func(i, steps int) {
		progress(engine.Progress{Epoch: 0, Epochs: 1, Step: i, Steps: steps, Loss: 1, LR: s.LR, Prompt: strings.Repeat("p", 4096)})
	}
	switch kind {
	case "fill-metrics":
		res, err := f.finish(s)
		fillDisk(os.Getenv(envFillDir))
		for i := 0; i < 400; i++ {
			step(i, 400)
		}
		return res, err, true
	case "fill-checkpoint":
		fillDisk(os.Getenv(envFillDir))
		res, err := f.finish(s)
		return res, err, true
	case "stop":
		step(0, 8)
		step(1, 8)
		os.WriteFile(filepath.Join(f.dir, "stopped.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		time.Sleep(50 * time.Millisecond) // the steps reach the orchestrator
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		select {}
	case "hang":
		for i := 0; i < 2; i++ {
			time.Sleep(20 * time.Millisecond)
			step(i, 8)
		}
		select {} // a hung GPU call: the context is not honoured
	case "missing":
		return engine.TrainResult{}, fmt.Errorf("fake engine: split file: %w", fs.ErrNotExist), true
	}
	return engine.TrainResult{}, fmt.Errorf("fake engine: unknown fault %q", kind), true
}

// fillDisk writes a ballast file until the filesystem is full.
func fillDisk(dir string) {
	f, err := os.OpenFile(filepath.Join(dir, "ballast"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<16)
	for {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
}

// Check implements engine.Checker: dataset demo_b has no split file, and
// an n_ctx above 70 does not fit the fake context.
func (f fakeEngine) Check(ctx context.Context, spec engine.InputSpec) error {
	switch {
	case spec.Data.Dataset == "demo_b":
		return &engine.InputError{Key: engine.KeyDataset, Err: fmt.Errorf("dataset demo_b: split file %s: %w", filepath.Join(spec.Data.Root, "demo_b", "split_zhou_DemoB.json"), fs.ErrNotExist)}
	case spec.NCtx > 70:
		return &engine.InputError{Key: engine.KeyNCtx, Err: fmt.Errorf("n_ctx = %d and the class names need more than the 77 tokens of the context", spec.NCtx)}
	}
	return nil
}

// writeGridText writes a grid file and the (empty) model and data folders
// the fake engine is given.
func writeGridText(t *testing.T, dir, src string) string {
	t.Helper()
	p := filepath.Join(dir, "grid.toml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"model", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// gridSource is a base2new grid of seeds 1..cells (2 jobs a cell); out ""
// leaves the run directory at its default.
func gridSource(out string, cells, retries int, extra string) string {
	seeds := make([]string, cells)
	for i := range seeds {
		seeds[i] = strconv.Itoa(i + 1)
	}
	if out != "" {
		out = fmt.Sprintf("out = %q\n", out)
	}
	return fmt.Sprintf(`[grid]
name = "t"
%smodel = "model"
data_root = "data"
retries = %d
%s
[defaults]
epochs = 2

[[experiment]]
name = "g"
protocol = "base2new"
datasets = ["demo"]
[experiment.axes]
seed = [%s]
`, out, retries, extra, strings.Join(seeds, ", "))
}

// checkDB opens a run's database and checks it is sound: integrity and
// foreign keys, and no job left running. It returns the jobs by state.
func checkDB(t *testing.T, runDir string) map[results.JobState][]results.Job {
	t.Helper()
	db, err := results.Open(filepath.Join(runDir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
	g, err := db.GridByName("t")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Jobs(g.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[results.JobState][]results.Job{}
	for _, r := range rows {
		out[r.State] = append(out[r.State], r)
	}
	if len(out[results.StateRunning]) > 0 {
		t.Errorf("jobs left running: %+v", out[results.StateRunning])
	}
	return out
}

// runAsProcess runs a grid file the way a user does, in its own process,
// and returns the exit status and what it printed.
func runAsProcess(t *testing.T, grid string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), envOrch+"="+grid), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// A disk that fills up mid-run (another program writes it full) stops the
// run with the reason, whether the database write or the worker's
// checkpoint write meets it first. Nothing is counted as failed, no job is
// left running, the database is sound, and once space is freed the next
// run finishes the grid without redoing finished jobs.
func TestFullDiskStopsTheRunAndRecovers(t *testing.T) {
	for _, fault := range []string{"fill-metrics", "fill-checkpoint"} {
		t.Run(fault, func(t *testing.T) {
			dir := t.TempDir()
			setEnv(t, dir)
			small := testfs.Small(t, 16<<20)
			runDir := filepath.Join(small, "run")
			g := writeGridText(t, dir, gridSource(runDir, 3, 1, ""))

			code, out := runAsProcess(t, g, envFault+"="+fault+"@2", envFillDir+"="+small, envWorkers+"=1")
			if code != 1 || !strings.Contains(out, "the run stopped") || !strings.Contains(out, "is full: free disk space") {
				t.Fatalf("run on a disk that fills up: exit %d, output:\n%s", code, out)
			}
			t.Logf("the stop: %s", out)
			byState := checkDB(t, runDir)
			if len(byState[results.StateFailed]) != 0 || len(byState[results.StateDone]) < 1 {
				t.Fatalf("after the stop: %d failed, %d done; want none failed, the first cell's train job done", len(byState[results.StateFailed]), len(byState[results.StateDone]))
			}
			stopped := 0
			for _, j := range byState[results.StatePending] {
				if strings.HasPrefix(j.Error, "stopped: ") && (strings.Contains(j.Error, "disk is full") || strings.Contains(j.Error, "no space left on device")) {
					stopped++
				}
			}
			if stopped != 1 {
				t.Errorf("want one pending job whose error says why the run stopped; pending: %+v", byState[results.StatePending])
			}
			doneBefore := len(byState[results.StateDone])

			// Still full: the next run refuses before touching anything.
			code, out = runAsProcess(t, g, envWorkers+"=1")
			if code != 1 || !strings.Contains(out, "KiB free (no space left on device): free some space") {
				t.Fatalf("run on a full disk: exit %d, output:\n%s", code, out)
			}
			t.Logf("the refusal: %s", out)
			if n := len(checkDB(t, runDir)[results.StateDone]); n != doneBefore {
				t.Fatalf("%d jobs done after a refused run, %d before", n, doneBefore)
			}

			if err := os.Remove(filepath.Join(small, "ballast")); err != nil {
				t.Fatal(err)
			}
			trainsBefore := countCalls(t, dir, "train ")
			if code, out := runAsProcess(t, g, envWorkers+"=1"); code != 0 {
				t.Fatalf("run after freeing space: exit %d\n%s", code, out)
			}
			byState = checkDB(t, runDir)
			if len(byState[results.StateDone]) != 6 {
				t.Fatalf("%d jobs done after recovery, want 6", len(byState[results.StateDone]))
			}
			if n := countCalls(t, dir, "train ") - trainsBefore; n != 2 {
				t.Errorf("recovery trained %d jobs, want the 2 not finished before", n)
			}
		})
	}
}

func countCalls(t *testing.T, dir, prefix string) int {
	n := 0
	for _, c := range calls(t, dir) {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// fastLiveness makes stuck workers show within a second.
var fastLiveness = Liveness{Heartbeat: 50 * time.Millisecond, Silence: time.Second, Slack: 300 * time.Millisecond}

// A worker stopped with SIGSTOP (a hung GPU, an NFS stall) stops beating;
// it is killed and its attempt fails with the reason, and the next attempt
// (or run) finishes the job.
func TestStoppedWorkerIsKilledAndTheAttemptFails(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	t.Setenv(envFault, "stop@1")
	runDir := filepath.Join(dir, "run")
	g := writeGridText(t, dir, gridSource(runDir, 2, 0, ""))
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A large slack: only the silence may end the stopped job.
	quiet := Liveness{Heartbeat: fastLiveness.Heartbeat, Silence: fastLiveness.Silence, Slack: time.Hour}
	sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand, Liveness: quiet})
	if err != nil || sum.Failed != 1 || sum.Blocked != 1 || sum.Done != 2 {
		t.Fatalf("run with a stopped worker: %+v, %v; want its job failed, its eval blocked, the other cell done", sum, err)
	}
	failed := checkDB(t, runDir)[results.StateFailed]
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "sent nothing for") || !strings.Contains(failed[0].Error, "(stopped or hung): killed") {
		t.Fatalf("failed jobs %+v: want the stopped worker's job, with the reason", failed)
	}
	pid, _ := strconv.Atoi(readFile(t, filepath.Join(dir, "stopped.pid")))
	if pid == 0 || syscall.Kill(pid, 0) == nil {
		t.Errorf("the stopped worker (pid %d) is still there", pid)
	}
	t.Logf("reason: %s", failed[0].Error)
	t.Setenv(envFault, "")
	sum, err = s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand, Liveness: quiet})
	if err != nil || sum.Err() != nil || sum.Done != 2 {
		t.Fatalf("next run: %+v %v", sum, err)
	}
	if n := len(checkDB(t, runDir)[results.StateDone]); n != 4 {
		t.Fatalf("%d jobs done, want 4", n)
	}
}

// An engine that hangs while its process lives (heartbeats go on) is
// caught by the job's time limit: job_timeout from the grid file, or,
// without one, a limit derived from the measured step time.
func TestHungEngineIsKilledAtItsTimeLimit(t *testing.T) {
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"job_timeout", `job_timeout = "1s"`, "(limit: job_timeout 1s): killed"},
		{"derived", "", "× the projected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			setEnv(t, dir)
			t.Setenv(envFault, "hang@1")
			runDir := filepath.Join(dir, "run")
			g := writeGridText(t, dir, gridSource(runDir, 1, 0, tc.extra))
			s, err := Load(g)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand, Liveness: fastLiveness})
			if err != nil || sum.Failed != 1 {
				t.Fatalf("run with a hung engine: %+v, %v", sum, err)
			}
			failed := checkDB(t, runDir)[results.StateFailed]
			if len(failed) != 1 || !strings.HasPrefix(failed[0].Error, "timed out after") || !strings.Contains(failed[0].Error, tc.want) {
				t.Fatalf("failed jobs %+v: want a time-out naming %q", failed, tc.want)
			}
			t.Logf("reason: %s", failed[0].Error)
		})
	}
}

// `grid status` shows how long a running job has run and when it last
// reported; once the run that ran it is gone (SIGKILL), the job is marked
// orphaned, and the next run puts it back to pending and finishes it.
func TestStatusShowsAgeAndOrphanedJobs(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	t.Setenv(envStep, "150")
	runDir := filepath.Join(dir, "run")
	g := writeGridText(t, dir, gridSource(runDir, 2, 0, ""))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envOrch+"="+g, envWorkers+"=1", envBeatMS+"=50")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var running StatusRow
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && (running.LastReport == nil || running.Seconds < 0.3) {
		time.Sleep(50 * time.Millisecond)
		rows, err := Status(g)
		if err != nil {
			continue // the database may not exist yet
		}
		for _, r := range rows {
			if r.State == "running" {
				running = r
			}
		}
	}
	if running.LastReport == nil || running.Orphaned || time.Since(*running.LastReport) > 5*time.Second {
		t.Fatalf("status of the running job: %+v; want its age, a recent report, not orphaned", running)
	}
	cmd.Process.Kill()
	cmd.Wait()
	rows, err := Status(g)
	if err != nil {
		t.Fatal(err)
	}
	orphans := 0
	for _, r := range rows {
		if r.State == "running" && r.Orphaned {
			orphans++
		}
	}
	if orphans != 1 {
		t.Fatalf("after the run was killed: %d orphaned jobs, want 1: %+v", orphans, rows)
	}
	t.Setenv(envStep, "0")
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand}); err != nil || sum.Err() != nil {
		t.Fatalf("next run: %+v %v", sum, err)
	}
	if n := len(checkDB(t, runDir)[results.StateDone]); n != 4 {
		t.Fatalf("%d jobs done, want 4", n)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A train job whose checkpoint was deleted is stale; `--redo stale` runs it
// again and then its dependents, in DAG order, and nothing else; `--redo`
// of a job name does the same for that job. A plain run leaves stale jobs
// alone.
func TestRedoRerunsJobsAndTheirDependents(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	runDir := filepath.Join(dir, "run")
	g := writeGridText(t, dir, gridSource(runDir, 3, 0, ""))
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := func(redo ...string) Summary {
		t.Helper()
		sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand, Redo: redo})
		if err != nil || sum.Err() != nil {
			t.Fatalf("run --redo %v: %+v %v", redo, sum, err)
		}
		return sum
	}
	run()
	train := s.Grid.Jobs[0] // g/demo/seed=1/train; Jobs[1] is its eval
	if err := os.Remove(s.CheckpointPath(train.ID)); err != nil {
		t.Fatal(err)
	}
	rows, err := Plan(g)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].State != PlanStale || !strings.Contains(rows[0].Reason, "checkpoint missing") {
		t.Fatalf("plan of the train job without its checkpoint: %+v", rows[0])
	}
	before := len(calls(t, dir))
	if sum := run(); sum.Done != 0 || len(calls(t, dir)) != before {
		t.Fatalf("a plain run redid jobs: %+v", sum)
	}
	if sum := run(RedoStale); sum.Done != 2 {
		t.Fatalf("--redo stale ran %d jobs, want the train job and its eval", sum.Done)
	}
	got := calls(t, dir)[before:]
	ckpt := absPath(s.CheckpointPath(train.ID))
	if len(got) != 2 || got[0] != "train "+ckpt || got[1] != "eval "+ckpt+" new" {
		t.Fatalf("--redo stale called %q; want the train job, then its eval", got)
	}
	if sum := run(s.Grid.Jobs[2].Name); sum.Done != 2 {
		t.Fatalf("--redo %s ran %d jobs, want 2", s.Grid.Jobs[2].Name, sum.Done)
	}
	byState := checkDB(t, runDir)
	if len(byState[results.StateDone]) != 6 {
		t.Fatalf("states after redo: %v", byState)
	}
	for _, j := range byState[results.StateDone] {
		if j.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1 (a redo starts a fresh set)", j.Name, j.Attempts)
		}
	}
	if _, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand, Redo: []string{"nosuchjob"}}); err == nil ||
		!strings.Contains(err.Error(), "--redo nosuchjob: no job of") {
		t.Fatalf("--redo of an unknown job: %v", err)
	}
}

// A done train job whose checkpoint is gone while a job that reads it still
// has to run is run again first, even with retries = 0; it used to be
// turned failed ("cannot start job: it is done, not pending").
func TestMissingCheckpointOfANeededJobIsRebuiltNotFailed(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	runDir := filepath.Join(dir, "run")
	g := writeGridText(t, dir, gridSource(runDir, 1, 0, ""))
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand}); err != nil || sum.Err() != nil {
		t.Fatal(sum, err)
	}
	train, eval := s.Grid.Jobs[0], s.Grid.Jobs[1]
	os.Remove(s.CheckpointPath(train.ID))
	if err := s.DB.Redo([]string{eval.ID}); err != nil { // as if a new transfer needed the checkpoint
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil || sum.Done != 2 {
		t.Fatalf("run: %+v %v; want the train job rebuilt, then its eval", sum, err)
	}
	if n := len(checkDB(t, runDir)[results.StateDone]); n != 2 {
		t.Fatalf("%d jobs done, want 2", n)
	}
}

// A failure that cannot pass on a retry (bad input: a missing file) is
// final at once; a crash is retried (TestWorkerKilledMidJobIsRetried).
func TestBadInputIsNotRetried(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	t.Setenv(envFault, "missing@1")
	runDir := filepath.Join(dir, "run")
	g := writeGridText(t, dir, gridSource(runDir, 1, 2, ""))
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 1, Retries: -1, WorkerCommand: workerCommand})
	if err != nil || sum.Failed != 1 || sum.Blocked != 1 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	failed := checkDB(t, runDir)[results.StateFailed]
	if len(failed) != 1 || failed[0].Attempts != 1 || !strings.HasSuffix(failed[0].Error, "(not retried: bad input)") {
		t.Fatalf("failed: %+v; want one attempt, marked not retried", failed)
	}
	if n := countCalls(t, dir, "train "); n != 1 {
		t.Errorf("the engine trained %d times, want 1", n)
	}
}

// Everything that can be checked is checked before the first write, and
// every problem is named with file, line and key: a missing data root, a
// dataset without its split file and an n_ctx too long for the context,
// found by the worker's engine; a second runner on the same directory. None
// of them leaves a database (or a run directory) behind. `grid plan` runs
// the same check (Check).
func TestChecksComeBeforeTheFirstWrite(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	runDir := filepath.Join(dir, "run")
	src := gridSource(runDir, 1, 0, "")
	bad := strings.Replace(src, `data_root = "data"`, `data_root = "nodata_root"`, 1)
	g := writeGridText(t, dir, bad)
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
	if err == nil || !strings.Contains(err.Error(), "grid.toml:5: grid.data_root: stat ") {
		t.Fatalf("missing data root: %v", err)
	}
	assertNothingWritten(t, runDir)

	bad = strings.Replace(src, `datasets = ["demo"]`, `datasets = ["demo", "demo_b"]`, 1)
	bad = strings.Replace(bad, "seed = [1]", "seed = [1]\nn_ctx = [2, 80]", 1)
	g = writeGridText(t, dir, bad)
	for _, check := range []func() error{
		func() error { return Check(context.Background(), g, Options{WorkerCommand: workerCommand}) },
		func() error {
			s, err := Load(g)
			if err != nil {
				return err
			}
			_, err = s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand})
			return err
		},
	} {
		err := check()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`grid.toml:%d: experiment "g": datasets: dataset demo_b: split file`, lineOf(bad, "datasets ="))) ||
			!strings.Contains(err.Error(), fmt.Sprintf(`grid.toml:%d: experiment "g": axes.n_ctx: n_ctx = 80 and the class names need more`, lineOf(bad, "n_ctx ="))) {
			t.Fatalf("engine-checked problems: %v", err)
		}
		assertNothingWritten(t, runDir)
	}
	t.Logf("problems: %v", check(t, g))

	g = writeGridText(t, dir, src)
	unlock, err := lockRunDir(runDir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	s, err = Load(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), Options{Workers: 1, WorkerCommand: workerCommand}); err == nil || !strings.Contains(err.Error(), "another `grid run` is working on") {
		t.Fatalf("second runner: %v", err)
	}
	if _, err := os.Stat(filepath.Join(runDir, DBFile)); err == nil {
		t.Fatal("a refused second runner created the database")
	}
	if len(calls(t, dir)) != 0 {
		t.Fatal("jobs ran")
	}
}

func check(t *testing.T, g string) error {
	return Check(context.Background(), g, Options{WorkerCommand: workerCommand})
}

// lineOf is the 1-based line of src that starts with prefix.
func lineOf(src, prefix string) int {
	for i, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, prefix) {
			return i + 1
		}
	}
	return 0
}

func assertNothingWritten(t *testing.T, runDir string) {
	t.Helper()
	if _, err := os.Stat(runDir); err == nil {
		t.Fatalf("a refused run left %s behind", runDir)
	}
}

// A changed grid is recorded part by part while its first jobs run: every
// job runs once its part is recorded, the links and the digest are whole at
// the end, and a second run records nothing and runs nothing.
func TestGridRecordedInPartsWhileJobsRun(t *testing.T) {
	saved := recordPart
	recordPart = 3
	defer func() { recordPart = saved }()
	dir := t.TempDir()
	setEnv(t, dir)
	runDir := filepath.Join(dir, "run")
	g := writeGridText(t, dir, gridSource(runDir, 7, 0, ""))
	s, err := Load(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil || sum.Done != 14 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	if n := len(checkDB(t, runDir)[results.StateDone]); n != 14 {
		t.Fatalf("%d jobs done, want 14", n)
	}
	if _, unchanged, err := s.unchanged(); err != nil || !unchanged {
		t.Fatalf("after the run the grid is not recorded whole (digest): %v", err)
	}
	sum, err = s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Done != 0 || sum.Skipped != 14 {
		t.Fatalf("second run: %+v %v", sum, err)
	}
}
