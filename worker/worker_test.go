package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/internal/study"
	"github.com/hashicorp/go-hclog"
)

func TestMain(m *testing.M) {
	switch os.Getenv(testModeEnv) {
	case "worker":
		ServeEngine(newFakeEngine())
	case "measured-worker":
		ServeEngine(&measuredEngine{fakeEngine: newFakeEngine()})
	case "host":
		hostMain()
	}
	// Adopt orphans: a process left behind by a dead worker or host becomes
	// our child, so a test can see how it ended, and reap it.
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", errno)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// hostMain plays an orchestrator that owns one busy worker: it prints
// "busy <worker pid>" once the worker runs a job, then waits to be killed.
func hostMain() {
	c, err := Start(context.Background(), Options{
		Env:    []string{testModeEnv + "=worker"},
		Logger: hclog.NewNullLogger(),
	})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	var once sync.Once
	_, err = c.Run(context.Background(), Task{JobID: "host", Kind: study.KindTrain, Dataset: "hang"}, func(Progress) {
		once.Do(func() { fmt.Printf("busy %d\n", c.PID()) })
	})
	fmt.Println("run returned:", err)
	os.Exit(1)
}

func testLogger() hclog.Logger {
	if testing.Verbose() {
		return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: os.Stderr})
	}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Off})
}

// startWorker starts a fake-engine worker that is killed when the test ends.
// Call expectNoChildren first so that its check runs after this cleanup.
func startWorker(t *testing.T) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Env: []string{testModeEnv + "=worker"}, Logger: testLogger()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(c.Kill)
	return c
}

// expectNoChildren fails the test if any process started by this test
// process is still around (running or unreaped) when the test ends.
func expectNoChildren(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			children := childProcesses(t)
			if len(children) == 0 {
				return
			}
			if time.Now().After(deadline) {
				for _, pid := range children {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Fatalf("processes left behind: %v", children)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func childProcesses(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var children []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			children = append(children, pid)
		}
	}
	return children
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func runCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readSpec(t *testing.T, dir string, spec any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		t.Fatalf("the engine did not record its spec: %v", err)
	}
	if err := json.Unmarshal(data, spec); err != nil {
		t.Fatal(err)
	}
}

func trainTask(model string, dataset string) Task {
	return Task{
		JobID: "job-1", Kind: study.KindTrain, Model: model, DataRoot: "/data", Dataset: dataset,
		Classes: study.ClassesBase, Shots: 16, Seed: 3, NCtx: 4, WeightStd: 0.02, Epochs: 5,
		LR: 0.002, WarmupLR: 1e-5, WarmupEpochs: 1, Momentum: 0.9, WeightDecay: 5e-4,
		BatchSize: 32, Variant: "noselect", CheckpointOut: "/ckpt/job-1.ckpt",
	}
}

func TestTrainStreamsProgressInOrderAndReturnsResult(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	model := t.TempDir()

	var got []Progress
	result, err := c.Run(runCtx(t), trainTask(model, "ok"), func(p Progress) { got = append(got, p) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	if len(got) != 5 {
		t.Fatalf("got %d progress events, want 5: %+v", len(got), got)
	}
	for i, p := range got {
		want := Progress{Epoch: i, Epochs: 5, Step: i, Steps: 5, Loss: 1 / float64(i+1), BatchLoss: 2 / float64(i+1),
			LR: 0.002 * float64(i+1), TokenIDs: []int{i, i + 1}, Prompt: fmt.Sprintf("step %d", i)}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("progress %d = %+v, want %+v", i, p, want)
		}
	}
	want := Result{
		Evaluations: []Evaluation{{Split: "base", Dataset: "ok", Total: 50, Correct: 21, Accuracy: 42, MacroF1: 40.5}},
		TokenIDs:    []int{1, 1, 0}, // engine #1, its job #1, no cancellations
		Prompt:      "learned prompt",
		Checkpoint:  "/ckpt/job-1.ckpt",
	}
	if !reflect.DeepEqual(result, want) {
		t.Errorf("result = %+v, want %+v", result, want)
	}

	var spec engine.TrainSpec
	readSpec(t, model, &spec)
	wantSpec := engine.TrainSpec{
		Model: model,
		Data:  engine.DataSpec{Dataset: "ok", Root: "/data", Classes: "base", Shots: 16, Seed: 3},
		NCtx:  4, WeightStd: 0.02, Epochs: 5, LR: 0.002, WarmupLR: 1e-5, WarmupEpochs: 1,
		Momentum: 0.9, WeightDecay: 5e-4, BatchSize: 32,
		Variant:    engine.Variant{NoSelect: true},
		Checkpoint: "/ckpt/job-1.ckpt",
	}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Errorf("engine got %+v\nwant %+v", spec, wantSpec)
	}
}

func TestEvalMapsTaskAndReportsSplit(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	model := t.TempDir()
	task := Task{JobID: "job-2", Kind: study.KindEval, Model: model, DataRoot: "/data", Dataset: "ok",
		Classes: study.ClassesNew, Shots: 16, Seed: 2, Variant: "noshared", CheckpointIn: "/ckpt/job-1.ckpt"}

	result, err := c.Run(runCtx(t), task, func(p Progress) { t.Errorf("unexpected progress %+v", p) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := Result{Evaluations: []Evaluation{{Split: "new", Dataset: "ok", Total: 30, Correct: 27, Accuracy: 90, MacroF1: 88.25}}}
	if !reflect.DeepEqual(result, want) {
		t.Errorf("result = %+v, want %+v", result, want)
	}
	var spec engine.EvalSpec
	readSpec(t, model, &spec)
	wantSpec := engine.EvalSpec{
		Model:      model,
		Data:       engine.DataSpec{Dataset: "ok", Root: "/data", Classes: "new", Shots: 16, Seed: 2},
		Checkpoint: "/ckpt/job-1.ckpt",
		Variant:    engine.Variant{NoShared: true},
	}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Errorf("engine got %+v\nwant %+v", spec, wantSpec)
	}
}

func TestEvalCarriesPromptAndLogitsFile(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	model := t.TempDir()
	task := Task{JobID: "job-3", Kind: study.KindEval, Model: model, DataRoot: "/data", Dataset: "ok",
		Classes: study.ClassesAll, Prompt: "a blurry photo of a", LogitsFile: "/out/logits.csv"}
	if _, err := c.Run(runCtx(t), task, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var spec engine.EvalSpec
	readSpec(t, model, &spec)
	wantSpec := engine.EvalSpec{
		Model:      model,
		Data:       engine.DataSpec{Dataset: "ok", Root: "/data", Classes: "all"},
		Prompt:     "a blurry photo of a",
		LogitsFile: "/out/logits.csv",
	}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Errorf("engine got %+v\nwant %+v", spec, wantSpec)
	}
}

// A task without the optional fields encodes exactly as it did before they
// existed, which is why adding them kept ProtocolVersion.
func TestOptionalTaskFieldsStayOffTheWire(t *testing.T) {
	data, err := jsonCodec{}.Marshal(&Task{JobID: "j", Kind: study.KindEval})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"prompt"`, `"logits_file"`, `"precision"`} {
		if strings.Contains(string(data), key) {
			t.Errorf("task without %s encodes it: %s", key, data)
		}
	}
	var back Task
	if err := (jsonCodec{}).Unmarshal([]byte(`{"job_id":"j","kind":"eval","prompt":"p","logits_file":"f.csv"}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.Prompt != "p" || back.LogitsFile != "f.csv" {
		t.Errorf("decoded %+v", back)
	}
}

func TestJobsShareOneWorkerAndEngine(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	ctx := runCtx(t)

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.ProtocolVersion != ProtocolVersion || info.PID != c.PID() || info.Engine != "fake engine for worker tests" || info.GoVersion == "" {
		t.Errorf("Info = %+v (client PID %d)", info, c.PID())
	}
	for job := 1; job <= 2; job++ {
		result, err := c.Run(ctx, trainTask("", "ok"), nil)
		if err != nil {
			t.Fatalf("job %d: %v", job, err)
		}
		if want := []int{1, job, 0}; !reflect.DeepEqual(result.TokenIDs, want) {
			t.Errorf("job %d ran on engine/job/cancelled %v, want %v", job, result.TokenIDs, want)
		}
	}
	again, err := c.Info(ctx)
	if err != nil || again.PID != info.PID {
		t.Errorf("worker PID changed from %d to %d (err %v)", info.PID, again.PID, err)
	}
}

// The host's backend setting reaches the worker process, and Info reports
// what the engine computes on.
func TestInfoReportsTheBackend(t *testing.T) {
	expectNoChildren(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Env: []string{testModeEnv + "=worker"}, Logger: testLogger(), Backend: "cuda"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer c.Kill()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Backend != "fake:cuda" || info.Device != "no device" {
		t.Errorf("Info reports backend %q on %q, want the setting passed to Start", info.Backend, info.Device)
	}
}

func TestRefusedAndFailedJobsKeepTheWorker(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	ctx := runCtx(t)

	for _, tc := range []struct {
		name string
		task Task
		want string
	}{
		{"engine error", trainTask("", "fail"), `fake engine: dataset "fail" has no images`},
		{"unknown kind", Task{JobID: "j", Kind: "predict", Dataset: "ok"}, `unknown kind "predict"`},
		{"unknown variant", Task{JobID: "j", Kind: study.KindEval, Dataset: "ok", Variant: "nosuch"}, `unknown variant "nosuch"`},
		{"eval engine error", Task{JobID: "j", Kind: study.KindEval, Dataset: "fail"}, `dataset "fail" has no images`},
		{"prompt on a train task", Task{JobID: "j", Kind: study.KindTrain, Dataset: "ok", Epochs: 1, Prompt: "a photo of a"}, "eval tasks only"},
		{"logits on a train task", Task{JobID: "j", Kind: study.KindTrain, Dataset: "ok", Epochs: 1, LogitsFile: "/tmp/l.csv"}, "eval tasks only"},
		{"checkpoint and prompt", Task{JobID: "j", Kind: study.KindEval, Dataset: "ok", CheckpointIn: "/ckpt", Prompt: "a photo of a"}, "a checkpoint or a prompt, not both"},
		{"unknown precision", Task{JobID: "j", Kind: study.KindEval, Dataset: "ok", Precision: "fp8"}, `unknown precision "fp8"`},
	} {
		_, err := c.Run(ctx, tc.task, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if errors.Is(err, ErrWorkerDied) || c.Exited() {
			t.Fatalf("%s: the worker died: %v", tc.name, err)
		}
	}
	result, err := c.Run(ctx, trainTask("", "ok"), nil)
	if err != nil {
		t.Fatalf("job after failures: %v", err)
	}
	// Two failed jobs reached the engine; refused tasks did not.
	if want := []int{1, 3, 0}; !reflect.DeepEqual(result.TokenIDs, want) {
		t.Errorf("engine/job/cancelled = %v, want %v", result.TokenIDs, want)
	}
}

// A failure says whether retrying can help: bad input (a refused task, a
// missing file) cannot, a full disk needs space first, other engine errors
// might pass next time.
func TestFailuresSayTheirKind(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	ctx := runCtx(t)
	for _, tc := range []struct {
		task       Task
		bad, space bool
	}{
		{trainTask("", "fail"), false, false},
		{trainTask("", "missing"), true, false},
		{Task{JobID: "j", Kind: "predict", Dataset: "ok"}, true, false},
		{trainTask("", "full"), false, true},
		{Task{JobID: "j", Kind: study.KindEval, Dataset: "full"}, false, true},
	} {
		_, err := c.Run(ctx, tc.task, nil)
		if err == nil || errors.Is(err, ErrBadInput) != tc.bad || errors.Is(err, ErrNoSpace) != tc.space || errors.Is(err, ErrWorkerDied) {
			t.Errorf("%s %q: error %v: bad input %v, no space %v; want %v, %v", tc.task.Kind, tc.task.Dataset, err,
				errors.Is(err, ErrBadInput), errors.Is(err, ErrNoSpace), tc.bad, tc.space)
		}
	}
}

// Check reports each failing input with the key to fix, and nothing for
// good ones.
func TestCheckBlamesKeys(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	problems, checked, err := c.Check(runCtx(t), []Input{
		{Dataset: "ok", NCtx: 4}, {Dataset: "nodata", NCtx: 4}, {Dataset: "ok", NCtx: 72},
	})
	if err != nil || !checked {
		t.Fatalf("Check: %v (checked %v)", err, checked)
	}
	want := []Problem{
		{Input: 1, Key: engine.KeyDataset, Message: "dataset nodata: split file: file does not exist"},
		{Input: 2, Key: engine.KeyNCtx, Message: "n_ctx = 72 does not fit"},
	}
	if !reflect.DeepEqual(problems, want) {
		t.Fatalf("problems %+v, want %+v", problems, want)
	}
}

// A job that reports nothing still shows its worker alive through
// heartbeats; a worker stopped with SIGSTOP goes silent.
func TestHeartbeatsShowTheWorkerAliveUntilStopped(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	ctx, cancel := context.WithCancel(runCtx(t))
	defer cancel()
	task := trainTask("", "quiet")
	task.HeartbeatMS = 20
	var mu sync.Mutex
	beats := 0
	count := func() int { mu.Lock(); defer mu.Unlock(); return beats }
	done := make(chan error, 1)
	go func() {
		_, err := c.RunWatched(ctx, task, Watch{Alive: func() { mu.Lock(); beats++; mu.Unlock() }})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for count() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if count() < 5 {
		t.Fatalf("%d heartbeats from a quiet job", count())
	}
	if err := syscall.Kill(c.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // beats already in flight arrive
	before := count()
	time.Sleep(300 * time.Millisecond)
	if after := count(); after != before {
		t.Errorf("%d heartbeats from a stopped worker", after-before)
	}
	start := time.Now()
	c.Abort() // a stopped worker cannot answer a polite shutdown
	if d := time.Since(start); d > killGrace/2 {
		t.Errorf("Abort of a stopped worker took %v", d)
	}
	if err := <-done; !errors.Is(err, ErrWorkerDied) {
		t.Fatalf("run on a killed worker: %v", err)
	}
}

func TestCancelStopsTheJobAndTheWorkerRunsTheNext(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	pid := c.PID()

	ctx, cancel := context.WithCancel(runCtx(t))
	progressed := 0
	begun := time.Now()
	_, err := c.Run(ctx, trainTask("", "hang"), func(Progress) {
		progressed++
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run of a cancelled job: %v, want context.Canceled", err)
	}
	if took := time.Since(begun); took > 5*time.Second || progressed != 1 {
		t.Fatalf("cancel took %v after %d progress events", took, progressed)
	}
	if c.Exited() {
		t.Fatal("the worker exited after a cancel")
	}

	result, err := c.Run(runCtx(t), trainTask("", "ok"), nil)
	if err != nil {
		t.Fatalf("job after cancel: %v", err)
	}
	// The engine saw the cancellation before the next job began.
	if want := []int{1, 2, 1}; !reflect.DeepEqual(result.TokenIDs, want) {
		t.Errorf("engine/job/cancelled = %v, want %v", result.TokenIDs, want)
	}
	if c.PID() != pid || !alive(pid) {
		t.Errorf("worker %d replaced or gone (now %d)", pid, c.PID())
	}
}

func TestDyingWorkerReportsWhy(t *testing.T) {
	for _, tc := range []struct {
		dataset string
		want    []string
	}{
		{"crash", []string{"exit status 2", "panic: fake engine crash"}},
		{"exit", []string{"exit status 3"}},
		{"killself", []string{"signal: killed"}},
	} {
		t.Run(tc.dataset, func(t *testing.T) {
			expectNoChildren(t)
			c := startWorker(t)
			pid := c.PID()
			// Progress sent just before the death may or may not have left the
			// worker's buffers, so it is not counted.
			_, err := c.Run(runCtx(t), trainTask("", tc.dataset), nil)
			if !errors.Is(err, ErrWorkerDied) {
				t.Fatalf("Run: %v, want ErrWorkerDied", err)
			}
			for _, want := range append(tc.want, fmt.Sprintf("pid %d", pid)) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if !c.Exited() || alive(pid) {
				t.Error("the worker is still there")
			}
			if _, err := c.Run(runCtx(t), trainTask("", "ok"), nil); !errors.Is(err, ErrWorkerDied) {
				t.Errorf("Run on a dead worker: %v, want ErrWorkerDied", err)
			}
		})
	}
}

func TestWorkerKilledFromOutside(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	pid := c.PID()
	_, err := c.Run(runCtx(t), trainTask("", "hang"), func(Progress) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill worker: %v", err)
		}
	})
	if !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("Run: %v, want ErrWorkerDied with signal: killed", err)
	}
	if !c.Exited() {
		t.Error("Exited() is false after the worker was killed")
	}
}

func TestKillEndsABusyWorker(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	pid := c.PID()
	var killTook time.Duration
	_, err := c.Run(runCtx(t), trainTask("", "hang"), func(Progress) {
		begun := time.Now()
		c.Kill()
		killTook = time.Since(begun)
	})
	if !errors.Is(err, ErrWorkerDied) {
		t.Fatalf("Run: %v, want ErrWorkerDied", err)
	}
	if killTook > 4*time.Second {
		t.Errorf("Kill took %v", killTook)
	}
	if !c.Exited() || alive(pid) {
		t.Error("the worker survived Kill")
	}
	c.Kill() // again: a no-op
}

func TestWorkerDiesWithItsHost(t *testing.T) {
	expectNoChildren(t)

	host := exec.Command(os.Args[0], "-test.run=^$")
	// The killed host cannot remove its worker's socket directory; keep it
	// where the test's cleanup will.
	host.Env = append(os.Environ(), testModeEnv+"=host", "TMPDIR="+t.TempDir())
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
	}()
	var workerPID int
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "busy %d", &workerPID); err != nil {
			_ = host.Process.Kill()
			_ = host.Wait()
			t.Fatalf("host said %q", line)
		}
	case <-time.After(30 * time.Second):
		_ = host.Process.Kill()
		_ = host.Wait()
		t.Fatal("host never reported a busy worker")
	}
	if !alive(workerPID) {
		t.Fatalf("worker %d is not running before its host is killed", workerPID)
	}

	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait() // once the host is reaped, its orphans are ours
	expectSIGKILLed(t, workerPID, "worker of a SIGKILLed host")
}

// expectSIGKILLed waits up to 3s for an orphan adopted by this process to end
// by SIGKILL, and reaps it.
func expectSIGKILLed(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var status syscall.WaitStatus
		reaped, err := syscall.Wait4(pid, &status, syscall.WNOHANG, nil)
		// ECHILD: not yet handed to us by the kernel.
		if err != nil && !errors.Is(err, syscall.ECHILD) {
			t.Fatalf("wait for %s %d: %v", what, pid, err)
		}
		if err == nil && reaped == pid {
			if !status.Signaled() || status.Signal() != syscall.SIGKILL {
				t.Errorf("%s %d ended with %v, want SIGKILL", what, pid, status)
			}
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_, _ = syscall.Wait4(pid, &status, 0, nil)
			t.Fatalf("%s %d still running after 3s", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWorkerTakesItsChildrenAlong(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(c *Client)
	}{
		{"Kill", func(c *Client) { c.Kill() }},
		{"worker killed from outside", func(c *Client) { _ = syscall.Kill(c.PID(), syscall.SIGKILL) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectNoChildren(t)
			c := startWorker(t)
			childPID := 0
			_, err := c.Run(runCtx(t), trainTask("", "spawn"), func(p Progress) {
				childPID, _ = strconv.Atoi(p.Prompt)
				tc.end(c)
			})
			if !errors.Is(err, ErrWorkerDied) {
				t.Fatalf("Run: %v, want ErrWorkerDied", err)
			}
			if childPID == 0 {
				t.Fatal("the engine never reported its child")
			}
			expectSIGKILLed(t, childPID, "child of the worker")
		})
	}
}

func TestLargeMessagesAndLongTempDir(t *testing.T) {
	expectNoChildren(t)
	// A temporary directory too long for a unix socket path (108 bytes).
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	c := startWorker(t)

	root := strings.Repeat("r", 6<<20) // over gRPC's default 4 MiB limit
	result, err := c.Run(runCtx(t), Task{JobID: "big", Kind: study.KindTrain, Dataset: "big", DataRoot: root}, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if result.Prompt != root {
		t.Errorf("the 6 MiB field came back with %d bytes", len(result.Prompt))
	}
}

func TestNonFiniteNumbersCrossTheWire(t *testing.T) {
	expectNoChildren(t)
	c := startWorker(t)
	var got []Progress
	result, err := c.Run(runCtx(t), Task{JobID: "nan", Kind: study.KindTrain, Dataset: "diverge", Classes: "all"}, func(p Progress) {
		got = append(got, p)
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(got) != 1 || !math.IsNaN(got[0].Loss) || !math.IsInf(got[0].BatchLoss, 1) || !math.IsInf(got[0].LR, -1) {
		t.Errorf("progress = %+v, want NaN, +Inf, -Inf", got)
	}
	if len(result.Evaluations) != 1 || !math.IsNaN(result.Evaluations[0].MacroF1) || result.Evaluations[0].Split != "all" {
		t.Errorf("result = %+v, want a NaN macro F1 on split all", result)
	}

	task := trainTask("", "ok")
	task.LR = math.NaN()
	if _, err := c.Run(runCtx(t), task, nil); err == nil || errors.Is(err, ErrWorkerDied) || c.Exited() {
		t.Errorf("a task with a NaN learning rate: %v (worker exited: %v)", err, c.Exited())
	}
}

func TestStartFailures(t *testing.T) {
	expectNoChildren(t)
	// A program that never completes the handshake: ctx ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begun := time.Now()
	_, err := Start(ctx, Options{Command: func() *exec.Cmd { return exec.Command("sleep", "30") }, Logger: testLogger()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start of a silent program: %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(begun); took > 5*time.Second {
		t.Errorf("Start gave up after %v", took)
	}

	// A program that is no worker.
	_, err = Start(runCtx(t), Options{Command: func() *exec.Cmd { return exec.Command("echo", "hello") }, Logger: testLogger()})
	if err == nil || !strings.Contains(err.Error(), "hello") {
		t.Errorf("Start of a non-worker: %v, want an error quoting its output", err)
	}

	// The worker binary without the handshake cookie refuses to serve.
	cmd := exec.Command(os.Args[0], Subcommand)
	cmd.Env = append(os.Environ(), testModeEnv+"=worker")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("worker started by hand: %v, %s", err, out)
	}
}
