package orchestrator

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// Work is what a set of jobs computes: training steps (each a batch
// through both towers, with the text of every class) and test images.
type Work struct {
	Jobs       int
	TrainSteps int64
	TestImages int64
	// ClassSteps sums each step's class count: the text tower's share of
	// a step grows with it.
	ClassSteps int64
	// Unknown counts jobs on datasets whose size grid does not know, or
	// trained on every image (shots = 0): left out of the sums.
	Unknown int
}

// workOf sums the work of jobs.
func workOf(jobs []sweeps.Job, include func(i int) bool) Work {
	var w Work
	for i := range jobs {
		if !include(i) {
			continue
		}
		w.Jobs++
		c := &jobs[i].Config
		n, test, ok := sweeps.DatasetSize(c.Dataset)
		if !ok || (c.Kind == study.KindTrain && c.Shots <= 0) {
			w.Unknown++
			continue
		}
		classes, images := half(n, c.Classes), int64(test)*int64(half(n, c.Classes))/int64(n)
		w.TestImages += images
		if c.Kind != study.KindTrain {
			continue
		}
		batch := max(1, c.BatchSize)
		steps := int64(c.Epochs) * int64(c.Shots*classes/batch)
		w.TrainSteps += steps
		w.ClassSteps += steps * int64(classes)
	}
	return w
}

// half is the number of classes a job sees: CoOp's base half is the first
// ceil(n/2) labels.
func half(n int, c study.Classes) int {
	switch c {
	case study.ClassesBase:
		return (n + 1) / 2
	case study.ClassesNew:
		return n / 2
	}
	return n
}

// rates are a backend's speed on ViT-B/16: a step costs stepBase +
// perClass × classes seconds, a test image perImage seconds.
type rates struct {
	name, basis                  string
	stepBase, perClass, perImage float64
}

// seconds is the compute of w at these rates.
func (r rates) seconds(w Work) float64 {
	return float64(w.TrainSteps)*r.stepBase + float64(w.ClassSteps)*r.perClass + float64(w.TestImages)*r.perImage
}

// documentedRates are PyTorch's speed on the seed's training step, measured
// beside grid (../shared/anchors.md in the project's reference material):
// fp16 on an NVIDIA H200 (51.4 ms a step with 50 classes, 71.5 ms with 500;
// 6,170 test images/s), and fp32 on a 2-core AVX2 CPU (7.5 s a step with 10
// classes), split into image and per-class text shares by their FLOPs
// (a ViT-B/16 image 35 GFLOP forward and as much backward, a 77-token text
// about 17 GFLOP forward and backward).
var documentedRates = []rates{
	{name: "cuda", basis: "PyTorch fp16 reference on an NVIDIA H200", stepBase: 0.0492, perClass: 0.0000447, perImage: 1.0 / 6170},
	{name: "cpu", basis: "PyTorch fp32 reference on 2 CPU cores", stepBase: 4.7, perClass: 0.28, perImage: 0.58},
}

// Estimate is the compute a backend needs for the jobs still to run.
type Estimate struct {
	Backend string  `json:"backend"`
	Basis   string  `json:"basis"`
	Seconds float64 `json:"seconds"`
}

// EstimateWork sums the work of the grid's jobs that `grid run` would run
// (rows from Plan: new, pending, failed or stale) and estimates its compute
// per backend: from the step times of jobs this run directory finished
// when it has any, and from the documented figures.
func EstimateWork(gridFile string, rows []PlanRow) (Work, []Estimate, error) {
	s, err := Load(gridFile)
	if err != nil {
		return Work{}, nil, err
	}
	return s.EstimateWork(rows)
}

// EstimateWork is EstimateWork of a loaded session.
func (s *Session) EstimateWork(rows []PlanRow) (Work, []Estimate, error) {
	g := s.Grid
	w := workOf(g.Jobs, toRun(g.Jobs, rows))
	var out []Estimate
	if m, ok, err := measuredRates(filepath.Join(g.Resolve(g.Out), DBFile)); err != nil {
		return w, nil, err
	} else if ok {
		out = append(out, Estimate{Backend: m.name, Basis: m.basis, Seconds: m.seconds(w)})
	}
	for _, r := range documentedRates {
		out = append(out, Estimate{Backend: r.name, Basis: r.basis, Seconds: r.seconds(w)})
	}
	return w, out, nil
}

// toRun tells, by a job's position in jobs, whether its plan row says
// `grid run` would run it. Plan's rows follow the job list, so a row is
// found by position; a map of 200,000 IDs (and a filtered copy of the
// jobs) cost a seventh of `grid plan`'s time. Rows in another order are
// looked up by ID.
func toRun(jobs []sweeps.Job, rows []PlanRow) func(i int) bool {
	runs := func(r PlanRow) bool { return r.State != PlanDone && r.State != PlanRunning }
	inOrder := len(rows) == len(jobs)
	for i := 0; inOrder && i < len(rows); i++ {
		inOrder = rows[i].ID == jobs[i].ID
	}
	if inOrder {
		return func(i int) bool { return runs(rows[i]) }
	}
	byID := make(map[string]bool, len(rows))
	for _, r := range rows {
		byID[r.ID] = runs(r)
	}
	return func(i int) bool { return byID[jobs[i].ID] }
}

// measuredRates fits this machine's rates to the jobs the run directory
// finished: seconds per step against the step's classes (a line when the
// jobs saw several class counts, else the CPU figures' shape scaled to the
// measured level), and seconds per test image from finished evaluations.
func measuredRates(dbPath string) (rates, bool, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return rates{}, false, nil
	}
	db, err := results.Open(dbPath)
	if err != nil {
		return rates{}, false, err
	}
	defer db.Close()
	timings, err := db.RecentTimings(200)
	if err != nil {
		return rates{}, false, err
	}
	var xs, ys []float64
	var evalSeconds, evalImages float64
	for _, t := range timings {
		var c sweeps.Config
		if json.Unmarshal(t.Config, &c) != nil {
			continue
		}
		n, test, ok := sweeps.DatasetSize(c.Dataset)
		if !ok {
			continue
		}
		switch {
		case t.Kind == study.KindTrain && t.Steps > 0:
			perStep := t.StepSeconds
			if perStep <= 0 { // steps written with one timestamp: the whole attempt
				perStep = t.Seconds / float64(t.Steps)
			}
			xs, ys = append(xs, float64(half(n, c.Classes))), append(ys, perStep)
		case t.Kind == study.KindEval && t.Seconds > 0:
			evalSeconds += t.Seconds
			evalImages += float64(test * half(n, c.Classes) / n)
		}
	}
	if len(xs) == 0 {
		return rates{}, false, nil
	}
	cpu := documentedRates[1]
	base, perClass := fitLine(xs, ys, cpu.perClass/cpu.stepBase)
	perImage := cpu.perImage * base / cpu.stepBase
	if evalImages > 0 {
		perImage = evalSeconds / evalImages
	}
	basis := fmt.Sprintf("step times of %d train jobs finished in this run directory", len(xs))
	return rates{name: "measured here", basis: basis, stepBase: base, perClass: perClass, perImage: perImage}, true, nil
}

// fitLine fits y = a + b·x by least squares; with a single x (or a fit
// that goes negative) it keeps b = ratio·a through the mean point.
func fitLine(xs, ys []float64, ratio float64) (a, b float64) {
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+ys[i]
	}
	mx, my = mx/float64(len(xs)), my/float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx > 0 {
		b = sxy / sxx
		a = my - b*mx
		if a > 0 && b >= 0 {
			return a, b
		}
	}
	a = my / (1 + ratio*mx)
	return a, ratio * a
}

// Duration formats estimated seconds for people: "3.2 h", "41 days".
func Duration(seconds float64) string {
	switch {
	case math.IsNaN(seconds):
		return "unknown"
	case seconds < 120:
		return fmt.Sprintf("%.0f s", seconds)
	case seconds < 2*3600:
		return fmt.Sprintf("%.0f min", seconds/60)
	case seconds < 2*86400:
		return fmt.Sprintf("%.1f h", seconds/3600)
	}
	return fmt.Sprintf("%.0f days", seconds/86400)
}
