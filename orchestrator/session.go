// Package orchestrator schedules the jobs of a grid: it expands the grid file
// (sweeps), keeps the state of every job in the run's SQLite database
// (results), and runs ready jobs on plugin worker processes (worker), never
// running a finished job twice. It is the only writer of the database.
package orchestrator

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// DBFile is the name of the database inside a run directory.
const DBFile = "grid.db"

// Session is one grid file opened against its run directory: the expanded
// jobs and the database that records them.
type Session struct {
	Grid   *sweeps.Grid
	RunDir string // the grid's `out`, resolved against the grid file
	DB     *results.DB
	GridID int64
}

// Open expands the grid file, opens (or creates) the run's database and
// records the grid and any job not seen before as pending. Jobs already in
// the database keep their state: that is what makes runs resumable.
func Open(gridFile string) (*Session, error) {
	g, err := sweeps.Load(gridFile)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(gridFile)
	if err != nil {
		return nil, err
	}
	runDir := g.Resolve(g.Out)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	db, err := results.Open(filepath.Join(runDir, DBFile))
	if err != nil {
		return nil, err
	}
	s := &Session{Grid: g, RunDir: runDir, DB: db}
	abs, _ := filepath.Abs(gridFile)
	if s.GridID, err = db.UpsertGrid(g.Name, abs, string(src)); err != nil {
		db.Close()
		return nil, err
	}
	specs := make([]results.JobSpec, 0, len(g.Jobs))
	for _, j := range g.Jobs {
		spec, err := jobSpec(j)
		if err != nil {
			db.Close()
			return nil, err
		}
		specs = append(specs, spec)
	}
	if _, err := db.SyncJobs(s.GridID, specs); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the database.
func (s *Session) Close() error { return s.DB.Close() }

// CheckpointPath is where a train job's checkpoint lives in the run directory.
func (s *Session) CheckpointPath(jobID string) string {
	return filepath.Join(s.RunDir, "jobs", jobID, "checkpoint.safetensors")
}

// ReportDir is where `grid report` writes.
func (s *Session) ReportDir() string { return ReportDirOf(s.RunDir) }

// ReportDirOf is the report directory of a run directory.
func ReportDirOf(runDir string) string { return filepath.Join(runDir, "report") }

// Plan states, as `grid plan` prints them.
const (
	PlanNew     = "new"     // not in the database yet
	PlanPending = "pending" // known, never finished
	PlanRunning = "running" // another run (or a killed one) holds it
	PlanDone    = "done"
	PlanFailed  = "failed"
	PlanStale   = "stale" // done, but its inputs changed since: an upstream job finished after it started, or its checkpoint is gone
)

// PlanRow is one job of `grid plan`.
type PlanRow struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Kind     study.Kind `json:"kind"`
	State    string     `json:"state"`
	Deps     []string   `json:"deps,omitempty"`
	Attempts int        `json:"attempts"`
	Reason   string     `json:"reason,omitempty"`
}

// Plan reports, without running anything, what `grid run` would do with each
// job. It reads the database as it was before Open recorded new jobs, so it is
// computed from the job rows' states and attempts: a job with no attempts and
// no finish is new.
func Plan(gridFile string) ([]PlanRow, error) {
	g, err := sweeps.Load(gridFile)
	if err != nil {
		return nil, err
	}
	known := map[string]results.Job{}
	dbPath := filepath.Join(g.Resolve(g.Out), DBFile)
	if _, err := os.Stat(dbPath); err == nil {
		db, err := results.Open(dbPath)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		for _, j := range g.Jobs {
			if row, err := db.Job(j.ID); err == nil {
				known[j.ID] = row
			}
		}
	}
	rows := make([]PlanRow, 0, len(g.Jobs))
	for _, j := range g.Jobs {
		r := PlanRow{ID: j.ID, Name: j.Name, Kind: j.Config.Kind, Deps: j.Deps, State: PlanNew}
		if k, ok := known[j.ID]; ok {
			r.Attempts = k.Attempts
			r.State = string(k.State)
			if k.State == results.StateFailed {
				r.Reason = k.Error
			}
			if k.State == results.StateDone {
				if why := staleReason(g, j, k, known); why != "" {
					r.State, r.Reason = PlanStale, why
				}
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// staleReason says why a done job's result no longer follows from its inputs.
func staleReason(g *sweeps.Grid, j sweeps.Job, row results.Job, known map[string]results.Job) string {
	for _, d := range j.Deps {
		dep, ok := known[d]
		if !ok || dep.State != results.StateDone {
			return "upstream " + d + " is not done"
		}
		if dep.Finished != nil && row.Started != nil && dep.Finished.After(*row.Started) {
			return "upstream " + d + " finished again at " + dep.Finished.Format(time.RFC3339)
		}
	}
	if j.Config.Kind == study.KindTrain {
		p := filepath.Join(g.Resolve(g.Out), "jobs", j.ID, "checkpoint.safetensors")
		if _, err := os.Stat(p); err != nil {
			return "checkpoint missing: " + p
		}
	}
	return ""
}
