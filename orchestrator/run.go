package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
	"github.com/fomo-grid/grid/worker"
)

// Options tune one `grid run`.
type Options struct {
	Workers int // parallel worker processes; <= 0 means the grid file's value (or 1)
	Retries int // extra attempts per job in this run; < 0 means the grid file's value
	// GPUs, when set, replace Workers: GPUSlots worker processes per GPU,
	// each pinned to its GPU.
	GPUs     []GPU
	GPUSlots int // jobs at once per GPU; <= 0 means the grid file's gpu_slots
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
	// Redo names done jobs to run again, with everything downstream of
	// them: job IDs (or unique prefixes), job names, or "stale" for every
	// job `grid plan` calls stale (redo.go).
	Redo []string
	// Liveness tunes heartbeats and time limits; zero values are defaults.
	Liveness Liveness
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

// Run runs every job of the grid that is not done, respecting dependencies,
// on opts.Workers worker processes (GPUSlots per GPU with opts.GPUs).
// Cancelling ctx stops running jobs and leaves them pending for the next
// run. Before its first write it checks
// the grid's inputs (Check) and takes the run directory's lock, so that a
// bad grid or a second runner changes nothing. It merges the shards that
// SLURM array tasks published, and skips jobs that another process (an
// array task, or a run on another host) has claimed. A failed write (a full
// disk) stops it with the reason and leaves the database as an interrupt
// does; running it again once the cause is fixed goes on.
func (s *Session) Run(ctx context.Context, opts Options) (Summary, error) {
	opts = s.withDefaults(opts)
	redo, err := s.resolveRedo(opts.Redo)
	if err != nil {
		return Summary{}, err
	}
	first, err := s.preflight(ctx, opts)
	if err != nil {
		return Summary{}, err
	}
	unlock, err := lockRunDir(s.RunDir)
	if err != nil {
		first.Kill()
		return Summary{}, err
	}
	defer unlock()
	st, rec, err := s.prepareRun(ctx, redo)
	if err != nil {
		first.Kill()
		return Summary{}, err
	}
	claims, err := newClaimLog(s.RunDir, "grid run")
	if err != nil {
		first.Kill()
		return Summary{}, err
	}
	r := &runner{s: s, opts: opts, claims: claims, databaseDecides: true, first: first, reserve: true, rec: rec}
	return r.run(ctx, st)
}

// prepareRun makes the run's first writes, under the lock: the reserve
// (failure.go), the database and the grid's jobs (the first part of them:
// the rest is recorded while jobs run, see record.go), the shards' results,
// the reset of jobs a killed run left running and of failed jobs, the jobs
// to redo. It returns the schedule, and the recording still under way (nil
// when none is).
func (s *Session) prepareRun(ctx context.Context, redo redoRequest) (*schedule, *recording, error) {
	if err := makeReserve(s.RunDir); err != nil {
		return nil, nil, err
	}
	rec, err := s.recordInParts(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.prepareJobs(redo)
	if err != nil {
		if rec != nil {
			rec.stop()
		}
		return nil, nil, err
	}
	if rec != nil {
		st.recorded = func() int { return int(rec.recorded.Load()) }
	}
	return st, rec, nil
}

// prepareJobs brings in the shards' results, resets jobs a killed run left
// running and failed jobs, puts the jobs to redo back to pending, and
// plans the schedule.
func (s *Session) prepareJobs(redo redoRequest) (*schedule, error) {
	if _, err := s.MergeShards(); err != nil {
		return nil, err
	}
	// A previous orchestrator that was killed left its jobs running; and a
	// new run gives failed jobs a fresh set of attempts.
	if _, err := s.DB.ResetRunning(s.GridID, "interrupted: the orchestrator stopped"); err != nil {
		return nil, err
	}
	if _, err := s.DB.ResetFailed(s.GridID); err != nil {
		return nil, err
	}
	if err := s.redo(redo); err != nil {
		return nil, err
	}
	return s.newSchedule(s.Grid.Jobs, nil)
}

// withDefaults fills in what opts leaves to the grid file.
func (s *Session) withDefaults(opts Options) Options {
	if opts.Workers <= 0 {
		opts.Workers = s.Grid.Workers
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.GPUSlots <= 0 {
		opts.GPUSlots = s.Grid.GPUSlots
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
	opts.Liveness = opts.Liveness.withDefaults()
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

	// first is a worker already started (by the input check), for the
	// first slot; nil if none.
	first *worker.Client
	// reserve is set when the run made the run directory's reserve, to
	// be freed when a failed write stops the run.
	reserve bool
	evals   evalTimes
	// rec is the recording of the grid's jobs while they run; nil once
	// done (or when there was none).
	rec *recording
}

type outcome struct {
	job sweeps.Job
	err error
}

// run hands ready jobs to opts.Workers slots until none is left, or until a
// failure stops the run (stopsRun), which it then returns.
func (r *runner) run(ctx context.Context, st *schedule) (Summary, error) {
	disp := r.opts.Display
	sum := Summary{Total: len(st.order), Skipped: st.done}
	disp.Start(len(st.order), st.done)
	defer disp.Stop()

	ready := make(chan sweeps.Job)
	finished := make(chan outcome)
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	slots := workerSlots(r.opts.Workers, r.opts.GPUs, r.opts.GPUSlots)
	for i, spec := range slots {
		wg.Add(1)
		go func(i int, spec slotSpec) {
			defer wg.Done()
			w := r.slot(i, spec)
			defer w.close()
			for job := range ready {
				finished <- outcome{job, r.runJob(runCtx, w, job)}
			}
		}(i, spec)
	}
	var stopped error
	stop := func(err error) {
		if stopped == nil {
			stopped = err
			cancel(err) // the other jobs go back to pending
		}
	}
	running := 0
	for {
		for running < len(slots) && runCtx.Err() == nil {
			job, ok := st.next()
			if !ok {
				break
			}
			running++
			ready <- job
		}
		if running == 0 && (r.rec == nil || runCtx.Err() != nil) {
			break
		}
		select {
		case o := <-finished:
			running--
			if stopsRun(o.err) {
				stop(o.err)
			}
			st.record(o, runCtx.Err() != nil, &sum)
		case <-r.progress():
			// More jobs are recorded: some may be ready.
		case err := <-r.recordDone():
			r.rec = nil
			if stopsRun(err) {
				stop(err)
			}
		}
	}
	close(ready)
	wg.Wait()
	if r.rec != nil { // the run stopped or was interrupted mid-recording
		r.rec.stop()
		r.rec = nil
	}
	sum.Blocked = st.blocked()
	if ctx.Err() != nil && st.remaining() > 0 {
		sum.Interrupted = true
	}
	disp.Summary(sum)
	if stopped != nil {
		return sum, r.stop(stopped)
	}
	return sum, nil
}

// progress and recordDone are the recording's channels; nil (never ready)
// once it is done.
func (r *runner) progress() <-chan struct{} {
	if r.rec == nil {
		return nil
	}
	return r.rec.progress
}

func (r *runner) recordDone() <-chan error {
	if r.rec == nil {
		return nil
	}
	return r.rec.done
}

// slot makes worker slot i of spec; the first gets the worker the input
// check started (with the first slot's environment).
func (r *runner) slot(i int, spec slotSpec) *workerSlot {
	name := spec.name
	if r.opts.Owner != "" {
		name = r.opts.Owner + " " + name
	}
	w := &workerSlot{name: name, env: spec.env, opts: r.opts}
	if i == 0 {
		w.c, r.first = r.first, nil
	}
	return w
}

// stop ends a run that a failure stopped: it frees the reserve, so that the
// jobs still marked running can be put back to pending even on a full disk,
// and says what happened and what to do.
func (r *runner) stop(cause error) error {
	if r.reserve {
		freeReserve(r.s.RunDir)
	}
	fix := "fix the cause and run `grid run` again"
	if diskFull(cause) {
		fix = fmt.Sprintf("the disk holding %s is full: free disk space and run `grid run` again", r.s.RunDir)
	}
	if _, err := r.s.DB.ResetRunning(r.s.GridID, "stopped: "+cause.Error()); err != nil {
		return fmt.Errorf("the run stopped: %w; %s (jobs it was running are still marked running, %v: that run resets them)", cause, fix, err)
	}
	return fmt.Errorf("the run stopped: %w; %s; finished jobs are kept", cause, fix)
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
	var held *heldError
	if err != nil && !errors.Is(err, errDoneElsewhere) && !errors.As(err, &held) {
		return stopRun(fmt.Errorf("claim of job %s: %w", job.ID, err)) // the run directory cannot be written
	}
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	var hb sync.WaitGroup
	hb.Add(1)
	go r.claims.heartbeat(job.ID, claim, claimHeartbeat, stop, &hb, func(err error) { r.opts.Logger.Warn(err.Error()) })
	err = r.runWithRetries(ctx, w, job)
	close(stop)
	hb.Wait()
	if r.published != nil {
		r.publishedMu.Lock()
		perr := r.published()
		r.publishedMu.Unlock()
		if perr != nil && err == nil {
			err = stopRun(fmt.Errorf("publishing the shard: %w", perr))
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
