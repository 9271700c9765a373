package results

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/fomo-grid/grid/internal/study"
)

// JobTiming is how long a finished job of this database took: what a
// compute estimate for jobs still to run is measured from.
type JobTiming struct {
	Kind   study.Kind
	Config json.RawMessage
	// Steps and StepSeconds (train jobs): the steps of the latest attempt
	// and the seconds between its first and last step, divided by the
	// steps between them (so model loading and the final test are left
	// out). Zero when the attempt logged fewer than two steps, or (for
	// StepSeconds) wrote them with one timestamp.
	Steps       int
	StepSeconds float64
	// Seconds is the whole latest attempt, start to finish.
	Seconds float64
}

// RecentTimings returns the timings of the most recently finished done
// jobs, at most limit of each kind. It reads two metric rows per train
// job through the metrics' primary key, never the whole table.
func (db *DB) RecentTimings(limit int) ([]JobTiming, error) {
	// Each subquery is one seek on the metrics' primary key (job_id,
	// attempt, step): the first and the last step of the latest attempt.
	rows, err := db.sql.Query(`
		SELECT kind, config, (julianday(finished_at) - julianday(started_at)) * 86400,
		       (SELECT step FROM metrics m WHERE m.job_id = j.id AND m.attempt = j.attempts ORDER BY step LIMIT 1),
		       (SELECT step FROM metrics m WHERE m.job_id = j.id AND m.attempt = j.attempts ORDER BY step DESC LIMIT 1),
		       (SELECT ts FROM metrics m WHERE m.job_id = j.id AND m.attempt = j.attempts ORDER BY step LIMIT 1),
		       (SELECT ts FROM metrics m WHERE m.job_id = j.id AND m.attempt = j.attempts ORDER BY step DESC LIMIT 1)
		FROM (SELECT * FROM jobs WHERE state = 'done' AND kind = 'train' AND finished_at IS NOT NULL
		      ORDER BY finished_at DESC LIMIT ?1) j
		UNION ALL
		SELECT kind, config, (julianday(finished_at) - julianday(started_at)) * 86400, NULL, NULL, NULL, NULL
		FROM (SELECT * FROM jobs WHERE state = 'done' AND kind = 'eval' AND finished_at IS NOT NULL
		      ORDER BY finished_at DESC LIMIT ?1)`, limit)
	if err != nil {
		return nil, fmt.Errorf("results: job timings: %w", err)
	}
	defer rows.Close()
	var out []JobTiming
	for rows.Next() {
		var t JobTiming
		var config string
		var seconds sql.NullFloat64
		var first, last sql.NullInt64
		var t0, t1 sql.NullString
		if err := rows.Scan(&t.Kind, &config, &seconds, &first, &last, &t0, &t1); err != nil {
			return nil, fmt.Errorf("results: job timings: %w", err)
		}
		t.Config, t.Seconds = json.RawMessage(config), seconds.Float64
		if first.Valid && last.Valid && last.Int64 > first.Int64 && t0.Valid && t1.Valid {
			a, errA := parseTime(t0.String)
			b, errB := parseTime(t1.String)
			t.Steps = int(last.Int64-first.Int64) + 1
			if errA == nil && errB == nil {
				t.StepSeconds = b.Sub(a).Seconds() / float64(last.Int64-first.Int64)
			}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
