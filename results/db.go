// Package results is grid's SQLite store: the grids that were run, the jobs
// they expanded to, each job's training curve, evaluations, learned prompt
// and checkpoint. The orchestrator is its only writer; `grid status` and the
// report read it. docs/schema.md describes every table for users who query
// the file with sqlite3 directly.
//
// The package knows nothing of the sweeps or engine packages: jobs arrive as
// JSON configurations and labels, and the few configuration keys the read
// side needs (dataset, classes, variant, source) are decoded here. Job kinds
// and class halves are internal/study's names.
package results

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// ErrNotFound is wrapped by lookups of a job or grid that is not stored.
var ErrNotFound = errors.New("not found")

// JobState is where a job stands: pending, running, done or failed.
type JobState string

// Job states.
const (
	StatePending JobState = "pending"
	StateRunning JobState = "running"
	StateDone    JobState = "done"
	StateFailed  JobState = "failed"
)

// ArtifactCheckpoint is the only artifact kind so far: a training run's
// learned scores, projection and tokens.
const ArtifactCheckpoint = "checkpoint"

// busyTimeout is how long a statement waits for another connection's lock.
const busyTimeout = 10 * time.Second

// timeLayout is RFC 3339 in UTC with a fixed number of fractional digits, so
// that stored timestamps sort as text in time order.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// DB is an open results database. Its methods are safe for concurrent use.
type DB struct {
	sql  *sql.DB
	path string
	// journalMode is "wal", or "delete" on a network filesystem where
	// SQLite's WAL (shared memory between processes) is not safe.
	journalMode string
}

// Open opens (creating it if needed) the results database at path and brings
// its schema up to date. Several processes may open the same file at once;
// the schema migration is serialised by SQLite's write lock.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("results: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	journal := "WAL"
	if _, remote := networkFilesystem(filepath.Dir(abs)); remote {
		// sqlite.org/wal.html: "WAL does not work over a network
		// filesystem". The rollback journal relies only on file locks.
		journal = "DELETE"
	}
	handle, err := sql.Open("sqlite3", dsn(abs, journal))
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	db := &DB{sql: handle, path: abs, journalMode: strings.ToLower(journal)}
	if err := db.migrate(); err != nil {
		handle.Close()
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return db, nil
}

// dsn builds the go-sqlite3 connection string. The path goes into a file:
// URI, so the characters that URIs reserve are escaped. _txlock=immediate
// makes every transaction take the write lock at BEGIN: a deferred
// transaction that reads and then writes cannot wait for the lock (busy
// timeout does not apply to the upgrade) and fails with "database is locked".
func dsn(path, journal string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	q := url.Values{}
	q.Set("_journal_mode", journal)
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	// 64 MiB of page cache (SQLite's default is 2 MiB): a grid of 200,000
	// jobs is a database of about 100 MiB whose indexes are read and
	// written all over when its jobs are recorded.
	q.Set("_cache_size", "-65536")
	q.Set("_txlock", "immediate")
	return "file:" + escaped + "?" + q.Encode()
}

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// migrate applies the steps of schemaSteps that the file has not seen.
// PRAGMA user_version counts the applied steps. Each step runs in its own
// immediate transaction and re-reads the version inside it, so when two
// processes open a new file at once, the second waits for the first and then
// finds nothing left to do.
func (db *DB) migrate() error {
	for {
		version, err := db.readVersion()
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(schemaSteps) {
			return fmt.Errorf("schema version %d is newer than this grid binary knows (%d); use a newer grid", version, len(schemaSteps))
		}
		if version == len(schemaSteps) {
			return nil
		}
		if err := db.migrateStep(); err != nil {
			return err
		}
	}
}

// readVersion reads PRAGMA user_version. While another connection is
// turning a new file to WAL mode or migrating it, SQLite can answer
// "database is locked" at once, without waiting the busy timeout (seen with
// eight openers of one new file on a loaded machine); the read is tried
// again for as long as the busy timeout.
func (db *DB) readVersion() (int, error) {
	deadline := time.Now().Add(busyTimeout)
	for {
		var version int
		err := db.sql.QueryRow("PRAGMA user_version").Scan(&version)
		var se sqlite3.Error
		busy := errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
		if !busy || time.Now().After(deadline) {
			return version, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (db *DB) migrateStep() error {
	tx, err := db.sql.Begin()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if version >= len(schemaSteps) {
		return nil // another process got here first
	}
	if _, err := tx.Exec(schemaSteps[version]); err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version+1, err)
	}
	// PRAGMA takes no bound parameters; version+1 is an int we computed.
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to schema version %d: %w", version+1, err)
	}
	return nil
}

// SchemaVersion is the number of schema steps this package applies; a
// database it opened reports it as PRAGMA user_version.
func SchemaVersion() int { return len(schemaSteps) }

// IntegrityCheck runs SQLite's PRAGMA integrity_check and foreign_key_check:
// nil when the file is sound and every reference resolves.
func (db *DB) IntegrityCheck() error {
	rows, err := db.sql.Query(`PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("results: integrity check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return fmt.Errorf("results: integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("results: integrity check: %w", err)
	}
	fk, err := db.sql.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("results: foreign key check: %w", err)
	}
	defer fk.Close()
	for fk.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var index int
		if err := fk.Scan(&table, &rowid, &parent, &index); err != nil {
			return fmt.Errorf("results: foreign key check: %w", err)
		}
		problems = append(problems, fmt.Sprintf("%s row %d refers to a missing %s row", table, rowid.Int64, parent))
	}
	if err := fk.Err(); err != nil {
		return fmt.Errorf("results: foreign key check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("results: %s is damaged: %s", db.path, strings.Join(problems, "; "))
	}
	return nil
}

// IsFull says whether err is SQLite's "database or disk is full": the
// filesystem holding the database had no room for a write.
func IsFull(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && e.Code == sqlite3.ErrFull
}
