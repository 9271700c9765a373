package orchestrator

import (
	"os"
	"path/filepath"
	"time"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// StatusRow is one job as `grid status` shows it.
type StatusRow struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Kind     study.Kind `json:"kind"`
	State    string     `json:"state"` // new (not in the database yet), pending, running, done, failed
	Attempts int        `json:"attempts"`
	// Seconds is how long the last attempt took, or for a running job how
	// long it has run so far.
	Seconds float64 `json:"seconds,omitempty"`
	// LastReport is when a running job's worker last reported (a progress
	// event or a heartbeat).
	LastReport *time.Time `json:"last_report,omitempty"`
	// Orphaned marks a job left running by a `grid run` that no longer
	// holds the run directory's lock (it was killed, or its machine
	// died): nothing runs it; the next `grid run` puts it back to pending.
	Orphaned bool   `json:"orphaned,omitempty"`
	Error    string `json:"error,omitempty"`
	Worker   string `json:"worker,omitempty"`
	Prompt   string `json:"prompt,omitempty"`
	// HarmonicMean is stored with the eval job that completes a base2new cell.
	HarmonicMean *float64             `json:"harmonic_mean,omitempty"`
	Evaluations  []results.Evaluation `json:"evaluations,omitempty"`
	Deps         []string             `json:"deps,omitempty"`
	// Device and PeakMemory (bytes) are what the job's run used, when its
	// engine measured them (GPU jobs).
	Device     string `json:"device,omitempty"`
	PeakMemory int64  `json:"peak_memory,omitempty"`
}

// Status reads the state of every job of the grid file from its run's
// database without changing anything. It reads each table once, so that a
// grid of any size takes about as long as its expansion.
func Status(gridFile string) ([]StatusRow, error) {
	s, err := Load(gridFile)
	if err != nil {
		return nil, err
	}
	return s.Status()
}

// Status is Status of a loaded session (which need not be recorded).
func (s *Session) Status() ([]StatusRow, error) {
	g := s.Grid
	st, err := readStatus(s.RunDir)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rows := make([]StatusRow, 0, len(g.Jobs))
	for _, j := range g.Jobs {
		r := StatusRow{ID: j.ID, Name: j.Name, Kind: j.Config.Kind, State: PlanNew, Deps: j.Deps}
		if row, ok := st.jobs[j.ID]; ok {
			r.State, r.Attempts, r.Error, r.Worker = string(row.State), row.Attempts, row.Error, row.Worker
			r.HarmonicMean = row.HarmonicMean
			r.Device, r.PeakMemory = row.Device, row.PeakMemory
			r.Seconds = attemptSeconds(row, now)
			if row.State == results.StateRunning {
				r.LastReport = row.Heartbeat
				r.Orphaned = !st.locked
			}
			r.Evaluations = st.evals[j.ID]
			if p := st.prompts[j.ID]; p != nil {
				r.Prompt = p.Text
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// storedStatus is what Status reads of a run directory.
type storedStatus struct {
	jobs    map[string]results.Job
	evals   map[string][]results.Evaluation
	prompts map[string]*results.Prompt
	locked  bool // a `grid run` holds the run directory's lock
}

func readStatus(runDir string) (storedStatus, error) {
	st := storedStatus{locked: runHoldsLock(runDir)}
	dbPath := filepath.Join(runDir, DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return st, nil
	}
	db, err := results.Open(dbPath)
	if err != nil {
		return st, err
	}
	defer db.Close()
	if st.jobs, err = db.JobRows(); err != nil {
		return st, err
	}
	if st.evals, err = db.AllEvaluations(); err != nil {
		return st, err
	}
	st.prompts, err = db.AllPrompts()
	return st, err
}

// attemptSeconds is how long the job's last attempt took, or has run.
func attemptSeconds(row results.Job, now time.Time) float64 {
	switch {
	case row.Started == nil:
		return 0
	case row.State == results.StateRunning:
		return now.Sub(*row.Started).Seconds()
	case row.Finished != nil && row.Finished.After(*row.Started):
		return row.Finished.Sub(*row.Started).Seconds()
	}
	return 0
}
