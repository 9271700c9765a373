package results

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/fomo-grid/grid/internal/study"
)

// Grid is a stored grid file.
type Grid struct {
	ID      int64
	Name    string
	File    string // path of the grid file as given to `grid run`
	Source  string // its TOML text as last run
	Created time.Time
	Updated time.Time
}

// Job is a stored job and its scheduling state.
type Job struct {
	ID     string
	Name   string
	Kind   study.Kind
	Config json.RawMessage
	Labels json.RawMessage
	Deps   []string
	// Experiments are the experiments the job belongs to: within the grid
	// for Jobs, across all grids for Job.
	Experiments []string
	State       JobState
	Attempts    int
	Created     time.Time
	Started     *time.Time // start of the latest attempt
	Finished    *time.Time // end of the latest attempt, done or failed
	Error       string     // why the latest attempt failed; empty once done
	Worker      string     // who ran the latest attempt
	Heartbeat   *time.Time // when the latest attempt's worker last reported
	// HarmonicMean is the stored H of the base2new cell an eval job on the
	// new classes completed; nil for every other job.
	HarmonicMean *float64
	// Device and PeakMemory (bytes) are what the job's last completed run
	// used, when its engine measured them; empty and 0 otherwise.
	Device     string
	PeakMemory int64
}

// LabelMap decodes the job's labels. Values that are not strings are given
// as their JSON text.
func (j Job) LabelMap() (map[string]string, error) {
	return decodeLabels(j.Labels)
}

func decodeLabels(raw json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}

// GridByName returns the grid called name, or an error wrapping ErrNotFound.
func (db *DB) GridByName(name string) (Grid, error) {
	g, err := scanGrid(db.sql.QueryRow(`SELECT id, name, file, source, created_at, updated_at FROM grids WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Grid{}, fmt.Errorf("results: grid %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Grid{}, fmt.Errorf("results: grid %q: %w", name, err)
	}
	return g, nil
}

// Grids returns every stored grid, most recently run first.
func (db *DB) Grids() ([]Grid, error) {
	rows, err := db.sql.Query(`SELECT id, name, file, source, created_at, updated_at FROM grids ORDER BY updated_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("results: grids: %w", err)
	}
	defer rows.Close()
	var out []Grid
	for rows.Next() {
		g, err := scanGrid(rows)
		if err != nil {
			return nil, fmt.Errorf("results: grids: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanGrid(row scanner) (Grid, error) {
	var g Grid
	var created, updated string
	if err := row.Scan(&g.ID, &g.Name, &g.File, &g.Source, &created, &updated); err != nil {
		return Grid{}, err
	}
	var err error
	if g.Created, err = parseTime(created); err != nil {
		return Grid{}, err
	}
	if g.Updated, err = parseTime(updated); err != nil {
		return Grid{}, err
	}
	return g, nil
}

const jobColumns = `j.id, j.name, j.kind, j.config, j.labels, j.state, j.attempts, j.created_at, j.started_at, j.finished_at, j.error, j.worker, j.harmonic_mean, j.heartbeat_at, j.device, j.peak_memory`

func scanJob(row scanner, extra ...any) (Job, error) {
	var j Job
	var config, labels, created string
	var started, finished, errText, worker, heartbeat, device sql.NullString
	var hm sql.NullFloat64
	var peak sql.NullInt64
	dest := append([]any{&j.ID, &j.Name, &j.Kind, &config, &labels, &j.State, &j.Attempts, &created,
		&started, &finished, &errText, &worker, &hm, &heartbeat, &device, &peak}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Job{}, err
	}
	if hm.Valid {
		j.HarmonicMean = &hm.Float64
	}
	j.Config = json.RawMessage(config)
	j.Labels = json.RawMessage(labels)
	j.Error = errText.String
	j.Worker = worker.String
	j.Device, j.PeakMemory = device.String, peak.Int64
	var err error
	if j.Created, err = parseTime(created); err != nil {
		return Job{}, fmt.Errorf("job %s created_at: %w", j.ID, err)
	}
	if j.Started, err = parseNullTime(started); err != nil {
		return Job{}, fmt.Errorf("job %s started_at: %w", j.ID, err)
	}
	if j.Finished, err = parseNullTime(finished); err != nil {
		return Job{}, fmt.Errorf("job %s finished_at: %w", j.ID, err)
	}
	if j.Heartbeat, err = parseNullTime(heartbeat); err != nil {
		return Job{}, fmt.Errorf("job %s heartbeat_at: %w", j.ID, err)
	}
	return j, nil
}

func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Jobs returns the grid's jobs in the order SyncJobs was given them.
func (db *DB) Jobs(gridID int64) ([]Job, error) {
	rows, err := db.sql.Query(`
		SELECT `+jobColumns+`, g.experiments
		FROM grid_jobs g JOIN jobs j ON j.id = g.job_id
		WHERE g.grid_id = ? ORDER BY g.position`, gridID)
	if err != nil {
		return nil, fmt.Errorf("results: jobs of grid %d: %w", gridID, err)
	}
	defer rows.Close()
	var jobs []Job
	index := map[string]int{}
	for rows.Next() {
		var experiments string
		j, err := scanJob(rows, &experiments)
		if err != nil {
			return nil, fmt.Errorf("results: jobs of grid %d: %w", gridID, err)
		}
		if err := json.Unmarshal([]byte(experiments), &j.Experiments); err != nil {
			return nil, fmt.Errorf("results: job %s experiments: %w", j.ID, err)
		}
		index[j.ID] = len(jobs)
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: jobs of grid %d: %w", gridID, err)
	}
	deps, err := db.sql.Query(`
		SELECT d.job_id, d.dep_id FROM job_deps d JOIN grid_jobs g ON g.job_id = d.job_id
		WHERE g.grid_id = ? ORDER BY d.rowid`, gridID)
	if err != nil {
		return nil, fmt.Errorf("results: dependencies of grid %d: %w", gridID, err)
	}
	defer deps.Close()
	for deps.Next() {
		var job, dep string
		if err := deps.Scan(&job, &dep); err != nil {
			return nil, fmt.Errorf("results: dependencies of grid %d: %w", gridID, err)
		}
		if i, ok := index[job]; ok {
			jobs[i].Deps = append(jobs[i].Deps, dep)
		}
	}
	return jobs, deps.Err()
}

// Job returns the job with the given ID, or an error wrapping ErrNotFound.
func (db *DB) Job(id string) (Job, error) {
	j, err := scanJob(db.sql.QueryRow(`SELECT `+jobColumns+` FROM jobs j WHERE j.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("results: job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("results: job %s: %w", id, err)
	}
	deps, err := db.sql.Query(`SELECT dep_id FROM job_deps WHERE job_id = ? ORDER BY rowid`, id)
	if err != nil {
		return Job{}, fmt.Errorf("results: job %s: %w", id, err)
	}
	defer deps.Close()
	for deps.Next() {
		var dep string
		if err := deps.Scan(&dep); err != nil {
			return Job{}, fmt.Errorf("results: job %s: %w", id, err)
		}
		j.Deps = append(j.Deps, dep)
	}
	if err := deps.Err(); err != nil {
		return Job{}, fmt.Errorf("results: job %s: %w", id, err)
	}
	rows, err := db.sql.Query(`SELECT DISTINCT e.value FROM grid_jobs g, json_each(g.experiments) e WHERE g.job_id = ? ORDER BY e.value`, id)
	if err != nil {
		return Job{}, fmt.Errorf("results: job %s: %w", id, err)
	}
	defer rows.Close()
	j.Experiments = []string{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return Job{}, fmt.Errorf("results: job %s: %w", id, err)
		}
		j.Experiments = append(j.Experiments, e)
	}
	return j, rows.Err()
}

// StateCounts returns how many of the grid's jobs are in each state; states
// with no jobs are absent.
func (db *DB) StateCounts(gridID int64) (map[JobState]int, error) {
	rows, err := db.sql.Query(`
		SELECT j.state, count(*) FROM grid_jobs g JOIN jobs j ON j.id = g.job_id
		WHERE g.grid_id = ? GROUP BY j.state`, gridID)
	if err != nil {
		return nil, fmt.Errorf("results: states of grid %d: %w", gridID, err)
	}
	defer rows.Close()
	counts := map[JobState]int{}
	for rows.Next() {
		var state JobState
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("results: states of grid %d: %w", gridID, err)
		}
		counts[state] = n
	}
	return counts, rows.Err()
}

// Metrics returns the training curve of the job's latest attempt that
// reported any, by step. Values stored as NULL (NaN or infinite when
// reported) come back as NaN.
func (db *DB) Metrics(jobID string) ([]Metric, error) {
	rows, err := db.sql.Query(`
		SELECT attempt, step, epoch, loss, batch_loss, lr, prompt, ts FROM metrics
		WHERE job_id = ?1 AND attempt = (SELECT max(attempt) FROM metrics WHERE job_id = ?1)
		ORDER BY step`, jobID)
	if err != nil {
		return nil, fmt.Errorf("results: metrics of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		var m Metric
		var loss, batchLoss, lr sql.NullFloat64
		var prompt sql.NullString
		var ts string
		if err := rows.Scan(&m.Attempt, &m.Step, &m.Epoch, &loss, &batchLoss, &lr, &prompt, &ts); err != nil {
			return nil, fmt.Errorf("results: metrics of job %s: %w", jobID, err)
		}
		m.Loss, m.BatchLoss, m.LR = nanIfNull(loss), nanIfNull(batchLoss), nanIfNull(lr)
		m.Prompt = prompt.String
		if m.Time, err = parseTime(ts); err != nil {
			return nil, fmt.Errorf("results: metrics of job %s, step %d: %w", jobID, m.Step, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func nanIfNull(f sql.NullFloat64) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.Float64
}

// Evaluations returns the job's evaluations ordered by split and dataset.
func (db *DB) Evaluations(jobID string) ([]Evaluation, error) {
	rows, err := db.sql.Query(`
		SELECT split, dataset, total, correct, accuracy, macro_f1 FROM evaluations
		WHERE job_id = ? ORDER BY split, dataset`, jobID)
	if err != nil {
		return nil, fmt.Errorf("results: evaluations of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []Evaluation
	for rows.Next() {
		var e Evaluation
		if err := rows.Scan(&e.Split, &e.Dataset, &e.Total, &e.Correct, &e.Accuracy, &e.MacroF1); err != nil {
			return nil, fmt.Errorf("results: evaluations of job %s: %w", jobID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Prompt returns the job's learned prompt, or nil if it has none.
func (db *DB) Prompt(jobID string) (*Prompt, error) {
	var tokens, text string
	err := db.sql.QueryRow(`SELECT token_ids, text FROM prompts WHERE job_id = ?`, jobID).Scan(&tokens, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results: prompt of job %s: %w", jobID, err)
	}
	p := &Prompt{Text: text}
	if err := json.Unmarshal([]byte(tokens), &p.TokenIDs); err != nil {
		return nil, fmt.Errorf("results: prompt of job %s: token_ids: %w", jobID, err)
	}
	return p, nil
}

// Artifacts returns the files the job left behind, e.g. its checkpoint,
// which an eval job of it loads.
func (db *DB) Artifacts(jobID string) ([]Artifact, error) {
	rows, err := db.sql.Query(`SELECT kind, path, bytes, sha256 FROM artifacts WHERE job_id = ? ORDER BY kind, path`, jobID)
	if err != nil {
		return nil, fmt.Errorf("results: artifacts of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		if err := rows.Scan(&a.Kind, &a.Path, &a.Bytes, &a.SHA256); err != nil {
			return nil, fmt.Errorf("results: artifacts of job %s: %w", jobID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// HarmonicMean returns 2BN/(B+N), the base-to-new metric; 0 when both are 0.
func HarmonicMean(base, new float64) float64 {
	if base+new == 0 {
		return 0
	}
	return 2 * base * new / (base + new)
}

// GridEvaluations returns the evaluations of every job of the grid, by job
// ID, each job's ordered by split and dataset: one query for a report.
func (db *DB) GridEvaluations(gridID int64) (map[string][]Evaluation, error) {
	rows, err := db.sql.Query(`
		SELECT e.job_id, e.split, e.dataset, e.total, e.correct, e.accuracy, e.macro_f1
		FROM evaluations e JOIN grid_jobs g ON g.job_id = e.job_id
		WHERE g.grid_id = ? ORDER BY e.job_id, e.split, e.dataset`, gridID)
	if err != nil {
		return nil, fmt.Errorf("results: evaluations of grid %d: %w", gridID, err)
	}
	defer rows.Close()
	out := map[string][]Evaluation{}
	for rows.Next() {
		var id string
		var e Evaluation
		if err := rows.Scan(&id, &e.Split, &e.Dataset, &e.Total, &e.Correct, &e.Accuracy, &e.MacroF1); err != nil {
			return nil, fmt.Errorf("results: evaluations of grid %d: %w", gridID, err)
		}
		out[id] = append(out[id], e)
	}
	return out, rows.Err()
}

// GridPrompts returns the learned prompt of every job of the grid that has
// one, by job ID.
func (db *DB) GridPrompts(gridID int64) (map[string]*Prompt, error) {
	rows, err := db.sql.Query(`
		SELECT p.job_id, p.token_ids, p.text FROM prompts p JOIN grid_jobs g ON g.job_id = p.job_id
		WHERE g.grid_id = ?`, gridID)
	if err != nil {
		return nil, fmt.Errorf("results: prompts of grid %d: %w", gridID, err)
	}
	defer rows.Close()
	out := map[string]*Prompt{}
	for rows.Next() {
		var id, tokens, text string
		if err := rows.Scan(&id, &tokens, &text); err != nil {
			return nil, fmt.Errorf("results: prompts of grid %d: %w", gridID, err)
		}
		p := &Prompt{Text: text}
		if err := json.Unmarshal([]byte(tokens), &p.TokenIDs); err != nil {
			return nil, fmt.Errorf("results: prompt of job %s: token_ids: %w", id, err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// StateText describes the job's state with its attempt count, e.g. "failed
// after 3 attempts", for status lines and reports.
func (j Job) StateText() string {
	switch j.State {
	case StateFailed:
		return "failed after " + plural(j.Attempts, "attempt")
	case StateRunning:
		return "running (attempt " + strconv.Itoa(j.Attempts) + ")"
	}
	return string(j.State)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
