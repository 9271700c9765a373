package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/fomo-grid/grid/internal/atomicfile"
	"github.com/fomo-grid/grid/orchestrator"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// TaskOptions tune an array task.
type TaskOptions struct {
	Out     io.Writer // progress lines (the task's SLURM log)
	Options orchestrator.Options
}

// RunTask is one array task: it runs the jobs of task offset +
// $SLURM_ARRAY_TASK_ID of a stage of the manifest. requeue is true when it
// stopped at SIGUSR1 with jobs left; the caller exits with ExitRequeue.
// SIGTERM and SIGINT stop it too, without requeueing: SLURM sends SIGTERM
// when the task is cancelled or its time is up.
func RunTask(ctx context.Context, m *Manifest, stage string, offset int, opts TaskOptions) (requeue bool, err error) {
	index, err := strconv.Atoi(os.Getenv("SLURM_ARRAY_TASK_ID"))
	if err != nil {
		return false, fmt.Errorf("SLURM_ARRAY_TASK_ID=%q: not in an array task", os.Getenv("SLURM_ARRAY_TASK_ID"))
	}
	t, err := m.task(stage, offset+index)
	if err != nil {
		return false, err
	}
	ctx, stopped := stopOnSignals(ctx)
	sum, err := t.run(ctx, opts)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(opts.Out, "task %s: %s: %d done now, %d done before, %d failed, %d blocked, %d run by another process\n",
		t.name, plural(sum.Total, "job"), sum.Done, sum.Skipped, sum.Failed, sum.Blocked, sum.Elsewhere)
	if sum.Interrupted {
		if stopped() == syscall.SIGUSR1 {
			return true, nil
		}
		return false, fmt.Errorf("task %s stopped by %v with %d jobs left", t.name, stopped(), sum.Total-sum.Done-sum.Skipped)
	}
	return false, nil
}

// arrayTask is one task of a submission.
type arrayTask struct {
	m     *Manifest
	name  string // "<submission>-<stage>-<task>": its shard's name
	share orchestrator.Share
}

func (m *Manifest) task(stage string, n int) (*arrayTask, error) {
	st, ok := m.Stage(stage)
	if !ok || n < 0 || n >= len(st.Tasks) {
		return nil, fmt.Errorf("%s: no task %d in stage %q", m.Path(), n, stage)
	}
	byID := map[string]sweeps.Job{}
	for _, j := range m.Jobs {
		byID[j.ID] = j
	}
	g := &sweeps.Grid{Name: m.Grid.Name, Out: m.Grid.RunDir, Retries: m.Grid.Retries, Workers: st.Resources.Workers,
		File: m.Grid.File, Dir: m.Grid.Dir}
	for _, id := range st.Tasks[n] {
		j, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("%s: task %d of stage %s lists job %s, which it does not describe", m.Path(), n, stage, id)
		}
		g.Jobs = append(g.Jobs, j)
	}
	done := map[string]bool{}
	for _, id := range m.DoneBefore {
		done[id] = true
	}
	return &arrayTask{m: m, name: fmt.Sprintf("%s-%s-%d", m.Submission, stage, n),
		share: orchestrator.Share{Grid: g, DoneBefore: done, Attempts: m.Attempts}}, nil
}

// run runs the task's share in a database on node-local disk, starting from
// the shard an earlier start of the task published, and publishes it after
// every job and at the end.
func (t *arrayTask) run(ctx context.Context, opts TaskOptions) (orchestrator.Summary, error) {
	published := filepath.Join(orchestrator.ShardDir(t.m.Grid.RunDir), t.name+".db")
	scratch, err := os.MkdirTemp(scratchRoot(), "grid-"+t.name+"-")
	if err != nil {
		return orchestrator.Summary{}, err
	}
	defer os.RemoveAll(scratch)
	local := filepath.Join(scratch, "shard.db")
	if err := copyIfExists(published, local); err != nil {
		return orchestrator.Summary{}, fmt.Errorf("resume from %s: %w", published, err)
	}
	t.share.Published = func(db *results.DB) error { return atomicfile.Write(published, 0o644, db.WriteSnapshot) }
	s, err := orchestrator.OpenShare(t.share, local)
	if err != nil {
		return orchestrator.Summary{}, err
	}
	defer s.Close()
	o := opts.Options
	o.Owner = "slurm " + os.Getenv("SLURM_ARRAY_JOB_ID") + "_" + os.Getenv("SLURM_ARRAY_TASK_ID")
	o.Workers = t.share.Grid.Workers
	o.Retries = -1
	if o.Display == nil {
		o.Display = orchestrator.NewLog(opts.Out)
	}
	sum, runErr := s.RunShare(ctx, o, t.share)
	if err := t.share.Published(s.DB); err != nil {
		return sum, errors.Join(runErr, fmt.Errorf("publish %s: %w", published, err))
	}
	return sum, runErr
}

// scratchRoot is node-local disk: SLURM_TMPDIR where the site sets it, else
// TMPDIR (often a per-job directory), else the system's.
func scratchRoot() string {
	for _, v := range []string{"SLURM_TMPDIR", "TMPDIR"} {
		if d := os.Getenv(v); d != "" {
			return d
		}
	}
	return os.TempDir()
}

func copyIfExists(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// stopOnSignals cancels ctx at SIGUSR1, SIGTERM or SIGINT, for the rest
// of the process; stopped says which came first (nil if none).
func stopOnSignals(parent context.Context) (context.Context, func() os.Signal) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	var mu sync.Mutex
	var got os.Signal
	go func() {
		for sig := range ch {
			mu.Lock()
			if got == nil {
				got = sig
			}
			mu.Unlock()
			cancel()
		}
	}()
	return ctx, func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}
