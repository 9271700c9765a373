package results

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fomo-grid/grid/internal/study"
)

// newShard makes a shard the way an array task does: a database on its own
// disk listing the task's jobs (without their dependencies), with attempt
// numbers carried over from the run's database.
func newShard(t *testing.T, jobs ...JobSpec) *DB {
	t.Helper()
	sh := openTemp(t)
	g := mustGrid(t, sh, "sweep")
	for i := range jobs {
		jobs[i].Deps = nil
	}
	mustSync(t, sh, g, jobs...)
	return sh
}

// publish writes the shard's snapshot to dir/name, as an array task does.
func publish(t *testing.T, sh *DB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.WriteSnapshot(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func completeInShard(t *testing.T, db *DB, id string, split study.Classes, acc float64, prompt string) {
	t.Helper()
	attempt, err := db.StartAttempt(id, "slurm 7_1")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddMetrics(id, attempt, []Metric{{Step: 0, Loss: 1.5, Prompt: prompt}, {Step: 1, Loss: 1.2, Prompt: prompt}}); err != nil {
		t.Fatal(err)
	}
	c := Completion{Evaluations: []Evaluation{{Split: split, Dataset: "eurosat", Total: 100, Correct: int(acc), Accuracy: acc, MacroF1: acc - 1}}}
	if prompt != "" {
		c.Prompt = &Prompt{TokenIDs: []int{7, 8}, Text: prompt}
		c.Artifacts = []Artifact{{Kind: ArtifactCheckpoint, Path: "/run/jobs/" + id + "/checkpoint.safetensors", Bytes: 10, SHA256: strings.Repeat("ab", 32)}}
	}
	if err := db.CompleteJob(id, c); err != nil {
		t.Fatal(err)
	}
}

// dump is every row a merge may touch, as text, to compare databases.
func dump(t *testing.T, db *DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, state, attempts, started_at, finished_at, error, worker, harmonic_mean FROM jobs ORDER BY id`,
		`SELECT * FROM metrics ORDER BY job_id, attempt, step`,
		`SELECT * FROM evaluations ORDER BY job_id, split`,
		`SELECT * FROM prompts ORDER BY job_id`,
		`SELECT * FROM artifacts ORDER BY job_id`,
	} {
		rows, err := db.sql.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

func TestMergeShardTakesFinishedJobsOnce(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	train := trainSpec("t", "eurosat", "full", nil)
	eval := evalSpec("e", "t", "eurosat", "new")
	other := trainSpec("o", "dtd", "full", nil)
	mustSync(t, db, g, train, eval, other)

	// Two array tasks: one trained t, the other evaluated it and was
	// still running o when it published.
	trainShard := newShard(t, train)
	completeInShard(t, trainShard, "t", study.ClassesBase, 80, "a photo")
	evalShard := newShard(t, eval, other)
	completeInShard(t, evalShard, "e", study.ClassesNew, 60, "")
	if _, err := evalShard.StartAttempt("o", "slurm 8_0"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The eval's shard is merged first: H is filled in when the train
	// job's base accuracy arrives.
	for _, p := range []string{publish(t, evalShard, dir, "s1-eval-0.db"), publish(t, trainShard, dir, "s1-train-0.db")} {
		m, err := db.MergeShard(p)
		if err != nil || m.Unchanged || m.Jobs != 1 {
			t.Fatalf("merge %s: %+v, %v", p, m, err)
		}
	}
	for id, want := range map[string]JobState{"t": StateDone, "e": StateDone, "o": StatePending} {
		if j := mustJob(t, db, id); j.State != want || (want == StateDone && j.Attempts != 1) {
			t.Errorf("%s: %s after %d attempts, want %s", id, j.State, j.Attempts, want)
		}
	}
	if j := mustJob(t, db, "e"); j.HarmonicMean == nil || math.Abs(*j.HarmonicMean-HarmonicMean(80, 60)) > 0 {
		t.Errorf("harmonic mean %v, want %v", j.HarmonicMean, HarmonicMean(80, 60))
	}
	if ms, _ := db.Metrics("t"); len(ms) != 2 {
		t.Errorf("%d metrics", len(ms))
	}
	if p, _ := db.Prompt("t"); p == nil || p.Text != "a photo" {
		t.Errorf("prompt %+v", p)
	}
	if a, _ := db.Artifacts("t"); len(a) != 1 {
		t.Errorf("artifacts %+v", a)
	}

	// Read again: unchanged content is not read at all; the same jobs in
	// new content (the task published again) change nothing either.
	before := dump(t, db)
	m, err := db.MergeShard(filepath.Join(dir, "s1-train-0.db"))
	if err != nil || !m.Unchanged {
		t.Fatalf("second merge: %+v, %v", m, err)
	}
	if err := evalShard.CompleteJob("o", Completion{Evaluations: []Evaluation{{Split: study.ClassesBase, Dataset: "dtd", Total: 10, Correct: 5, Accuracy: 50, MacroF1: 40}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := db.MergeShard(publish(t, evalShard, dir, "s1-eval-0.db")); err != nil || m.Jobs != 1 {
		t.Fatalf("merge of the grown shard: %+v, %v", m, err)
	}
	if j := mustJob(t, db, "o"); j.State != StateDone {
		t.Errorf("o is %s", j.State)
	}
	if again := dump(t, db); withoutJob(again, "o") != withoutJob(before, "o") {
		t.Fatalf("the grown shard changed more than o:\nbefore\n%s\nafter\n%s", before, again)
	}
}

// withoutJob drops the dump's rows of one job.
func withoutJob(dump, id string) string {
	var keep []string
	for _, line := range strings.Split(dump, "\n") {
		if !strings.HasPrefix(line, id+" ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func TestMergeShardRefusesHalfWrittenShard(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	train := trainSpec("t", "eurosat", "full", nil)
	mustSync(t, db, g, train)
	sh := newShard(t, train)
	completeInShard(t, sh, "t", study.ClassesBase, 80, "a photo")
	dir := t.TempDir()
	p := publish(t, sh, dir, "s1-train-0.db")
	whole, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	for _, n := range []int{0, 100, len(whole) / 2, len(whole) - 1} {
		if err := os.WriteFile(p, whole[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := db.MergeShard(p); err == nil {
			t.Errorf("a shard cut to %d of %d bytes merged without error", n, len(whole))
		}
		if got := dump(t, db); got != before {
			t.Fatalf("a shard cut to %d bytes changed the database:\n%s", n, got)
		}
	}
	// Once whole, it merges.
	if err := os.WriteFile(p, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := db.MergeShard(p); err != nil || m.Jobs != 1 {
		t.Fatalf("whole shard: %+v, %v", m, err)
	}
}

func TestMergeShardKeepsAttemptNumbersAndLaterEnds(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	train := trainSpec("t", "eurosat", "full", nil)
	mustSync(t, db, g, train)
	// A local attempt was interrupted before the grid was submitted.
	if _, err := db.StartAttempt("t", "w0"); err != nil {
		t.Fatal(err)
	}
	if err := db.FailAttempt("t", "interrupted", false); err != nil {
		t.Fatal(err)
	}

	// The task carries the attempt count over; its attempt fails too.
	sh := newShard(t, train)
	if err := sh.CarryAttempts("t", mustJob(t, db, "t").Attempts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // finish times are in milliseconds
	if a, err := sh.StartAttempt("t", "slurm 9_0"); err != nil || a != 2 {
		t.Fatalf("attempt %d, %v; want 2", a, err)
	}
	if err := sh.FailAttempt("t", "NaN loss", true); err != nil {
		t.Fatal(err)
	}
	p := publish(t, sh, t.TempDir(), "s1-train-0.db")
	if _, err := db.MergeShard(p); err != nil {
		t.Fatal(err)
	}
	j := mustJob(t, db, "t")
	if j.State != StateFailed || j.Attempts != 2 || j.Error != "NaN loss" {
		t.Fatalf("after merging the failure: %s, %d attempts, %q", j.State, j.Attempts, j.Error)
	}
	// A local run gives it new attempts; the same failure merged again
	// (another file with it) is not newer, so it does not undo that.
	if _, err := db.ResetFailed(g); err != nil {
		t.Fatal(err)
	}
	p2 := publish(t, sh, filepath.Dir(p), "s2-train-0.db")
	if m, err := db.MergeShard(p2); err != nil || m.Jobs != 0 {
		t.Fatalf("an old failure was taken again: %+v, %v", m, err)
	}
	if j := mustJob(t, db, "t"); j.State != StatePending {
		t.Errorf("state %s, want pending", j.State)
	}
}

func TestMergeShardShowsAnInterruptedAttempt(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	train := trainSpec("t", "eurosat", "full", nil)
	mustSync(t, db, g, train)
	sh := newShard(t, train)
	if _, err := sh.StartAttempt("t", "slurm 9_0 w0 pid 1"); err != nil {
		t.Fatal(err)
	}
	if err := sh.FailAttempt("t", "interrupted", false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := db.MergeShard(publish(t, sh, dir, "s1-train-0.db")); err != nil {
		t.Fatal(err)
	}
	j := mustJob(t, db, "t")
	if j.State != StatePending || j.Attempts != 1 || j.Error != "interrupted" || j.Worker != "slurm 9_0 w0 pid 1" {
		t.Fatalf("after an interrupted attempt: %s, %d attempts, %q by %q", j.State, j.Attempts, j.Error, j.Worker)
	}
	// The requeued task finishes it: attempt 2 is the one that counts.
	if _, err := sh.StartAttempt("t", "slurm 9_0 w0 pid 2"); err != nil {
		t.Fatal(err)
	}
	if err := sh.CompleteJob("t", Completion{Evaluations: []Evaluation{{Split: study.ClassesBase, Dataset: "eurosat", Total: 10, Correct: 5, Accuracy: 50, MacroF1: 40}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MergeShard(publish(t, sh, dir, "s1-train-0.db")); err != nil {
		t.Fatal(err)
	}
	if j := mustJob(t, db, "t"); j.State != StateDone || j.Attempts != 2 || j.Error != "" {
		t.Fatalf("after the requeued attempt: %s, %d attempts, %q", j.State, j.Attempts, j.Error)
	}
}
