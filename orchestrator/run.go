package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
	"github.com/fomo-grid/grid/worker"
)

// Options tune one `grid run`.
type Options struct {
	Workers int // parallel worker processes; <= 0 means the grid file's value (or 1)
	Retries int // extra attempts per job in this run; < 0 means the grid file's value
	// WorkerCommand starts a worker process; nil means this binary's hidden
	// worker subcommand.
	WorkerCommand func() *exec.Cmd
	Display       Display      // progress output; nil prints nothing
	Logger        hclog.Logger // worker logs; nil discards
}

// Summary is the outcome of a run.
type Summary struct {
	Total   int // jobs in the grid
	Skipped int // already done before this run
	Done    int // finished in this run
	Failed  int // failed after every attempt
	Blocked int // not run because a job they depend on failed
	// Interrupted is set when the run was cancelled before every job ended.
	Interrupted bool
}

// Err is non-nil when the run did not finish every job.
func (s Summary) Err() error {
	switch {
	case s.Interrupted:
		return errors.New("interrupted: run `grid run` again to resume")
	case s.Failed > 0 || s.Blocked > 0:
		return fmt.Errorf("%d job(s) failed, %d blocked by failed upstream jobs (see `grid status`)", s.Failed, s.Blocked)
	}
	return nil
}

// flushEvery bounds how many progress events are held before they are written.
const flushEvery = 64

// Run runs every job of the grid that is not done, respecting dependencies,
// on opts.Workers worker processes. Cancelling ctx stops running jobs and
// leaves them pending for the next run.
func (s *Session) Run(ctx context.Context, opts Options) (Summary, error) {
	if err := s.checkPaths(); err != nil {
		return Summary{}, err
	}
	unlock, err := lockRunDir(s.RunDir)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()

	if opts.Workers <= 0 {
		opts.Workers = s.Grid.Workers
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.Retries < 0 {
		opts.Retries = s.Grid.Retries
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	disp := opts.Display
	if disp == nil {
		disp = nopDisplay{}
	}

	// A previous orchestrator that was killed left its jobs running; and a
	// new run gives failed jobs a fresh set of attempts.
	if _, err := s.DB.ResetRunning(s.GridID); err != nil {
		return Summary{}, err
	}
	if _, err := s.DB.ResetFailed(s.GridID); err != nil {
		return Summary{}, err
	}

	st, err := s.newSchedule()
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Total: len(s.Grid.Jobs), Skipped: st.done}
	disp.Start(len(s.Grid.Jobs), st.done)
	defer disp.Stop()

	ready := make(chan sweeps.Job)
	type outcome struct {
		job sweeps.Job
		err error
	}
	finished := make(chan outcome)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func(slot int) {
			defer wg.Done()
			w := &workerSlot{name: fmt.Sprintf("w%d", slot), opts: opts}
			defer w.close()
			for job := range ready {
				finished <- outcome{job, s.runWithRetries(runCtx, w, job, opts.Retries, disp)}
			}
		}(i)
	}

	running := 0
	for {
		for running < opts.Workers && runCtx.Err() == nil {
			job, ok := st.next()
			if !ok {
				break
			}
			running++
			ready <- job
		}
		if running == 0 {
			break
		}
		o := <-finished
		running--
		switch {
		case o.err == nil:
			st.markDone(o.job.ID)
			sum.Done++
		case runCtx.Err() != nil:
			// Cancelled: the job went back to pending.
		default:
			st.markFailed(o.job.ID)
			sum.Failed++
		}
	}
	close(ready)
	wg.Wait()
	sum.Blocked = st.blocked()
	if ctx.Err() != nil && st.remaining() > 0 {
		sum.Interrupted = true
	}
	disp.Summary(sum)
	return sum, nil
}

// checkPaths fails fast, naming the grid file and key, when a model
// directory or data root the jobs need does not exist: otherwise every job
// would start a worker only to fail the same way.
func (s *Session) checkPaths() error {
	seen := map[string]bool{}
	for _, j := range s.Grid.Jobs {
		for key, p := range map[string]string{"model": j.Config.Model, "data_root": j.Config.DataRoot} {
			if seen[key+p] {
				continue
			}
			seen[key+p] = true
			if _, err := os.Stat(s.Grid.Resolve(p)); err != nil {
				return fmt.Errorf("%s: [grid] %s: %w", s.Grid.File, key, err)
			}
		}
	}
	return nil
}

// runWithRetries runs one job until it succeeds, its attempts are spent or
// the run is cancelled. Every attempt is recorded.
func (s *Session) runWithRetries(ctx context.Context, w *workerSlot, job sweeps.Job, retries int, disp Display) error {
	var err error
	for try := 0; try <= retries; try++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = s.runOnce(ctx, w, job, disp)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// Interrupted, not failed: back to pending, no verdict.
			_ = s.DB.FailAttempt(job.ID, "interrupted", false)
			return err
		}
		final := try == retries
		if ferr := s.DB.FailAttempt(job.ID, err.Error(), final); ferr != nil {
			return errors.Join(err, ferr)
		}
		disp.JobFailed(job, err, final)
	}
	return err
}

// runOnce is one attempt of a job on the slot's worker.
func (s *Session) runOnce(ctx context.Context, w *workerSlot, job sweeps.Job, disp Display) error {
	client, err := w.client(ctx)
	if err != nil {
		return err
	}
	attempt, err := s.DB.StartAttempt(job.ID, fmt.Sprintf("%s pid %d", w.name, client.PID()))
	if err != nil {
		return err
	}
	task, err := s.task(job)
	if err != nil {
		return err
	}
	bar := disp.JobStarted(job, attempt)

	var pending []results.Metric
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := s.DB.AddMetrics(job.ID, attempt, pending)
		pending = pending[:0]
		return err
	}
	var flushErr error
	res, runErr := client.Run(ctx, task, func(p worker.Progress) {
		pending = append(pending, results.Metric{
			Step: p.Step, Epoch: p.Epoch, Loss: p.Loss, BatchLoss: p.BatchLoss, LR: p.LR, Prompt: p.Prompt,
		})
		if len(pending) >= flushEvery {
			if err := flush(); err != nil && flushErr == nil {
				flushErr = err
			}
		}
		bar.Progress(p)
	})
	if err := flush(); err != nil && flushErr == nil {
		flushErr = err
	}
	if runErr != nil {
		if errors.Is(runErr, worker.ErrWorkerDied) {
			w.discard()
		}
		bar.Done(runErr)
		return runErr
	}
	if flushErr != nil {
		bar.Done(flushErr)
		return flushErr
	}
	c := results.Completion{}
	for _, e := range res.Evaluations {
		c.Evaluations = append(c.Evaluations, results.Evaluation{
			Split: e.Split, Dataset: e.Dataset, Total: e.Total, Correct: e.Correct,
			Accuracy: e.Accuracy, MacroF1: e.MacroF1,
		})
	}
	if len(res.TokenIDs) > 0 || res.Prompt != "" {
		c.Prompt = &results.Prompt{TokenIDs: res.TokenIDs, Text: res.Prompt}
	}
	if job.Config.Kind == study.KindEval && job.Config.Source != "" && job.Config.Classes == study.ClassesNew && len(c.Evaluations) == 1 {
		if hm, ok := s.harmonicMean(job.Config.Source, c.Evaluations[0].Accuracy); ok {
			c.HarmonicMean = &hm
		}
	}
	if job.Config.Kind == study.KindTrain {
		art, err := artifactOf("checkpoint", task.CheckpointOut)
		if err != nil {
			err = fmt.Errorf("train job finished without its checkpoint: %w", err)
			bar.Done(err)
			return err
		}
		c.Artifacts = append(c.Artifacts, art)
	}
	if err := s.DB.CompleteJob(job.ID, c); err != nil {
		bar.Done(err)
		return err
	}
	bar.Done(nil)
	return nil
}

// harmonicMean is H = 2BN/(B+N) of a base2new cell, from the base accuracy
// its train job stored and the new accuracy just measured.
func (s *Session) harmonicMean(trainID string, newAcc float64) (float64, bool) {
	evs, err := s.DB.Evaluations(trainID)
	if err != nil {
		return 0, false
	}
	for _, e := range evs {
		if e.Split == study.ClassesBase {
			return results.HarmonicMean(e.Accuracy, newAcc), true
		}
	}
	return 0, false
}

// task turns a job into the worker's wire request, with paths resolved
// against the grid file.
func (s *Session) task(job sweeps.Job) (worker.Task, error) {
	c := job.Config
	abs := func(p string) string {
		p = s.Grid.Resolve(p)
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	t := worker.Task{
		JobID: job.ID, Kind: c.Kind,
		Model: abs(c.Model), DataRoot: abs(c.DataRoot), Dataset: c.Dataset, Classes: c.Classes,
		Shots: c.Shots, Seed: c.Seed, NCtx: c.NCtx, WeightStd: c.WeightStd, Epochs: c.Epochs,
		LR: c.LR, WarmupLR: c.WarmupLR, WarmupEpochs: c.WarmupEpochs,
		Momentum: c.Momentum, WeightDecay: c.WeightDecay, BatchSize: c.BatchSize,
		Variant: c.Variant,
	}
	switch c.Kind {
	case study.KindTrain:
		t.CheckpointOut, _ = filepath.Abs(s.CheckpointPath(job.ID))
		if err := os.MkdirAll(filepath.Dir(t.CheckpointOut), 0o755); err != nil {
			return t, err
		}
	case study.KindEval:
		if c.Source == "" { // zero-shot: CLIP with a hand-written template
			t.Prompt = c.Template
			return t, nil
		}
		t.CheckpointIn, _ = filepath.Abs(s.CheckpointPath(c.Source))
		if _, err := os.Stat(t.CheckpointIn); err != nil {
			return t, fmt.Errorf("checkpoint of upstream job %s: %w", c.Source, err)
		}
	}
	return t, nil
}

func artifactOf(kind, path string) (results.Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return results.Artifact{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return results.Artifact{}, err
	}
	return results.Artifact{Kind: kind, Path: path, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// workerSlot owns at most one worker process at a time, started on first use
// and replaced after it dies.
type workerSlot struct {
	name string
	opts Options
	c    *worker.Client
}

func (w *workerSlot) client(ctx context.Context) (*worker.Client, error) {
	if w.c != nil && !w.c.Exited() {
		return w.c, nil
	}
	w.discard()
	c, err := worker.Start(ctx, worker.Options{Command: w.opts.WorkerCommand, Logger: w.opts.Logger.Named(w.name)})
	if err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w.c = c
	return c, nil
}

func (w *workerSlot) discard() {
	if w.c != nil {
		w.c.Kill()
		w.c = nil
	}
}

func (w *workerSlot) close() { w.discard() }
