package orchestrator

import (
	"os"
	"path/filepath"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// StatusRow is one job as `grid status` shows it.
type StatusRow struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Kind     study.Kind `json:"kind"`
	State    string     `json:"state"` // new (not in the database yet), pending, running, done, failed
	Attempts int        `json:"attempts"`
	Seconds  float64    `json:"seconds,omitempty"` // of the last attempt
	Error    string     `json:"error,omitempty"`
	Worker   string     `json:"worker,omitempty"`
	Prompt   string     `json:"prompt,omitempty"`
	// HarmonicMean is stored with the eval job that completes a base2new cell.
	HarmonicMean *float64             `json:"harmonic_mean,omitempty"`
	Evaluations  []results.Evaluation `json:"evaluations,omitempty"`
	Deps         []string             `json:"deps,omitempty"`
}

// Status reads the state of every job of the grid file from its run's
// database without changing anything.
func Status(gridFile string) ([]StatusRow, error) {
	g, err := sweeps.Load(gridFile)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(g.Resolve(g.Out), DBFile)
	var db *results.DB
	if _, err := os.Stat(dbPath); err == nil {
		if db, err = results.Open(dbPath); err != nil {
			return nil, err
		}
		defer db.Close()
	}
	rows := make([]StatusRow, 0, len(g.Jobs))
	for _, j := range g.Jobs {
		r := StatusRow{ID: j.ID, Name: j.Name, Kind: j.Config.Kind, State: PlanNew, Deps: j.Deps}
		if db != nil {
			if row, err := db.Job(j.ID); err == nil {
				r.State, r.Attempts, r.Error, r.Worker = string(row.State), row.Attempts, row.Error, row.Worker
				r.HarmonicMean = row.HarmonicMean
				if row.Started != nil && row.Finished != nil && row.Finished.After(*row.Started) {
					r.Seconds = row.Finished.Sub(*row.Started).Seconds()
				}
				if evs, err := db.Evaluations(j.ID); err == nil {
					r.Evaluations = evs
				}
				if p, err := db.Prompt(j.ID); err == nil && p != nil {
					r.Prompt = p.Text
				}
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}
