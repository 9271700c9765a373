package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// A share is the part of a grid that one process runs while others run the
// rest: a SLURM array task's jobs. It keeps its results in a database of
// its own (a shard, on the task's local disk), never in the run's database,
// and publishes it for the run's database to merge. Its jobs run through
// the same worker slots, retries and claims as a whole grid's.

// Share describes a share's jobs and what it may assume of others'.
type Share struct {
	// Grid holds the share's jobs (in topological order); its directory
	// resolves their paths, and its Out is the run directory, where
	// checkpoints are written and read and claims are kept.
	Grid *sweeps.Grid
	// DoneBefore lists jobs outside the share known to be done when the
	// share was planned; a dependency is also done when its claim says so.
	DoneBefore map[string]bool
	// Attempts carries each job's attempt count from the run's database,
	// so that attempt numbers continue across shards.
	Attempts map[string]int
	// Published is called after every job ends, to publish the shard.
	Published func(db *results.DB) error
}

// OpenShare opens (or creates) a share's database at dbPath and records the
// share's jobs in it, without their dependencies, which live elsewhere. A
// database published by an earlier start of the same share (a requeued
// task) keeps its jobs' states: done jobs are not run again.
func OpenShare(share Share, dbPath string) (*Session, error) {
	db, err := results.Open(dbPath)
	if err != nil {
		return nil, err
	}
	s := &Session{Grid: share.Grid, RunDir: share.Grid.Resolve(share.Grid.Out), DB: db}
	if err := s.recordShare(share); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) recordShare(share Share) error {
	var err error
	if s.GridID, err = s.DB.UpsertGrid(s.Grid.Name, s.Grid.File, ""); err != nil {
		return err
	}
	specs := make([]results.JobSpec, 0, len(s.Grid.Jobs))
	for _, j := range s.Grid.Jobs {
		spec, err := jobSpec(j)
		if err != nil {
			return err
		}
		spec.Deps = nil
		specs = append(specs, spec)
	}
	if _, err := s.DB.SyncJobs(s.GridID, specs); err != nil {
		return err
	}
	for id, n := range share.Attempts {
		if err := s.DB.CarryAttempts(id, n); err != nil {
			return err
		}
	}
	return nil
}

// RunShare runs the share's jobs that are not done, each once its
// dependencies are done (in the share, or outside it: DoneBefore or a done
// claim). A job another process claimed is left to it; a job whose
// dependency is not done stays pending. Cancelling ctx stops running jobs
// and leaves them pending in the shard.
func (s *Session) RunShare(ctx context.Context, opts Options, share Share) (Summary, error) {
	if err := s.CheckPaths(); err != nil {
		return Summary{}, err
	}
	// Jobs left running by a killed start of this share.
	if _, err := s.DB.ResetRunning(s.GridID, "interrupted: the orchestrator stopped"); err != nil {
		return Summary{}, err
	}
	if opts.Owner == "" {
		opts.Owner = "grid share"
	}
	claims, err := newClaimLog(s.RunDir, opts.Owner)
	if err != nil {
		return Summary{}, err
	}
	r := &runner{s: s, opts: s.withDefaults(opts), claims: claims}
	if share.Published != nil {
		r.published = func() error { return share.Published(s.DB) }
	}
	external := func(id string) bool { return share.DoneBefore[id] || claims.isDone(id) }
	st, err := s.newSchedule(s.Grid.Jobs, external)
	if err != nil {
		return Summary{}, err
	}
	return r.run(ctx, st)
}

// jobSpec is a job as the results store records it.
func jobSpec(j sweeps.Job) (results.JobSpec, error) {
	cfg, err := json.Marshal(j.Config)
	if err != nil {
		return results.JobSpec{}, fmt.Errorf("job %s: %w", j.ID, err)
	}
	labels, err := json.Marshal(j.Labels)
	if err != nil {
		return results.JobSpec{}, fmt.Errorf("job %s: %w", j.ID, err)
	}
	return results.JobSpec{ID: j.ID, Name: j.Name, Kind: j.Config.Kind, Config: cfg, Labels: labels,
		Deps: j.Deps, Experiments: j.Experiments}, nil
}
