package orchestrator

import (
	"os"
	"path/filepath"
	"time"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

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
// job, from the job rows' states and attempts as the database holds them (a
// job it does not hold is new). It reads the database in one pass, so that
// a grid of any size is planned in about the time it takes to expand.
func Plan(gridFile string) ([]PlanRow, error) {
	s, err := Load(gridFile)
	if err != nil {
		return nil, err
	}
	return s.Plan()
}

// Plan is Plan of a loaded session (which need not be recorded).
func (s *Session) Plan() ([]PlanRow, error) {
	g, runDir := s.Grid, s.RunDir
	known, err := storedJobs(runDir)
	if err != nil {
		return nil, err
	}
	stale := staleJobs(g, runDir, known)
	rows := make([]PlanRow, 0, len(g.Jobs))
	for _, j := range g.Jobs {
		r := PlanRow{ID: j.ID, Name: j.Name, Kind: j.Config.Kind, Deps: j.Deps, State: PlanNew}
		if k, ok := known[j.ID]; ok {
			r.Attempts = k.Attempts
			r.State = string(k.State)
			if k.State == results.StateFailed {
				r.Reason = k.Error
			}
			if why, ok := stale[j.ID]; ok {
				r.State, r.Reason = PlanStale, why
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// storedJobs reads every job row of a run directory's database; none when
// the grid was never run.
func storedJobs(runDir string) (map[string]results.Job, error) {
	dbPath := filepath.Join(runDir, DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return map[string]results.Job{}, nil
	}
	db, err := results.Open(dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.JobRows()
}

// staleJobs finds the grid's done jobs whose result no longer follows from
// their inputs, with the reason for each.
func staleJobs(g *sweeps.Grid, runDir string, known map[string]results.Job) map[string]string {
	out := map[string]string{}
	for _, j := range g.Jobs {
		if k, ok := known[j.ID]; ok && k.State == results.StateDone {
			if why := staleReason(runDir, j, k, known); why != "" {
				out[j.ID] = why
			}
		}
	}
	return out
}

// staleReason says why a done job's result no longer follows from its inputs.
func staleReason(runDir string, j sweeps.Job, row results.Job, known map[string]results.Job) string {
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
		p := filepath.Join(runDir, "jobs", j.ID, "checkpoint.safetensors")
		if _, err := os.Stat(p); err != nil {
			return "checkpoint missing: " + p
		}
	}
	return ""
}
