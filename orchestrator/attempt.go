package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
	"github.com/fomo-grid/grid/worker"
)

// flushEvery bounds how many progress events are held before they are written.
const flushEvery = 64

// runWithRetries runs one job until it succeeds, its attempts are spent or
// the run is cancelled. Every attempt is recorded. A failure that cannot
// pass on a retry (bad input) is final at once; one that stops the run (a
// failed write) is returned without a verdict on the job.
func (r *runner) runWithRetries(ctx context.Context, w *workerSlot, job sweeps.Job) error {
	s, disp := r.s, r.opts.Display
	var err error
	for try := 0; try <= r.opts.Retries; try++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = r.runOnce(ctx, w, job)
		switch {
		case err == nil:
			return nil
		case stopsRun(err):
			return err
		case ctx.Err() != nil:
			// Interrupted, not failed: back to pending, no verdict.
			if ferr := s.DB.FailAttempt(job.ID, interruption(ctx), false); ferr != nil {
				return stopRun(ferr)
			}
			return err
		}
		final := try == r.opts.Retries || errors.Is(err, worker.ErrBadInput)
		reason := err.Error()
		if final && try < r.opts.Retries {
			reason += " (not retried: bad input)"
		}
		if ferr := s.DB.FailAttempt(job.ID, reason, final); ferr != nil {
			return stopRun(ferr)
		}
		disp.JobFailed(job, err, final)
		if final {
			break
		}
	}
	return err
}

// interruption says why a run's context ended, for the jobs it stopped.
func interruption(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return "stopped: " + cause.Error()
	}
	return "interrupted"
}

// runOnce is one attempt of a job on the slot's worker: start it in the
// database, run it on the worker while recording its progress and watching
// its liveness, and store its result.
func (r *runner) runOnce(ctx context.Context, w *workerSlot, job sweeps.Job) error {
	s := r.s
	client, err := w.client(ctx)
	if err != nil {
		return err
	}
	task, err := s.task(job)
	if err != nil {
		return err
	}
	task.HeartbeatMS = int(r.opts.Liveness.Heartbeat.Milliseconds())
	attempt, err := s.DB.StartAttempt(job.ID, fmt.Sprintf("%s pid %d", w.name, client.PID()))
	if err != nil {
		return stopRun(err)
	}
	bar := r.opts.Display.JobStarted(job, attempt)
	start := time.Now()
	res, err := r.execute(ctx, w, client, job, attempt, task, bar)
	if err == nil {
		err = s.complete(job, task, res)
	}
	if err == nil && job.Config.Kind == study.KindEval {
		r.evals.add(time.Since(start))
	}
	bar.Done(err)
	return err
}

// execute runs the task on the worker, recording its progress, and kills
// the worker if it goes silent or runs past its time limit.
func (r *runner) execute(ctx context.Context, w *workerSlot, client *worker.Client, job sweeps.Job, attempt int, task worker.Task, bar JobBar) (worker.Result, error) {
	live := r.opts.Liveness
	evalLimit := time.Duration(0)
	if job.Config.Kind == study.KindEval {
		evalLimit = r.evals.limit(live.Slack)
	}
	watch := newJobWatch(live, time.Now(), r.s.Grid.JobTimeout, evalLimit)
	rec := &recorder{db: r.s.DB, jobID: job.ID, attempt: attempt, beatEvery: 2 * live.Heartbeat}
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopWatch := watchJob(jobCtx, watch, client, cancel, live.Silence/4)
	res, runErr := client.RunWatched(jobCtx, task, worker.Watch{
		Progress: func(p worker.Progress) {
			watch.progress(p, time.Now())
			if err := rec.progress(p); err != nil {
				cancel(err)
			}
			bar.Progress(p)
		},
		Alive: func() {
			now := time.Now()
			watch.alive(now)
			if err := rec.alive(now); err != nil {
				cancel(err)
			}
		},
	})
	stopWatch()
	flushErr := rec.flush()
	cause := context.Cause(jobCtx)
	var stuck *livenessError
	switch {
	case errors.As(cause, &stuck):
		w.discard() // killed by watchJob
		return worker.Result{}, cause
	case stopsRun(cause):
		return worker.Result{}, cause
	case runErr != nil:
		if errors.Is(runErr, worker.ErrWorkerDied) {
			w.discard()
		}
		return worker.Result{}, runErr
	case flushErr != nil:
		return worker.Result{}, flushErr
	}
	return res, nil
}

// watchJob checks the attempt every period until the returned stop is
// called; when it finds the job stuck it aborts the worker (SIGKILL, which
// also ends a stopped process) and cancels the job with the reason.
func watchJob(ctx context.Context, watch *jobWatch, client *worker.Client, cancel context.CancelCauseFunc, period time.Duration) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(max(period, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if err := watch.check(now, client.PID()); err != nil {
					cancel(err)
					client.Abort()
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// recorder writes an attempt's progress to the database: metrics in
// batches, and when its worker last reported (at most every beatEvery). A
// write that fails stops the run (stopError).
type recorder struct {
	db        *results.DB
	jobID     string
	attempt   int
	pending   []results.Metric
	beatEvery time.Duration
	lastBeat  time.Time
	err       error
}

func (rec *recorder) progress(p worker.Progress) error {
	rec.pending = append(rec.pending, results.Metric{
		Step: p.Step, Epoch: p.Epoch, Loss: p.Loss, BatchLoss: p.BatchLoss, LR: p.LR, Prompt: p.Prompt,
		Time: time.Now(), // when the step was reported, not when its batch is written: step times are measured from it
	})
	if len(rec.pending) >= flushEvery {
		return rec.flush()
	}
	return nil
}

func (rec *recorder) alive(now time.Time) error {
	if rec.err != nil || now.Sub(rec.lastBeat) < rec.beatEvery {
		return rec.err
	}
	rec.lastBeat = now
	if err := rec.db.Heartbeat(rec.jobID, now); err != nil {
		rec.err = stopRun(err)
	}
	return rec.err
}

// flush writes the metrics held; after a failure it keeps returning it.
func (rec *recorder) flush() error {
	if rec.err != nil || len(rec.pending) == 0 {
		return rec.err
	}
	if err := rec.db.AddMetrics(rec.jobID, rec.attempt, rec.pending); err != nil {
		rec.err = stopRun(err)
	}
	rec.pending = rec.pending[:0]
	return rec.err
}

// complete stores a finished job's result in one transaction.
func (s *Session) complete(job sweeps.Job, task worker.Task, res worker.Result) error {
	c := results.Completion{Device: res.Device, PeakMemory: res.PeakMemory}
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
		hm, ok, err := s.harmonicMean(job.Config.Source, c.Evaluations[0].Accuracy)
		if err != nil {
			return stopRun(err)
		}
		if ok {
			c.HarmonicMean = &hm
		}
	}
	if job.Config.Kind == study.KindTrain {
		art, err := artifactOf(results.ArtifactCheckpoint, task.CheckpointOut)
		if err != nil {
			return fmt.Errorf("train job finished without its checkpoint: %w", err)
		}
		c.Artifacts = append(c.Artifacts, art)
	}
	return stopRun(s.DB.CompleteJob(job.ID, c))
}

// harmonicMean is H = 2BN/(B+N) of a base2new cell, from the base accuracy
// its train job stored and the new accuracy just measured; ok is false when
// the train job stored no base accuracy.
func (s *Session) harmonicMean(trainID string, newAcc float64) (h float64, ok bool, err error) {
	evs, err := s.DB.Evaluations(trainID)
	if err != nil {
		return 0, false, err
	}
	for _, e := range evs {
		if e.Split == study.ClassesBase {
			return results.HarmonicMean(e.Accuracy, newAcc), true, nil
		}
	}
	return 0, false, nil
}

// task turns a job into the worker's wire request, with paths resolved
// against the grid file. A checkpoint directory that cannot be made stops
// the run; an upstream checkpoint that is gone fails the job for good.
func (s *Session) task(job sweeps.Job) (worker.Task, error) {
	c := job.Config
	t := worker.Task{
		JobID: job.ID, Kind: c.Kind,
		Model: absPath(s.Grid.Resolve(c.Model)), DataRoot: absPath(s.Grid.Resolve(c.DataRoot)), Dataset: c.Dataset, Classes: c.Classes,
		Shots: c.Shots, Seed: c.Seed, NCtx: c.NCtx, WeightStd: c.WeightStd, Epochs: c.Epochs,
		LR: c.LR, WarmupLR: c.WarmupLR, WarmupEpochs: c.WarmupEpochs,
		Momentum: c.Momentum, WeightDecay: c.WeightDecay, BatchSize: c.BatchSize,
		Variant: c.Variant, Precision: c.Precision,
	}
	switch c.Kind {
	case study.KindTrain:
		t.CheckpointOut = absPath(s.CheckpointPath(job.ID))
		if err := os.MkdirAll(filepath.Dir(t.CheckpointOut), 0o755); err != nil {
			return t, stopRun(err)
		}
	case study.KindEval:
		if c.Source == "" { // zero-shot: CLIP with a hand-written template
			t.Prompt = c.Template
			return t, nil
		}
		t.CheckpointIn = absPath(s.CheckpointPath(c.Source))
		if _, err := os.Stat(t.CheckpointIn); err != nil {
			return t, fmt.Errorf("checkpoint of upstream job %s: %w (%w)", c.Source, err, worker.ErrBadInput)
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
	env  []string // added to the worker's environment (a GPU slot's pin)
	opts Options
	c    *worker.Client
}

func (w *workerSlot) client(ctx context.Context) (*worker.Client, error) {
	if w.c != nil && !w.c.Exited() {
		return w.c, nil
	}
	w.discard()
	c, err := worker.Start(ctx, worker.Options{Command: w.opts.WorkerCommand, Logger: w.opts.Logger.Named(w.name), Backend: w.opts.Backend, Env: w.env})
	if err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w.c = c
	return c, nil
}

// discard kills the slot's worker; the next job starts a new one.
func (w *workerSlot) discard() {
	if w.c != nil {
		w.c.Abort()
		w.c = nil
	}
}

func (w *workerSlot) close() {
	if w.c != nil {
		w.c.Kill()
		w.c = nil
	}
}
