package orchestrator

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fomo-grid/grid/sweeps"
)

func TestWorkOfCountsStepsAndImages(t *testing.T) {
	g, err := sweeps.Parse("grid.toml", []byte(`
[grid]
name = "w"
model = "m"
data_root = "d"

[[experiment]]
name = "b2n"
protocol = "base2new"
datasets = ["eurosat"]
[experiment.set]
epochs = 2

[[experiment]]
name = "zs"
protocol = "zeroshot"
datasets = ["caltech101"]
classes = "all"
`))
	if err != nil {
		t.Fatal(err)
	}
	w := workOf(g.Jobs, func(int) bool { return true })
	// eurosat base: 5 classes × 16 shots = 80 images, batch 4: 20 steps an
	// epoch, 2 epochs; tested on 5 of 10 classes' 8,100 images, then the
	// new half; caltech101 zero-shot on all 2,465.
	if w.Jobs != 3 || w.TrainSteps != 40 || w.ClassSteps != 200 || w.TestImages != 4050+4050+2465 || w.Unknown != 0 {
		t.Errorf("work %+v", w)
	}
	cuda := documentedRates[0]
	want := 40*cuda.stepBase + 200*cuda.perClass + float64(w.TestImages)*cuda.perImage
	if got := cuda.seconds(w); math.Abs(got-want) > 1e-9 {
		t.Errorf("cuda seconds %v, want %v", got, want)
	}
}

func TestFitLine(t *testing.T) {
	a, b := fitLine([]float64{10, 50, 100}, []float64{2, 6, 11}, 0.5)
	if math.Abs(a-1) > 1e-9 || math.Abs(b-0.1) > 1e-9 {
		t.Errorf("line through (10,2) (50,6) (100,11): a=%v b=%v", a, b)
	}
	// One class count: the documented shape (b = ratio·a) through the mean.
	a, b = fitLine([]float64{10, 10}, []float64{3, 5}, 0.1)
	if math.Abs(a+10*b-4) > 1e-9 || math.Abs(b-0.1*a) > 1e-9 {
		t.Errorf("single x: a=%v b=%v", a, b)
	}
}

// Without a finished job to measure, the plan estimates from the
// documented figures only; after the run it adds this machine's.
func TestEstimateWorkMeasuresFinishedJobs(t *testing.T) {
	dir := t.TempDir()
	setEnv(t, dir)
	g := writeGrid(t, dir, 2, 0)
	rows, err := Plan(g)
	if err != nil {
		t.Fatal(err)
	}
	w, est, err := EstimateWork(g, rows)
	if err != nil {
		t.Fatal(err)
	}
	if w.Jobs != 4 || len(est) != 2 || est[0].Backend != "cuda" || est[1].Backend != "cpu" || !(est[1].Seconds > est[0].Seconds) {
		t.Errorf("before any run: work %+v, estimates %+v", w, est)
	}
	s, err := Open(g)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(t.Context(), Options{Workers: 1, WorkerCommand: workerCommand})
	s.Close()
	if err != nil || sum.Err() != nil {
		t.Fatal(err, sum.Err())
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "t", DBFile)); err != nil {
		t.Fatal(err)
	}
	rows, _ = Plan(g)
	_, est, err = EstimateWork(g, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(est) != 3 || est[0].Backend != "measured here" || est[0].Seconds != 0 {
		t.Errorf("after the run (nothing left to do): %+v", est)
	}
	// A row that will run again counts, whether the rows come in the job
	// list's order (found by position) or another (found by ID).
	rows[1].State = PlanStale
	slices.Reverse(rows)
	for _, order := range []string{"reversed", "in order"} {
		if w, _, err := EstimateWork(g, rows); err != nil || w.Jobs != 1 {
			t.Errorf("rows %s, one stale: %d jobs to run (%v)", order, w.Jobs, err)
		}
		slices.Reverse(rows)
	}
	m, ok, err := measuredRates(filepath.Join(dir, "runs", "t", DBFile))
	if err != nil || !ok || !(m.stepBase > 0) || !(m.perImage > 0) {
		t.Errorf("measured rates %+v (%v, %v)", m, ok, err)
	}
}
