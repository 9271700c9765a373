package orchestrator

import (
	"context"
	"sync/atomic"
)

// recordPart is how many jobs are recorded at a time when `grid run`
// records a changed grid: the first part before any job starts, the others
// while jobs run. Recording 200,000 jobs takes seconds; the first of them
// need not wait for the last. (A variable: tests record in small parts.)
var recordPart = 4000

// recording is a grid's job list being recorded part by part, in grid
// (topological) order, so that the jobs recorded so far are a prefix of the
// list.
type recording struct {
	recorded atomic.Int64  // how many of the grid's jobs are recorded
	progress chan struct{} // signalled after each part
	done     chan error    // the outcome, sent once
	cancel   func()        // stops it after the part it is writing
}

// stop stops the recording and waits for it to end.
func (rec *recording) stop() {
	rec.cancel()
	<-rec.done
}

// recordInParts opens the database and records the grid, and its job list
// if it changed: the first part now, the rest in the background. It returns
// nil when the list was recorded already.
func (s *Session) recordInParts(ctx context.Context) (*recording, error) {
	if s.DB == nil {
		if err := s.openDB(); err != nil {
			return nil, err
		}
	}
	digest, unchanged, err := s.unchanged()
	if err != nil || unchanged {
		return nil, err
	}
	first := min(recordPart, len(s.Grid.Jobs))
	rec := &recording{progress: make(chan struct{}, 1), done: make(chan error, 1)}
	if err := s.recordPart(rec, 0, first); err != nil {
		return nil, err
	}
	ctx, rec.cancel = context.WithCancel(ctx)
	go func() { rec.done <- s.recordRest(ctx, rec, first, digest) }()
	return rec, nil
}

// recordPart records jobs [from, to) of the grid.
func (s *Session) recordPart(rec *recording, from, to int) error {
	specs, err := jobSpecs(s.Grid.Jobs[from:to])
	if err != nil {
		return err
	}
	if _, err := s.DB.SyncJobsPart(s.GridID, from, specs); err != nil {
		return err
	}
	rec.recorded.Store(int64(to))
	select {
	case rec.progress <- struct{}{}:
	default:
	}
	return nil
}

// recordRest records the jobs from position from on, then unlinks the jobs
// the grid no longer lists and stores the list's digest. A cancelled ctx
// stops it between parts: the next run records the rest.
func (s *Session) recordRest(ctx context.Context, rec *recording, from int, digest string) error {
	for from < len(s.Grid.Jobs) {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := min(from+recordPart, len(s.Grid.Jobs))
		if err := s.recordPart(rec, from, to); err != nil {
			return stopRun(err)
		}
		from = to
	}
	listed := make(map[string]bool, len(s.Grid.Jobs))
	for _, j := range s.Grid.Jobs {
		listed[j.ID] = true
	}
	if err := s.DB.UnlinkOthers(s.GridID, listed); err != nil {
		return stopRun(err)
	}
	return stopRun(s.DB.SetJobsDigest(s.GridID, digest))
}
