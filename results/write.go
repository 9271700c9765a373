package results

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fomo-grid/grid/internal/study"
)

// JobSpec is a job as the orchestrator hands it over after expanding a grid.
type JobSpec struct {
	ID     string          // hash of Config; the job's identity
	Name   string          // readable, e.g. experiment/dataset/cell/kind
	Kind   study.Kind      // train or eval
	Config json.RawMessage // JSON object: every value that decides the result
	Labels json.RawMessage // JSON object: swept values that tell cells apart; may be empty or null
	Deps   []string        // IDs of jobs that must be done first
	// Experiments names the grid file's experiments that produced the job.
	Experiments []string
}

// Metric is one training step's progress.
type Metric struct {
	Attempt   int       `json:"attempt"` // set by Metrics; AddMetrics takes it as an argument
	Step      int       `json:"step"`    // 0-based global step
	Epoch     int       `json:"epoch"`   // 0-based
	Loss      float64   `json:"loss"`    // running mean of the epoch's batch losses
	BatchLoss float64   `json:"batch_loss"`
	LR        float64   `json:"lr"`
	Prompt    string    `json:"prompt"`
	Time      time.Time `json:"ts"` // when the step finished; zero means now
}

// Evaluation is one test of a job's prompt on one split of one dataset.
// Accuracy and MacroF1 are percentages.
type Evaluation struct {
	Split   study.Classes `json:"split"` // the classes tested
	Dataset string        `json:"dataset"`
	Total   int           `json:"total"`
	Correct int           `json:"correct"`
	// Accuracy and MacroF1 are percent, in [0, 100].
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
}

// Prompt is a learned discrete prompt.
type Prompt struct {
	TokenIDs []int  `json:"token_ids"`
	Text     string `json:"text"`
}

// Artifact is a file a job left behind.
type Artifact struct {
	Kind   string `json:"kind"` // ArtifactCheckpoint
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// Completion is everything a finished job reports; CompleteJob stores it in
// one transaction.
type Completion struct {
	Evaluations []Evaluation
	Prompt      *Prompt // nil for jobs that learn none (eval jobs)
	Artifacts   []Artifact
	// HarmonicMean is H = 2BN/(B+N) of a base2new cell, given with the
	// eval job on the new classes that completes it; nil otherwise.
	HarmonicMean *float64
}

// UpsertGrid records that the grid called name was run from file with the
// given TOML text, and returns its ID. Running a grid again keeps its ID and
// replaces file and source with the latest ones.
func (db *DB) UpsertGrid(name, file, source string) (int64, error) {
	if name == "" {
		return 0, errors.New("results: grid name is empty")
	}
	now := formatTime(time.Now())
	var id int64
	err := db.sql.QueryRow(`
		INSERT INTO grids (name, file, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET file = excluded.file, source = excluded.source, updated_at = excluded.updated_at
		RETURNING id`, name, file, source, now, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("results: grid %q: %w", name, err)
	}
	return id, nil
}

// SyncJobs makes the grid's job list equal to jobs, in the given order. Jobs
// not stored yet are inserted as pending; stored ones keep their state,
// attempts and results (only their name and labels are refreshed), which is
// what lets a re-run grid skip finished cells. Jobs no longer in the list are
// unlinked from the grid but kept, with their results, for other grids and
// later runs. It returns how many jobs were new to the database.
func (db *DB) SyncJobs(gridID int64, jobs []JobSpec) (int, error) {
	seen := make(map[string]bool, len(jobs))
	for i, j := range jobs {
		if err := validateSpec(j); err != nil {
			return 0, fmt.Errorf("results: job %d (%s): %w", i, j.Name, err)
		}
		if seen[j.ID] {
			return 0, fmt.Errorf("results: job %s (%s) is listed twice", j.ID, j.Name)
		}
		seen[j.ID] = true
	}

	tx, err := db.sql.Begin()
	if err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	defer tx.Rollback()

	var exists int
	if err := tx.QueryRow(`SELECT count(*) FROM grids WHERE id = ?`, gridID).Scan(&exists); err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	if exists == 0 {
		return 0, fmt.Errorf("results: grid %d: %w", gridID, ErrNotFound)
	}

	now := formatTime(time.Now())
	added := 0
	for _, j := range jobs {
		labels := labelsOrEmpty(j.Labels)
		res, err := tx.Exec(`
			INSERT INTO jobs (id, name, kind, config, labels, state, attempts, created_at)
			VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)
			ON CONFLICT (id) DO NOTHING`,
			j.ID, j.Name, j.Kind, string(j.Config), labels, now)
		if err != nil {
			return 0, fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			added++
			continue
		}
		var kind study.Kind
		if err := tx.QueryRow(`SELECT kind FROM jobs WHERE id = ?`, j.ID).Scan(&kind); err != nil {
			return 0, fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
		}
		if kind != j.Kind {
			return 0, fmt.Errorf("results: job %s (%s) is stored as a %s job, not %s", j.ID, j.Name, kind, j.Kind)
		}
		if _, err := tx.Exec(`UPDATE jobs SET name = ?, labels = ? WHERE id = ?`, j.Name, labels, j.ID); err != nil {
			return 0, fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
		}
	}

	ids := make([]string, 0, len(jobs))
	for pos, j := range jobs {
		ids = append(ids, j.ID)
		for _, dep := range j.Deps {
			if !seen[dep] {
				var n int
				if err := tx.QueryRow(`SELECT count(*) FROM jobs WHERE id = ?`, dep).Scan(&n); err != nil {
					return 0, fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
				}
				if n == 0 {
					return 0, fmt.Errorf("results: job %s (%s) depends on %s, which is neither in the grid nor stored", j.ID, j.Name, dep)
				}
			}
			if _, err := tx.Exec(`INSERT INTO job_deps (job_id, dep_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, j.ID, dep); err != nil {
				return 0, fmt.Errorf("results: job %s (%s) dependency %s: %w", j.ID, j.Name, dep, err)
			}
		}
		experiments, err := json.Marshal(nonNil(j.Experiments))
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(`
			INSERT INTO grid_jobs (grid_id, job_id, experiments, position) VALUES (?, ?, ?, ?)
			ON CONFLICT (grid_id, job_id) DO UPDATE SET experiments = excluded.experiments, position = excluded.position`,
			gridID, j.ID, string(experiments), pos); err != nil {
			return 0, fmt.Errorf("results: job %s (%s): link to grid: %w", j.ID, j.Name, err)
		}
	}
	idList, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(`DELETE FROM grid_jobs WHERE grid_id = ? AND job_id NOT IN (SELECT value FROM json_each(?))`,
		gridID, string(idList)); err != nil {
		return 0, fmt.Errorf("results: sync jobs: unlink removed jobs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	return added, nil
}

func validateSpec(j JobSpec) error {
	if j.ID == "" {
		return errors.New("empty ID")
	}
	if j.Kind != study.KindTrain && j.Kind != study.KindEval {
		return fmt.Errorf("kind %q is neither %q nor %q", j.Kind, study.KindTrain, study.KindEval)
	}
	if !isJSONObject(j.Config) {
		return errors.New("config is not a JSON object")
	}
	if !emptyJSON(j.Labels) && !isJSONObject(j.Labels) {
		return errors.New("labels are not a JSON object")
	}
	for _, d := range j.Deps {
		if d == j.ID {
			return errors.New("depends on itself")
		}
	}
	return nil
}

func isJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// emptyJSON reports whether raw says "no labels": nothing, or null (a nil
// Go map marshals to null).
func emptyJSON(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func labelsOrEmpty(raw json.RawMessage) string {
	if emptyJSON(raw) {
		return "{}"
	}
	return string(raw)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// StartAttempt marks a pending job running on worker and returns the number
// of this attempt (1 for the first). Metrics left by an earlier attempt with
// the same or a higher number (possible after ResetFailed) are dropped, so
// that Metrics never mixes two runs.
func (db *DB) StartAttempt(id, worker string) (int, error) {
	tx, err := db.sql.Begin()
	if err != nil {
		return 0, fmt.Errorf("results: start job %s: %w", id, err)
	}
	defer tx.Rollback()
	var state JobState
	var attempts int
	err = tx.QueryRow(`SELECT state, attempts FROM jobs WHERE id = ?`, id).Scan(&state, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("results: job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("results: start job %s: %w", id, err)
	}
	if state != StatePending {
		return 0, fmt.Errorf("results: cannot start job %s: it is %s, not pending", id, state)
	}
	attempt := attempts + 1
	if _, err := tx.Exec(`
		UPDATE jobs SET state = 'running', attempts = ?, started_at = ?, finished_at = NULL, worker = ?
		WHERE id = ?`, attempt, formatTime(time.Now()), nullIfEmpty(worker), id); err != nil {
		return 0, fmt.Errorf("results: start job %s: %w", id, err)
	}
	if _, err := tx.Exec(`DELETE FROM metrics WHERE job_id = ? AND attempt >= ?`, id, attempt); err != nil {
		return 0, fmt.Errorf("results: start job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("results: start job %s: %w", id, err)
	}
	return attempt, nil
}

// AddMetrics stores training steps of one attempt in a single transaction.
// A step stored twice keeps the later values. NaN or infinite losses are
// stored as NULL (SQLite has no NaN) and read back as NaN.
func (db *DB) AddMetrics(jobID string, attempt int, ms []Metric) error {
	if len(ms) == 0 {
		return nil
	}
	if attempt < 1 {
		return fmt.Errorf("results: metrics of job %s: attempt %d < 1", jobID, attempt)
	}
	tx, err := db.sql.Begin()
	if err != nil {
		return fmt.Errorf("results: metrics of job %s: %w", jobID, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM jobs WHERE id = ?`, jobID).Scan(&n); err != nil {
		return fmt.Errorf("results: metrics of job %s: %w", jobID, err)
	}
	if n == 0 {
		return fmt.Errorf("results: metrics of job %s: %w", jobID, ErrNotFound)
	}
	stmt, err := tx.Prepare(`
		INSERT INTO metrics (job_id, attempt, step, epoch, loss, batch_loss, lr, prompt, ts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, attempt, step) DO UPDATE SET
			epoch = excluded.epoch, loss = excluded.loss, batch_loss = excluded.batch_loss,
			lr = excluded.lr, prompt = excluded.prompt, ts = excluded.ts`)
	if err != nil {
		return fmt.Errorf("results: metrics of job %s: %w", jobID, err)
	}
	defer stmt.Close()
	now := time.Now()
	for _, m := range ms {
		ts := m.Time
		if ts.IsZero() {
			ts = now
		}
		if _, err := stmt.Exec(jobID, attempt, m.Step, m.Epoch, finiteOrNull(m.Loss), finiteOrNull(m.BatchLoss),
			finiteOrNull(m.LR), m.Prompt, formatTime(ts)); err != nil {
			return fmt.Errorf("results: metrics of job %s, step %d: %w", jobID, m.Step, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("results: metrics of job %s: %w", jobID, err)
	}
	return nil
}

// CompleteJob stores a finished job's evaluations, prompt and artifacts and
// marks it done, all in one transaction: if any row is rejected, nothing of
// the completion is stored and the job keeps its state. Results of an earlier
// completion of the same job are replaced.
func (db *DB) CompleteJob(id string, c Completion) error {
	tx, err := db.sql.Begin()
	if err != nil {
		return fmt.Errorf("results: complete job %s: %w", id, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM jobs WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("results: complete job %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("results: complete job %s: %w", id, ErrNotFound)
	}
	for _, table := range []string{"evaluations", "prompts", "artifacts"} {
		if _, err := tx.Exec(`DELETE FROM `+table+` WHERE job_id = ?`, id); err != nil {
			return fmt.Errorf("results: complete job %s: clear %s: %w", id, table, err)
		}
	}
	for i, e := range c.Evaluations {
		if _, err := tx.Exec(`
			INSERT INTO evaluations (job_id, split, dataset, total, correct, accuracy, macro_f1)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, e.Split, e.Dataset, e.Total, e.Correct, finiteOrNull(e.Accuracy), finiteOrNull(e.MacroF1)); err != nil {
			return fmt.Errorf("results: complete job %s: evaluation %d (%s split of %q): %w", id, i, e.Split, e.Dataset, err)
		}
	}
	if c.Prompt != nil {
		tokens, err := json.Marshal(nonNilInts(c.Prompt.TokenIDs))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO prompts (job_id, token_ids, text) VALUES (?, ?, ?)`,
			id, string(tokens), c.Prompt.Text); err != nil {
			return fmt.Errorf("results: complete job %s: prompt: %w", id, err)
		}
	}
	for i, a := range c.Artifacts {
		if _, err := tx.Exec(`INSERT INTO artifacts (job_id, kind, path, bytes, sha256) VALUES (?, ?, ?, ?, ?)`,
			id, a.Kind, a.Path, a.Bytes, a.SHA256); err != nil {
			return fmt.Errorf("results: complete job %s: artifact %d (%s %s): %w", id, i, a.Kind, a.Path, err)
		}
	}
	var hm any
	if c.HarmonicMean != nil {
		hm = finiteOrNull(*c.HarmonicMean)
	}
	if _, err := tx.Exec(`UPDATE jobs SET state = 'done', finished_at = ?, error = NULL, harmonic_mean = ? WHERE id = ?`,
		formatTime(time.Now()), hm, id); err != nil {
		return fmt.Errorf("results: complete job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("results: complete job %s: %w", id, err)
	}
	return nil
}

func nonNilInts(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// FailAttempt records that the current attempt of job id failed with reason.
// A final failure leaves the job failed; otherwise it goes back to pending to
// be tried again. Either way the reason is kept in the error column until the
// job completes.
func (db *DB) FailAttempt(id, reason string, final bool) error {
	state := StatePending
	if final {
		state = StateFailed
	}
	if reason == "" {
		reason = "failed (no reason given)"
	}
	res, err := db.sql.Exec(`UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ?`,
		state, reason, formatTime(time.Now()), id)
	if err != nil {
		return fmt.Errorf("results: fail job %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("results: fail job %s: %w", id, ErrNotFound)
	}
	return nil
}

// ResetRunning puts the grid's jobs that are still marked running back to
// pending and returns how many there were. Call it when an orchestrator
// starts: such jobs were left behind by one that was killed. Their attempt
// still counts (its partial metrics stay stored under its number), and the
// error column says it was interrupted.
func (db *DB) ResetRunning(gridID int64) (int, error) {
	res, err := db.sql.Exec(`
		UPDATE jobs SET state = 'pending', error = 'interrupted: the orchestrator stopped during attempt ' || attempts
		WHERE state = 'running' AND id IN (SELECT job_id FROM grid_jobs WHERE grid_id = ?)`, gridID)
	if err != nil {
		return 0, fmt.Errorf("results: reset running jobs of grid %d: %w", gridID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ResetFailed puts the grid's failed jobs back to pending with their attempt
// count at zero, so that they get the full retry budget again, and returns
// how many there were. It is meant for re-running a grid after the cause of
// its failures was fixed; done jobs are never touched. The last error stays
// visible until the next attempt ends.
func (db *DB) ResetFailed(gridID int64) (int, error) {
	res, err := db.sql.Exec(`
		UPDATE jobs SET state = 'pending', attempts = 0
		WHERE state = 'failed' AND id IN (SELECT job_id FROM grid_jobs WHERE grid_id = ?)`, gridID)
	if err != nil {
		return 0, fmt.Errorf("results: reset failed jobs of grid %d: %w", gridID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// finiteOrNull maps NaN and ±Inf to NULL: SQLite turns NaN into NULL anyway,
// and a CHECK on a NULL passes, so NOT NULL columns reject them explicitly.
func finiteOrNull(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}
