package results

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A shard is a results database that a process which must not write the
// run's database (a SLURM array task: SQLite is not safe on a network
// filesystem with writers on several hosts) fills on its own disk and
// publishes, whole, into the run directory. MergeShard brings what it holds
// about finished jobs into the run's database.

// ShardMerge says what one MergeShard call did.
type ShardMerge struct {
	// Unchanged is set when this very content was merged before: nothing
	// was read.
	Unchanged bool
	// Jobs is how many of the shard's jobs were taken: finished there, and
	// not done here.
	Jobs int
}

// WriteSnapshot writes a consistent copy of the whole database to w, as one
// self-contained file (no journal or WAL beside it), while other
// connections may go on writing.
func (db *DB) WriteSnapshot(w io.Writer) error {
	dir, err := os.MkdirTemp("", "grid-snapshot-")
	if err != nil {
		return fmt.Errorf("results: snapshot: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "snapshot.db")
	if _, err := db.sql.Exec(`VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("results: snapshot of %s: %w", db.path, err)
	}
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("results: snapshot: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("results: snapshot: %w", err)
	}
	return nil
}

// CarryAttempts raises a job's attempt count to at least n, so that the
// attempts of a shard continue the numbering of the run's database and the
// metrics of two attempts never share a number when merged.
func (db *DB) CarryAttempts(id string, n int) error {
	if _, err := db.sql.Exec(`UPDATE jobs SET attempts = ? WHERE id = ? AND attempts < ?`, n, id, n); err != nil {
		return fmt.Errorf("results: job %s attempts: %w", id, err)
	}
	return nil
}

// MergeShard merges the shard file at path into the database, in one
// transaction. It takes the shard's finished jobs: a job done there becomes
// done here with its attempts, metrics, evaluations, prompt and artifacts,
// unless it is done here already (the first completion stays); a job that
// failed there is recorded as failed unless this database knows of a later
// end. Of a job still pending in the shard, only a later attempt count and
// its error are taken (an interrupted attempt); running jobs, and jobs this
// database does not list, are left alone. The shard's content is remembered by its
// SHA-256 under its file name, so merging the same content twice reads it
// once; and a file that is not a complete shard (half written, damaged)
// fails before anything changes.
func (db *DB) MergeShard(path string) (ShardMerge, error) {
	name := filepath.Base(path)
	sum, err := fileSHA256(path, io.Discard)
	if err != nil {
		return ShardMerge{}, fmt.Errorf("results: shard %s: %w", path, err)
	}
	var known string
	err = db.sql.QueryRow(`SELECT sha256 FROM shards WHERE name = ?`, name).Scan(&known)
	if err == nil && known == sum {
		return ShardMerge{Unchanged: true}, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return ShardMerge{}, fmt.Errorf("results: shard %s: %w", path, err)
	}
	n, err := db.mergeShardCopy(path, name)
	if err != nil {
		return ShardMerge{}, fmt.Errorf("results: shard %s: %w", path, err)
	}
	return ShardMerge{Jobs: n}, nil
}

// mergeShardCopy merges a private copy of the shard, hashed as it is
// copied: its publisher may replace the file at any moment, and the ledger
// must name the very content that was merged.
func (db *DB) mergeShardCopy(path, name string) (int, error) {
	dir, err := os.MkdirTemp("", "grid-shard-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	private := filepath.Join(dir, name)
	f, err := os.Create(private)
	if err != nil {
		return 0, err
	}
	sum, err := fileSHA256(path, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := checkShardSize(private); err != nil {
		return 0, err
	}
	return db.mergeShardRows(private, name, sum)
}

// fileSHA256 hashes a file, copying it to w on the way.
func fileSHA256(path string, w io.Writer) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, w), f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mergeShardRows attaches the shard read-only to one connection (ATTACH is
// per connection, and not allowed inside a transaction) and copies its
// finished jobs in one immediate transaction.
func (db *DB) mergeShardRows(path, name, sum string) (int, error) {
	ctx := context.Background()
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// immutable: the shard is never written in place once published (a new
	// version replaces it by rename), so SQLite need not lock it, which a
	// network filesystem may not support.
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path)) + "?mode=ro&immutable=1"
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS shard`, uri); err != nil {
		return 0, err
	}
	defer conn.ExecContext(ctx, `DETACH DATABASE shard`)
	if err := checkShard(ctx, conn); err != nil {
		return 0, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	ids, err := shardJobsToTake(tx)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := takeShardJob(tx, id); err != nil {
			return 0, fmt.Errorf("job %s: %w", id, err)
		}
	}
	if err := noteInterruptedAttempts(tx); err != nil {
		return 0, err
	}
	if err := fillHarmonicMeans(tx); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(`
		INSERT INTO shards (name, sha256, jobs, merged_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, jobs = excluded.jobs, merged_at = excluded.merged_at`,
		name, sum, len(ids), formatTime(time.Now())); err != nil {
		return 0, err
	}
	return len(ids), tx.Commit()
}

// checkShard refuses a file that is not a whole shard of this schema.
// quick_check reads every page, so a file cut short or damaged fails here,
// before the transaction, whatever it is missing.
func checkShard(ctx context.Context, conn *sql.Conn) error {
	var version int
	if err := conn.QueryRowContext(ctx, `PRAGMA shard.user_version`).Scan(&version); err != nil {
		return fmt.Errorf("not a results database: %w", err)
	}
	if version != len(schemaSteps) {
		return fmt.Errorf("schema version %d, this grid writes %d: merge it with the grid that wrote it", version, len(schemaSteps))
	}
	var check string
	if err := conn.QueryRowContext(ctx, `PRAGMA shard.quick_check(1)`).Scan(&check); err != nil {
		return fmt.Errorf("damaged or incomplete: %w", err)
	}
	if check != "ok" {
		return fmt.Errorf("damaged or incomplete: %s", check)
	}
	return nil
}

// checkShardSize compares the file's size with the size its header
// declares: a copy cut short at a page boundary can pass quick_check when
// the missing pages held nothing it follows, but is still not the file
// that was published.
func checkShardSize(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return fmt.Errorf("not a results database (%d-byte header unreadable): %w", len(h), err)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	if string(h[:16]) != "SQLite format 3\x00" || pages == 0 || st.Size() != pageSize*pages {
		return fmt.Errorf("incomplete: %d bytes, its header declares %d pages of %d", st.Size(), pages, pageSize)
	}
	return nil
}

// shardJobsToTake lists the shard's finished jobs that this database lists
// and has not seen end later: done here stays done; a failure is taken only
// if it is newer than the job's last end here.
func shardJobsToTake(tx *sql.Tx) ([]string, error) {
	rows, err := tx.Query(`
		SELECT s.id FROM shard.jobs s JOIN main.jobs m ON m.id = s.id
		WHERE m.state <> 'done' AND (
			s.state = 'done' OR
			(s.state = 'failed' AND (m.finished_at IS NULL OR m.finished_at < s.finished_at)))
		ORDER BY s.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// takeShardJob copies one job's row and results from the shard. Metrics of
// the same attempt and step are replaced, so taking a job twice stores it
// once.
func takeShardJob(tx *sql.Tx, id string) error {
	steps := []string{
		`UPDATE main.jobs SET (state, attempts, started_at, finished_at, error, worker, harmonic_mean, device, peak_memory) =
			(SELECT s.state, max(main.jobs.attempts, s.attempts), s.started_at, s.finished_at, s.error, s.worker, s.harmonic_mean,
				s.device, s.peak_memory
			 FROM shard.jobs s WHERE s.id = main.jobs.id)
		 WHERE id = ?1`,
		`INSERT INTO main.metrics (job_id, attempt, step, epoch, loss, batch_loss, lr, prompt, ts)
		 SELECT job_id, attempt, step, epoch, loss, batch_loss, lr, prompt, ts FROM shard.metrics WHERE job_id = ?1
		 ON CONFLICT (job_id, attempt, step) DO UPDATE SET epoch = excluded.epoch, loss = excluded.loss,
			batch_loss = excluded.batch_loss, lr = excluded.lr, prompt = excluded.prompt, ts = excluded.ts`,
		`DELETE FROM main.evaluations WHERE job_id = ?1`,
		`DELETE FROM main.prompts WHERE job_id = ?1`,
		`DELETE FROM main.artifacts WHERE job_id = ?1`,
		`INSERT INTO main.evaluations SELECT * FROM shard.evaluations WHERE job_id = ?1`,
		`INSERT INTO main.prompts SELECT * FROM shard.prompts WHERE job_id = ?1`,
		`INSERT INTO main.artifacts SELECT * FROM shard.artifacts WHERE job_id = ?1`,
	}
	for _, q := range steps {
		if _, err := tx.Exec(q, id); err != nil {
			return err
		}
	}
	return nil
}

// noteInterruptedAttempts shows attempts a shard made of jobs still
// pending there (a task stopped at its time limit and requeued): the
// attempt count, and the error saying why the attempt ended.
func noteInterruptedAttempts(tx *sql.Tx) error {
	_, err := tx.Exec(`
		UPDATE main.jobs SET (attempts, started_at, finished_at, error, worker) =
			(SELECT s.attempts, s.started_at, s.finished_at, s.error, s.worker FROM shard.jobs s WHERE s.id = main.jobs.id)
		WHERE state = 'pending' AND EXISTS (
			SELECT 1 FROM shard.jobs s WHERE s.id = main.jobs.id AND s.state = 'pending' AND s.attempts > main.jobs.attempts)`)
	return err
}

// fillHarmonicMeans stores H on the eval jobs that complete a base2new cell
// where it is missing: a shard's eval job cannot compute it when its train
// job's base accuracy was measured in another shard.
func fillHarmonicMeans(tx *sql.Tx) error {
	rows, err := tx.Query(`
		SELECT e.id, b.accuracy, n.accuracy
		FROM main.jobs e
		JOIN main.evaluations n ON n.job_id = e.id AND n.split = 'new'
		JOIN main.evaluations b ON b.job_id = e.config ->> '$.source' AND b.split = 'base'
		WHERE e.kind = 'eval' AND e.state = 'done' AND e.harmonic_mean IS NULL AND e.config ->> '$.classes' = 'new'`)
	if err != nil {
		return err
	}
	type fill struct {
		id string
		h  float64
	}
	var fills []fill
	for rows.Next() {
		var id string
		var base, new float64
		if err := rows.Scan(&id, &base, &new); err != nil {
			rows.Close()
			return err
		}
		fills = append(fills, fill{id, HarmonicMean(base, new)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fills {
		if _, err := tx.Exec(`UPDATE main.jobs SET harmonic_mean = ? WHERE id = ?`, finiteOrNull(f.h), f.id); err != nil {
			return err
		}
	}
	return nil
}
