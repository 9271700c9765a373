package results

import (
	"math"
	"testing"
	"time"

	"github.com/fomo-grid/grid/internal/study"
)

// A finished train job's step time is measured between its first and last
// logged step; an eval job's time is its whole attempt.
func TestRecentTimings(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil), evalSpec("a-new", "a", "eurosat", "new"), trainSpec("b", "dtd", "full", nil))
	attempt, err := db.StartAttempt("a", "w")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ms []Metric
	for i := range 11 {
		ms = append(ms, Metric{Step: i, Loss: 1, Time: t0.Add(time.Duration(i) * 1500 * time.Millisecond)})
	}
	if err := db.AddMetrics("a", attempt, ms); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteJob("a", Completion{Evaluations: []Evaluation{eval(study.ClassesBase, "eurosat", 80, 79)}}); err != nil {
		t.Fatal(err)
	}
	complete(t, db, "a-new", Completion{Evaluations: []Evaluation{eval(study.ClassesNew, "eurosat", 70, 69)}})
	// b never finishes: it has no timing.
	if _, err := db.StartAttempt("b", "w"); err != nil {
		t.Fatal(err)
	}
	timings, err := db.RecentTimings(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(timings) != 2 {
		t.Fatalf("timings %+v, want a and a-new", timings)
	}
	train, ev := timings[0], timings[1]
	if train.Kind != study.KindTrain || train.Steps != 11 || math.Abs(train.StepSeconds-1.5) > 1e-6 || train.Seconds < 0 {
		t.Errorf("train timing %+v, want 11 steps 1.5 s apart", train)
	}
	if ev.Kind != study.KindEval || ev.Steps != 0 || ev.Seconds < 0 || len(ev.Config) == 0 {
		t.Errorf("eval timing %+v", ev)
	}
}
