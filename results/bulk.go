package results

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// The readers below load a whole table in one pass, for views of grids of
// any size (`grid plan` and `grid status` of 200,000 jobs): a query per job
// costs minutes there, one scan well under a second.

// JobRows returns every stored job's state by ID: the columns of Job
// except Name, Kind, Config, Labels, Created, Deps and Experiments (which
// are the grid file's business, and most of the bytes).
func (db *DB) JobRows() (map[string]Job, error) {
	rows, err := db.sql.Query(`SELECT id, state, attempts, started_at, finished_at, error, worker, harmonic_mean, heartbeat_at, device, peak_memory FROM jobs`)
	if err != nil {
		return nil, fmt.Errorf("results: jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]Job{}
	for rows.Next() {
		j, err := scanJobState(rows)
		if err != nil {
			return nil, fmt.Errorf("results: jobs: %w", err)
		}
		out[j.ID] = j
	}
	return out, rows.Err()
}

func scanJobState(row scanner) (Job, error) {
	var j Job
	var started, finished, errText, worker, heartbeat, device sql.NullString
	var hm sql.NullFloat64
	var peak sql.NullInt64
	if err := row.Scan(&j.ID, &j.State, &j.Attempts, &started, &finished, &errText, &worker, &hm, &heartbeat, &device, &peak); err != nil {
		return Job{}, err
	}
	j.Device, j.PeakMemory = device.String, peak.Int64
	if hm.Valid {
		j.HarmonicMean = &hm.Float64
	}
	j.Error, j.Worker = errText.String, worker.String
	var err error
	for _, t := range []struct {
		dst  **time.Time
		src  sql.NullString
		name string
	}{{&j.Started, started, "started_at"}, {&j.Finished, finished, "finished_at"}, {&j.Heartbeat, heartbeat, "heartbeat_at"}} {
		if *t.dst, err = parseNullTime(t.src); err != nil {
			return Job{}, fmt.Errorf("job %s %s: %w", j.ID, t.name, err)
		}
	}
	return j, nil
}

// AllEvaluations returns every stored evaluation, by job ID, each job's
// ordered by split and dataset.
func (db *DB) AllEvaluations() (map[string][]Evaluation, error) {
	rows, err := db.sql.Query(`
		SELECT job_id, split, dataset, total, correct, accuracy, macro_f1 FROM evaluations
		ORDER BY job_id, split, dataset`)
	if err != nil {
		return nil, fmt.Errorf("results: evaluations: %w", err)
	}
	defer rows.Close()
	out := map[string][]Evaluation{}
	for rows.Next() {
		var id string
		var e Evaluation
		if err := rows.Scan(&id, &e.Split, &e.Dataset, &e.Total, &e.Correct, &e.Accuracy, &e.MacroF1); err != nil {
			return nil, fmt.Errorf("results: evaluations: %w", err)
		}
		out[id] = append(out[id], e)
	}
	return out, rows.Err()
}

// AllPrompts returns every stored prompt, by job ID.
func (db *DB) AllPrompts() (map[string]*Prompt, error) {
	rows, err := db.sql.Query(`SELECT job_id, token_ids, text FROM prompts`)
	if err != nil {
		return nil, fmt.Errorf("results: prompts: %w", err)
	}
	defer rows.Close()
	out := map[string]*Prompt{}
	for rows.Next() {
		var id, tokens, text string
		if err := rows.Scan(&id, &tokens, &text); err != nil {
			return nil, fmt.Errorf("results: prompts: %w", err)
		}
		p := &Prompt{Text: text}
		if err := json.Unmarshal([]byte(tokens), &p.TokenIDs); err != nil {
			return nil, fmt.Errorf("results: prompt of job %s: token_ids: %w", id, err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// JobStates returns the state of every stored job, by ID: what a schedule
// needs, without decoding everything Jobs does. (Every job, not only a
// grid's: a grid still being recorded may list jobs it has not linked yet,
// and a done one must not be taken for new.)
func (db *DB) JobStates() (map[string]JobState, error) {
	rows, err := db.sql.Query(`SELECT id, state FROM jobs`)
	if err != nil {
		return nil, fmt.Errorf("results: job states: %w", err)
	}
	defer rows.Close()
	out := map[string]JobState{}
	for rows.Next() {
		var id string
		var state JobState
		if err := rows.Scan(&id, &state); err != nil {
			return nil, fmt.Errorf("results: job states: %w", err)
		}
		out[id] = state
	}
	return out, rows.Err()
}
