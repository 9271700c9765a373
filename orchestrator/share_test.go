package orchestrator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// shareOf is the part of a grid holding the given jobs, as an array task
// sees it.
func shareOf(s *Session, kind study.Kind, shardPath string) Share {
	g := *s.Grid
	g.Jobs = nil
	for _, j := range s.Grid.Jobs {
		if j.Config.Kind == kind {
			g.Jobs = append(g.Jobs, j)
		}
	}
	g.Out = s.RunDir
	return Share{Grid: &g, Published: func(db *results.DB) error {
		f, err := os.CreateTemp(filepath.Dir(shardPath), ".tmp-*")
		if err != nil {
			return err
		}
		if err := db.WriteSnapshot(f); err != nil {
			return err
		}
		f.Close()
		return os.Rename(f.Name(), shardPath)
	}}
}

func runShare(t *testing.T, share Share, local string) Summary {
	t.Helper()
	if err := os.MkdirAll(ShardDir(share.Grid.Out), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := OpenShare(share, local)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.RunShare(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand, Owner: "slurm 7_0"}, share)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestSharesPublishShardsThatTheRunMergesWithoutRunningAnythingTwice(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	s, err := Open(writeGrid(t, dir, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shards := ShardDir(s.RunDir)

	// The eval share first: its sources are not done, so it runs nothing
	// and leaves its jobs pending.
	evals := shareOf(s, study.KindEval, filepath.Join(shards, "1-eval-0.db"))
	if sum := runShare(t, evals, filepath.Join(t.TempDir(), "eval.db")); sum.Done != 0 || sum.Blocked != 2 {
		t.Fatalf("eval share before the trains: %+v", sum)
	}
	trains := shareOf(s, study.KindTrain, filepath.Join(shards, "1-train-0.db"))
	if sum := runShare(t, trains, filepath.Join(t.TempDir(), "train.db")); sum.Done != 2 || sum.Err() != nil {
		t.Fatalf("train share: %+v", sum)
	}
	// Now the trains' claims say done: a new start of the eval share runs.
	if sum := runShare(t, evals, filepath.Join(t.TempDir(), "eval.db")); sum.Done != 2 || sum.Err() != nil {
		t.Fatalf("eval share after the trains: %+v", sum)
	}
	if got := len(jobsByState(t, s)[results.StateDone]); got != 0 {
		t.Fatalf("shares wrote the run's database: %d done", got)
	}

	m, err := s.MergeShards()
	if err != nil || len(m.Problems) > 0 || m.Jobs != 4 || m.Shards != 2 {
		t.Fatalf("merge: %+v, %v", m, err)
	}
	for _, j := range jobsByState(t, s)[results.StateDone] {
		if j.Attempts != 1 || !strings.HasPrefix(j.Worker, "slurm 7_0 w") {
			t.Errorf("%s: %d attempts by %q", j.Name, j.Attempts, j.Worker)
		}
		if j.Config != nil && strings.Contains(string(j.Config), `"classes":"new"`) && j.HarmonicMean == nil {
			t.Errorf("%s: no harmonic mean after the merge", j.Name)
		}
	}
	before := len(calls(t, dir))
	sum, err := s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Done != 0 || sum.Skipped != 4 {
		t.Fatalf("local run after the shares: %+v, %v", sum, err)
	}
	if got := calls(t, dir); len(got) != before || before != 4 {
		t.Fatalf("engine calls: %d before, %d after (want 4, 4): %q", before, len(got), got)
	}
}

func TestLocalRunLeavesJobsALiveProcessClaimedAndTakesThemWhenItDies(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	s, err := Open(writeGrid(t, dir, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var train sweeps.Job
	for _, j := range s.Grid.Jobs {
		if j.Config.Kind == study.KindTrain {
			train = j
			break
		}
	}
	// Another process (on this host) claims a train job.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Process.Kill()
	log := otherProcessClaims(t, s.RunDir, other.Process.Pid)
	if got, _, err := log.take(train.ID, false); err != nil || got != claimTaken {
		t.Fatalf("other process's claim: %v, %v", got, err)
	}

	sum, err := s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Done != 2 || sum.Elsewhere != 1 || sum.Blocked != 1 {
		t.Fatalf("run beside a live claim: %+v, %v", sum, err)
	}
	if err := sum.Err(); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("summary error %v", err)
	}
	if row, _ := s.DB.Job(train.ID); row.State != results.StatePending || row.Attempts != 0 {
		t.Errorf("the claimed job is %s after %d attempts", row.State, row.Attempts)
	}

	// Its owner dies without a word: the claim is dead, the next run takes it.
	other.Process.Kill()
	other.Wait()
	sum, err = s.Run(context.Background(), Options{Workers: 2, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil || sum.Done != 2 || sum.Skipped != 2 {
		t.Fatalf("run after the owner died: %+v, %v", sum, err)
	}
}

// otherProcessClaims is a claim log that writes as the given process.
func otherProcessClaims(t *testing.T, runDir string, pid int) *claimLog {
	t.Helper()
	log, err := newClaimLog(runDir, "slurm 9_9")
	if err != nil {
		t.Fatal(err)
	}
	if log.me.Start, err = processStart(pid); err != nil {
		t.Fatal(err)
	}
	log.me.PID = pid
	return log
}

func TestClaimLog(t *testing.T) {
	runDir := t.TempDir()
	a, err := newClaimLog(runDir, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newClaimLog(runDir, "b")
	if got, _, _ := a.take("j", false); got != claimTaken {
		t.Fatalf("a: %v", got)
	}
	if got, e, _ := b.take("j", false); got != claimHeld || e.Who != "a" {
		t.Fatalf("b while a runs: %v %+v", got, e)
	}
	if err := a.end("j", claimReleased); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := b.take("j", false); got != claimTaken {
		t.Fatalf("b after a released: %v", got)
	}
	if err := b.end("j", claimDone); err != nil || !a.isDone("j") {
		t.Fatalf("done: %v", err)
	}
	if got, _, _ := a.take("j", false); got != claimDoneAlready {
		t.Fatalf("a after b finished: %v", got)
	}
	if got, _, _ := a.take("j", true); got != claimTaken {
		t.Fatalf("a overriding a done claim: %v", got)
	}
	// a's own claim is a's: ending b's turn changes nothing now.
	if err := b.end("j", claimDone); err != nil || a.isDone("j") {
		t.Fatalf("b ended a's claim: %v", err)
	}
}

func TestClaimLogOneWinnerAmongMany(t *testing.T) {
	runDir := t.TempDir()
	var wg sync.WaitGroup
	wins := make(chan string, 16)
	for i := 0; i < 16; i++ {
		log, err := newClaimLog(runDir, "p"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := log.take("j", false)
			if err != nil {
				t.Error(err)
			}
			if got == claimTaken {
				wins <- log.me.Who
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d processes took the claim: %v", len(winners), winners)
	}
}
