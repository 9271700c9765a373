package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fomo-grid/grid/engine"
)

// The tests run real worker processes: the test binary re-executes itself and
// TestMain turns the copy into a worker (or into a host that owns a worker)
// according to this variable.
const testModeEnv = "GRID_WORKER_TEST_MODE"

// engineConstructions counts fake engines built in this process; a worker
// must build exactly one for all its jobs.
var engineConstructions int

// fakeEngine behaves according to the task's dataset name:
//
//	ok        one progress event per epoch, then a result
//	big       returns the data root as the prompt (large messages)
//	diverge   NaN and infinite losses and metrics
//	fail      an engine error
//	missing   an error wrapping fs.ErrNotExist (bad input)
//	full      an error wrapping ENOSPC (a full disk)
//	quiet     waits for cancellation without a progress event
//	hang      one progress event, then waits for cancellation (and stops slowly)
//	crash     progress, then a panic
//	exit      progress, then os.Exit(3)
//	killself  progress, then SIGKILL to itself
//	spawn     starts `sleep 60`, reports its PID as the prompt, then waits
//
// Whatever spec it receives is written as JSON to <spec.Model>/spec.json when
// Model names a directory, so tests can check the Task-to-spec mapping.
type fakeEngine struct {
	construction int

	mu        sync.Mutex
	jobs      int
	cancelled int
}

func newFakeEngine() *fakeEngine {
	engineConstructions++
	return &fakeEngine{construction: engineConstructions}
}

func (f *fakeEngine) String() string { return "fake engine for worker tests" }

// Placement reports the backend setting the worker process received
// (Options.Backend), so that a test sees it arrive.
func (f *fakeEngine) Placement() (backend, device string) {
	return "fake:" + BackendSetting(), "no device"
}

func (f *fakeEngine) startJob(spec any, model string) (job int, err error) {
	f.mu.Lock()
	f.jobs++
	job = f.jobs
	f.mu.Unlock()
	if info, statErr := os.Stat(model); statErr == nil && info.IsDir() {
		data, err := json.Marshal(spec)
		if err != nil {
			return job, err
		}
		return job, os.WriteFile(filepath.Join(model, "spec.json"), data, 0o644)
	}
	return job, nil
}

// status is what an "ok" result reports about the worker: which engine
// instance ran it, how many jobs that instance has started, and how many
// cancellations it has seen.
func (f *fakeEngine) status(job int) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []int{f.construction, job, f.cancelled}
}

func (f *fakeEngine) misbehave(ctx context.Context, dataset string, progress func(engine.Progress)) error {
	step := func(i int) {
		progress(engine.Progress{Epoch: 0, Epochs: 1, Step: i, Steps: 10, Loss: 1, BatchLoss: 1, LR: 0.1})
	}
	switch dataset {
	case "fail":
		return fmt.Errorf("fake engine: dataset %q has no images", dataset)
	case "missing":
		return fmt.Errorf("fake engine: split file: %w", fs.ErrNotExist)
	case "full":
		return fmt.Errorf("fake engine: write checkpoint: %w", syscall.ENOSPC)
	case "quiet":
		<-ctx.Done()
		return ctx.Err()
	case "hang":
		step(0)
		<-ctx.Done()
		// Like a real engine finishing its current step, take a moment to
		// stop: the worker must not start the next job meanwhile.
		time.Sleep(200 * time.Millisecond)
		f.mu.Lock()
		f.cancelled++
		f.mu.Unlock()
		return ctx.Err()
	case "crash":
		step(0)
		step(1)
		panic("fake engine crash")
	case "exit":
		step(0)
		os.Exit(3)
	case "spawn":
		child := exec.Command("sleep", "60")
		if err := child.Start(); err != nil {
			return err
		}
		progress(engine.Progress{Prompt: strconv.Itoa(child.Process.Pid)})
		<-ctx.Done()
		return ctx.Err()
	case "killself":
		step(0)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return fmt.Errorf("fake engine: unknown dataset %q", dataset)
}

func (f *fakeEngine) Train(ctx context.Context, spec engine.TrainSpec, progress func(engine.Progress)) (engine.TrainResult, error) {
	job, err := f.startJob(spec, spec.Model)
	if err != nil {
		return engine.TrainResult{}, err
	}
	switch spec.Data.Dataset {
	case "ok":
		for epoch := 0; epoch < spec.Epochs; epoch++ {
			progress(engine.Progress{
				Epoch:     epoch,
				Epochs:    spec.Epochs,
				Step:      epoch,
				Steps:     spec.Epochs,
				Loss:      1 / float64(epoch+1),
				BatchLoss: 2 / float64(epoch+1),
				LR:        spec.LR * float64(epoch+1),
				TokenIDs:  []int{epoch, epoch + 1},
				Prompt:    fmt.Sprintf("step %d", epoch),
			})
		}
		return engine.TrainResult{
			TokenIDs:   f.status(job),
			Prompt:     "learned prompt",
			Test:       engine.Evaluation{Total: 50, Correct: 21, Accuracy: 42, MacroF1: 40.5},
			Checkpoint: spec.Checkpoint,
		}, nil
	case "big":
		return engine.TrainResult{Prompt: spec.Data.Root}, nil
	case "diverge":
		progress(engine.Progress{Loss: math.NaN(), BatchLoss: math.Inf(1), LR: math.Inf(-1)})
		return engine.TrainResult{Test: engine.Evaluation{Accuracy: 0, MacroF1: math.NaN()}}, nil
	}
	return engine.TrainResult{}, f.misbehave(ctx, spec.Data.Dataset, progress)
}

// Check implements engine.Checker: dataset "nodata" has no split file, and
// n_ctx above 70 does not fit the fake context.
func (f *fakeEngine) Check(ctx context.Context, spec engine.InputSpec) error {
	switch {
	case spec.Data.Dataset == "nodata":
		return &engine.InputError{Key: engine.KeyDataset, Err: fmt.Errorf("dataset nodata: split file: %w", fs.ErrNotExist)}
	case spec.NCtx > 70:
		return &engine.InputError{Key: engine.KeyNCtx, Err: fmt.Errorf("n_ctx = %d does not fit", spec.NCtx)}
	}
	return nil
}

func (f *fakeEngine) Evaluate(ctx context.Context, spec engine.EvalSpec) (engine.Evaluation, error) {
	if _, err := f.startJob(spec, spec.Model); err != nil {
		return engine.Evaluation{}, err
	}
	if spec.Data.Dataset == "ok" {
		return engine.Evaluation{Total: 30, Correct: 27, Accuracy: 90, MacroF1: 88.25}, nil
	}
	return engine.Evaluation{}, f.misbehave(ctx, spec.Data.Dataset, func(engine.Progress) {})
}
