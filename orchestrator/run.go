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
	"time"

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
	// Backend is the engine backend every worker computes on, passed to it
	// as worker.Options.Backend ("" leaves the choice to the workers).
	Backend string
	Display Display      // progress output; nil prints nothing
	Logger  hclog.Logger // worker logs; nil discards
	// Owner names this process in the claims it takes, for `grid status`
	// and logs ("slurm 1234_5"); "" is "grid run".
	Owner string
}

// Summary is the outcome of a run.
type Summary struct {
	Total   int // jobs in the grid (in a share: the share's jobs)
	Skipped int // already done before this run, or finished meanwhile by another process
	Done    int // finished in this run
	Failed  int // failed after every attempt
	// Blocked counts jobs not run because a job they depend on failed, is
	// run by another process, or (in a share) is not done.
	Blocked int
	// Elsewhere counts jobs another live process (a SLURM array task, a
	// run on another host) was running when this run reached them.
	Elsewhere int
	// Interrupted is set when the run was cancelled before every job ended.
	Interrupted bool
}

// Err is non-nil when the run did not finish every job.
func (s Summary) Err() error {
	switch {
	case s.Interrupted:
		return errors.New("interrupted: run `grid run` again to resume")
	case s.Failed > 0 || s.Blocked > 0:
		return fmt.Errorf("%d job(s) failed, %d blocked by upstream jobs that failed or run elsewhere (see `grid status`)", s.Failed, s.Blocked)
	case s.Elsewhere > 0:
		return fmt.Errorf("%d job(s) are being run by another process (see `grid status`); run again when they end", s.Elsewhere)
	}
	return nil
}

// flushEvery bounds how many progress events are held before they are written.
const flushEvery = 64

// Run runs every job of the grid that is not done, respecting dependencies,
// on opts.Workers worker processes. Cancelling ctx stops running jobs and
// leaves them pending for the next run. It first merges the shards that
// SLURM array tasks published, and skips jobs that another process (an
// array task, or a run on another host) has claimed.
func (s *Session) Run(ctx context.Context, opts Options) (Summary, error) {
	if err := s.CheckPaths(); err != nil {
		return Summary{}, err
	}
	unlock, err := lockRunDir(s.RunDir)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	if _, err := s.MergeShards(); err != nil {
		return Summary{}, err
	}
	// A previous orchestrator that was killed left its jobs running; and a
	// new run gives failed jobs a fresh set of attempts.
	if _, err := s.DB.ResetRunning(s.GridID); err != nil {
		return Summary{}, err
	}
	if _, err := s.DB.ResetFailed(s.GridID); err != nil {
		return Summary{}, err
	}
	claims, err := newClaimLog(s.RunDir, "grid run")
	if err != nil {
		return Summary{}, err
	}
	r := &runner{s: s, opts: s.withDefaults(opts), claims: claims, databaseDecides: true}
	st, err := s.newSchedule(s.Grid.Jobs, nil)
	if err != nil {
		return Summary{}, err
	}
	return r.run(ctx, st)
}

// withDefaults fills in what opts leaves to the grid file.
func (s *Session) withDefaults(opts Options) Options {
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
	if opts.Display == nil {
		opts.Display = nopDisplay{}
	}
	return opts
}

// runner runs the jobs of one schedule.
type runner struct {
	s      *Session
	opts   Options
	claims *claimLog
	// databaseDecides is set for a run that owns the database: a job the
	// database does not have as done runs even if a claim says it was
	// finished (after the shards are merged, that means its results were
	// deleted to run it again). A share cannot see the database and
	// trusts the claims.
	databaseDecides bool
	// published, in a share, makes what the share's database holds
	// visible to others (the shard); it is called after every job ends,
	// one call at a time, so that a later snapshot is never replaced by
	// an earlier one.
	published   func() error
	publishedMu sync.Mutex
	mergeMu     sync.Mutex
}

type outcome struct {
	job sweeps.Job
	err error
}

// run hands ready jobs to opts.Workers slots until none is left.
func (r *runner) run(ctx context.Context, st *schedule) (Summary, error) {
	disp := r.opts.Display
	sum := Summary{Total: len(st.order), Skipped: st.done}
	disp.Start(len(st.order), st.done)
	defer disp.Stop()

	ready := make(chan sweeps.Job)
	finished := make(chan outcome)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < r.opts.Workers; i++ {
		wg.Add(1)
		go func(slot int) {
			defer wg.Done()
			name := fmt.Sprintf("w%d", slot)
			if r.opts.Owner != "" {
				name = r.opts.Owner + " " + name
			}
			w := &workerSlot{name: name, opts: r.opts}
			defer w.close()
			for job := range ready {
				finished <- outcome{job, r.runJob(runCtx, w, job)}
			}
		}(i)
	}
	running := 0
	for {
		for running < r.opts.Workers && runCtx.Err() == nil {
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
		running--
		st.record(<-finished, runCtx.Err() != nil, &sum)
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

// errDoneElsewhere: another process finished the job.
var errDoneElsewhere = errors.New("done by another process")

// heldError: another live process runs the job.
type heldError struct{ by claimOwner }

func (e *heldError) Error() string {
	return fmt.Sprintf("run by %s (pid %d on %s)", e.by.Who, e.by.PID, e.by.Host)
}

// runJob claims a job, runs it with retries and ends its claim: done, or
// released for someone else to run when it failed or was interrupted.
func (r *runner) runJob(ctx context.Context, w *workerSlot, job sweeps.Job) error {
	claim, err := r.claim(job)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	var hb sync.WaitGroup
	hb.Add(1)
	go r.claims.heartbeat(job.ID, claim, claimHeartbeat, stop, &hb)
	err = r.s.runWithRetries(ctx, w, job, r.opts.Retries, r.opts.Display)
	close(stop)
	hb.Wait()
	if r.published != nil {
		r.publishedMu.Lock()
		perr := r.published()
		r.publishedMu.Unlock()
		if perr != nil && err == nil {
			err = perr
		}
	}
	state := claimReleased
	if err == nil {
		state = claimDone
	}
	if cerr := r.claims.end(job.ID, state); cerr != nil && err == nil {
		// The results are stored; a claim left running looks dead once
		// this process ends, and a later run merges, not reruns.
		r.opts.Logger.Warn("claim not closed", "job", job.ID, "error", cerr)
	}
	return err
}

// claim takes the job's claim, or says why this run must not run it.
func (r *runner) claim(job sweeps.Job) (*claimEntry, error) {
	got, e, err := r.claims.take(job.ID, false)
	if err != nil {
		return nil, err
	}
	if got == claimDoneAlready && r.databaseDecides {
		// Finished by an array task: its shard is published before its
		// claim says done, so merging brings the result in.
		if done, err := r.mergeAndCheck(job.ID); err != nil || done {
			if err == nil {
				err = errDoneElsewhere
			}
			return nil, err
		}
		got, e, err = r.claims.take(job.ID, true)
		if err != nil {
			return nil, err
		}
	}
	switch got {
	case claimHeld:
		return nil, &heldError{e.claimOwner}
	case claimDoneAlready:
		return nil, errDoneElsewhere
	}
	return e, nil
}

func (r *runner) mergeAndCheck(jobID string) (bool, error) {
	r.mergeMu.Lock()
	defer r.mergeMu.Unlock()
	if _, err := r.s.MergeShards(); err != nil {
		return false, err
	}
	row, err := r.s.DB.Job(jobID)
	return err == nil && row.State == results.StateDone, err
}

// CheckPaths fails fast, naming the grid file and key, when a model
// directory or data root the jobs need does not exist: otherwise every job
// would start a worker only to fail the same way.
func (s *Session) CheckPaths() error {
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
			Time: time.Now(), // when the step was reported, not when its batch is written: step times are measured from it
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
	c, err := worker.Start(ctx, worker.Options{Command: w.opts.WorkerCommand, Logger: w.opts.Logger.Named(w.name), Backend: w.opts.Backend})
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
