package results

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
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
	// Device and PeakMemory (bytes) are what the job used, when its engine
	// measured them; "" and 0 store NULL.
	Device     string
	PeakMemory int64
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
	return db.syncJobs(gridID, 0, jobs, true)
}

// SyncJobsPart records part of a grid's job list as SyncJobs records a
// whole one: the jobs at positions offset, offset+1, ... of the list, in
// their own transaction. It unlinks nothing. A caller records a long list
// part by part, from the start (dependencies come first in a list, so each
// part's are stored by then), and then calls UnlinkOthers: a grid of
// 200,000 jobs can then start its first jobs while the rest is recorded.
func (db *DB) SyncJobsPart(gridID int64, offset int, jobs []JobSpec) (int, error) {
	return db.syncJobs(gridID, offset, jobs, false)
}

// UnlinkOthers unlinks from the grid every job not among ids (their rows
// and results stay), and marks other grids' digests stale, as the end of a
// sync in parts.
func (db *DB) UnlinkOthers(gridID int64, ids map[string]bool) error {
	tx, err := db.sql.Begin()
	if err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	defer tx.Rollback()
	if err := unlinkOthers(tx, gridID, ids); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	return nil
}

func (db *DB) syncJobs(gridID int64, offset int, jobs []JobSpec, whole bool) (int, error) {
	seen := make(map[string]bool, len(jobs))
	for i, j := range jobs {
		if err := validateSpec(j); err != nil {
			return 0, fmt.Errorf("results: job %d (%s): %w", offset+i, j.Name, err)
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
	ids, err := json.Marshal(slices.Collect(maps.Keys(seen)))
	if err != nil {
		return 0, err
	}
	sorted := byID(jobs)
	added, err := storeJobs(tx, sorted, string(ids))
	if err != nil {
		return 0, err
	}
	if err := storeDeps(tx, sorted, seen, string(ids)); err != nil {
		return 0, err
	}
	if err := linkJobs(tx, gridID, offset, jobs, sorted, string(ids)); err != nil {
		return 0, err
	}
	if whole {
		if err := unlinkOthers(tx, gridID, seen); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	return added, nil
}

// unlinkOthers is UnlinkOthers in a transaction. Names and labels of jobs
// shared with other grids may have changed: those grids record theirs
// again next time (see SetJobsDigest).
func unlinkOthers(tx *sql.Tx, gridID int64, listed map[string]bool) error {
	rows, err := tx.Query(`SELECT job_id FROM grid_jobs WHERE grid_id = ?`, gridID)
	if err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	var gone []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("results: sync jobs: %w", err)
		}
		if !listed[id] {
			gone = append(gone, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	for _, id := range gone {
		if _, err := tx.Exec(`DELETE FROM grid_jobs WHERE grid_id = ? AND job_id = ?`, gridID, id); err != nil {
			return fmt.Errorf("results: sync jobs: unlink removed job %s: %w", id, err)
		}
	}
	if _, err := tx.Exec(`UPDATE grids SET jobs_digest = NULL WHERE id <> ?`, gridID); err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	return nil
}

// storedJob is what SyncJobs compares of a job already stored.
type storedJob struct{ kind, name, labels string }

// storeJobs inserts the jobs not stored yet as pending and refreshes the
// name and labels of stored ones where they changed; it returns how many
// were inserted. Stored rows are read in one pass, so a grid run again
// costs one scan and the few writes that differ, not a query per job.
func storeJobs(tx *sql.Tx, jobs []*JobSpec, ids string) (int, error) {
	stored := map[string]storedJob{}
	rows, err := tx.Query(`SELECT id, kind, name, labels FROM jobs WHERE id IN (SELECT value FROM json_each(?))`, ids)
	if err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	for rows.Next() {
		var id string
		var s storedJob
		if err := rows.Scan(&id, &s.kind, &s.name, &s.labels); err != nil {
			rows.Close()
			return 0, fmt.Errorf("results: sync jobs: %w", err)
		}
		stored[id] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	insert := newInserter(tx, `INSERT INTO jobs (id, name, kind, config, labels, created_at) VALUES`, 6, "")
	update, err := tx.Prepare(`UPDATE jobs SET name = ?, labels = ? WHERE id = ?`)
	if err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	defer update.Close()
	now := formatTime(time.Now())
	added := 0
	for _, j := range jobs {
		labels := labelsOrEmpty(j.Labels)
		old, ok := stored[j.ID]
		switch {
		case !ok:
			if err := insert.add(j.ID, j.Name, string(j.Kind), string(j.Config), labels, now); err != nil {
				return 0, fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
			}
			added++
		case old.kind != string(j.Kind):
			return 0, fmt.Errorf("results: job %s (%s) is stored as a %s job, not %s", j.ID, j.Name, old.kind, j.Kind)
		case old.name != j.Name || old.labels != labels:
			if _, err := update.Exec(j.Name, labels, j.ID); err != nil {
				return 0, fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
			}
		}
	}
	if err := insert.flush(); err != nil {
		return 0, fmt.Errorf("results: sync jobs: %w", err)
	}
	return added, nil
}

// storeDeps records the jobs' dependencies that are not stored yet. A
// dependency outside the list must be a stored job.
func storeDeps(tx *sql.Tx, jobs []*JobSpec, listed map[string]bool, ids string) error {
	type edge struct{ job, dep string }
	have := map[edge]bool{}
	rows, err := tx.Query(`SELECT job_id, dep_id FROM job_deps WHERE job_id IN (SELECT value FROM json_each(?))`, ids)
	if err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	for rows.Next() {
		var e edge
		if err := rows.Scan(&e.job, &e.dep); err != nil {
			rows.Close()
			return fmt.Errorf("results: sync jobs: %w", err)
		}
		have[e] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	insert := newInserter(tx, `INSERT INTO job_deps (job_id, dep_id) VALUES`, 2, `ON CONFLICT DO NOTHING`)
	for _, j := range jobs {
		for _, dep := range j.Deps {
			if have[edge{j.ID, dep}] {
				continue
			}
			if !listed[dep] {
				var n int
				if err := tx.QueryRow(`SELECT count(*) FROM jobs WHERE id = ?`, dep).Scan(&n); err != nil {
					return fmt.Errorf("results: job %s (%s): %w", j.ID, j.Name, err)
				}
				if n == 0 {
					return fmt.Errorf("results: job %s (%s) depends on %s, which is neither in the grid nor stored", j.ID, j.Name, dep)
				}
			}
			if err := insert.add(j.ID, dep); err != nil {
				return fmt.Errorf("results: job %s (%s) dependency %s: %w", j.ID, j.Name, dep, err)
			}
		}
	}
	if err := insert.flush(); err != nil {
		return fmt.Errorf("results: sync jobs: dependencies: %w", err)
	}
	return nil
}

// linkJobs links the jobs to the grid at their positions (offset on),
// writing only links that are new or changed.
func linkJobs(tx *sql.Tx, gridID int64, offset int, jobs []JobSpec, sorted []*JobSpec, ids string) error {
	type link struct {
		experiments string
		position    int
	}
	have := map[string]link{}
	rows, err := tx.Query(`SELECT job_id, experiments, position FROM grid_jobs WHERE grid_id = ? AND job_id IN (SELECT value FROM json_each(?))`, gridID, ids)
	if err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	for rows.Next() {
		var id string
		var l link
		if err := rows.Scan(&id, &l.experiments, &l.position); err != nil {
			rows.Close()
			return fmt.Errorf("results: sync jobs: %w", err)
		}
		have[id] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("results: sync jobs: %w", err)
	}
	upsert := newInserter(tx, `INSERT INTO grid_jobs (grid_id, job_id, experiments, position) VALUES`, 4,
		`ON CONFLICT (grid_id, job_id) DO UPDATE SET experiments = excluded.experiments, position = excluded.position`)
	positions := make(map[string]int, len(jobs))
	for i, j := range jobs {
		positions[j.ID] = offset + i
	}
	for _, j := range sorted {
		pos := positions[j.ID]
		experiments, err := json.Marshal(nonNil(j.Experiments))
		if err != nil {
			return err
		}
		if l, ok := have[j.ID]; ok && l.position == pos && l.experiments == string(experiments) {
			continue
		}
		if err := upsert.add(gridID, j.ID, string(experiments), pos); err != nil {
			return fmt.Errorf("results: job %s (%s): link to grid: %w", j.ID, j.Name, err)
		}
	}
	if err := upsert.flush(); err != nil {
		return fmt.Errorf("results: sync jobs: links: %w", err)
	}
	return nil
}

// byID is the jobs in ID order: rows inserted in key order go to the end of
// the index pages instead of to pages all over the file.
func byID(jobs []JobSpec) []*JobSpec {
	out := make([]*JobSpec, len(jobs))
	for i := range jobs {
		out[i] = &jobs[i]
	}
	slices.SortFunc(out, func(a, b *JobSpec) int { return strings.Compare(a.ID, b.ID) })
	return out
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

// isJSONObject checks without decoding: valid JSON whose first token is
// "{" (a grid of 200,000 jobs would spend seconds unmarshalling maps).
func isJSONObject(raw json.RawMessage) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
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

// SetJobsDigest records digest as describing the job list the grid was last
// synced with (SyncJobs). A caller that computes the same digest for its
// job list, while JobsDigest reports every job still linked, may skip
// SyncJobs: nothing would change.
func (db *DB) SetJobsDigest(gridID int64, digest string) error {
	if _, err := db.sql.Exec(`UPDATE grids SET jobs_digest = ? WHERE id = ?`, digest, gridID); err != nil {
		return fmt.Errorf("results: grid %d: %w", gridID, err)
	}
	return nil
}

// JobsDigest returns the digest SetJobsDigest last recorded for the grid
// ("" when none, or when another grid's sync may have changed shared jobs
// since) and how many jobs are linked to the grid now.
func (db *DB) JobsDigest(gridID int64) (digest string, linked int, err error) {
	var d sql.NullString
	err = db.sql.QueryRow(`SELECT jobs_digest, (SELECT count(*) FROM grid_jobs WHERE grid_id = ?1) FROM grids WHERE id = ?1`, gridID).Scan(&d, &linked)
	if err != nil {
		return "", 0, fmt.Errorf("results: grid %d: %w", gridID, err)
	}
	return d.String, linked, nil
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
	now := formatTime(time.Now())
	if _, err := tx.Exec(`
		UPDATE jobs SET state = 'running', attempts = ?, started_at = ?, heartbeat_at = ?, finished_at = NULL, worker = ?
		WHERE id = ?`, attempt, now, now, nullIfEmpty(worker), id); err != nil {
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
	if _, err := tx.Exec(`UPDATE jobs SET state = 'done', finished_at = ?, error = NULL, harmonic_mean = ?,
		device = ?, peak_memory = ? WHERE id = ?`,
		formatTime(time.Now()), hm, nullIfZero(c.Device), nullIfZero(c.PeakMemory), id); err != nil {
		return fmt.Errorf("results: complete job %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("results: complete job %s: %w", id, err)
	}
	return nil
}

// nullIfZero stores a value not measured as NULL.
func nullIfZero[T comparable](v T) any {
	var zero T
	if v == zero {
		return nil
	}
	return v
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
// pending and returns how many there were. An orchestrator calls it when it
// starts (such jobs were left behind by one that was killed) and when it
// stops on a failure it cannot run past. Their attempt still counts (its
// partial metrics stay stored under its number), and the error column says
// why it ended: reason, then the attempt number.
func (db *DB) ResetRunning(gridID int64, reason string) (int, error) {
	res, err := db.sql.Exec(`
		UPDATE jobs SET state = 'pending', error = ? || ' (attempt ' || attempts || ')'
		WHERE state = 'running' AND id IN (SELECT job_id FROM grid_jobs WHERE grid_id = ?)`, reason, gridID)
	if err != nil {
		return 0, fmt.Errorf("results: reset running jobs of grid %d: %w", gridID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Redo puts jobs back to pending with their attempt count at zero, so that
// the next run runs them again, whatever their state (a running job is
// left alone: its run decides). Their results stay stored until the new
// run replaces them, so a redo that fails loses nothing. All or none are
// reset, in one transaction.
func (db *DB) Redo(ids []string) error {
	tx, err := db.sql.Begin()
	if err != nil {
		return fmt.Errorf("results: redo: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(`UPDATE jobs SET state = 'pending', attempts = 0 WHERE id = ? AND state <> 'running'`)
	if err != nil {
		return fmt.Errorf("results: redo: %w", err)
	}
	defer stmt.Close()
	for _, id := range ids {
		if _, err := stmt.Exec(id); err != nil {
			return fmt.Errorf("results: redo job %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("results: redo: %w", err)
	}
	return nil
}

// Heartbeat records that a running job's worker reported at t.
func (db *DB) Heartbeat(id string, t time.Time) error {
	if _, err := db.sql.Exec(`UPDATE jobs SET heartbeat_at = ? WHERE id = ?`, formatTime(t), id); err != nil {
		return fmt.Errorf("results: heartbeat of job %s: %w", id, err)
	}
	return nil
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
