package report

import (
	"math"
	"sort"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// stat is a number over seeds: the mean, the sample standard deviation
// (n−1; 0 for one seed) and how many seeds it has. n = 0 is missing.
type stat struct {
	n         int
	mean, std float64
}

func statOf(values []float64) stat {
	var s stat
	var sum float64
	for _, v := range values {
		if finite(v) {
			s.n++
			sum += v
		}
	}
	if s.n == 0 {
		return stat{mean: math.NaN(), std: math.NaN()}
	}
	s.mean = sum / float64(s.n)
	if s.n > 1 {
		var ss float64
		for _, v := range values {
			if finite(v) {
				ss += (v - s.mean) * (v - s.mean)
			}
		}
		s.std = math.Sqrt(ss / float64(s.n-1))
	}
	return s
}

func (s stat) ok() bool { return s.n > 0 }

// value is the mean, NaN when missing.
func (s stat) value() float64 {
	if s.n == 0 {
		return math.NaN()
	}
	return s.mean
}

func one(v float64) stat { return statOf([]float64{v}) }

// run is one seed of a configuration: its train job, the test of its
// checkpoint on the new classes, and its other evaluations (transfers).
type run struct {
	seed      int64
	train     *record
	newRec    *record   // eval on the new classes of the same dataset; nil if none
	transfers []*record // every other eval of the checkpoint
}

// own is the train job's test on the classes it trained on.
func (r *run) own() *results.Evaluation {
	if r.train.job.State != results.StateDone {
		return nil
	}
	return r.train.eval()
}

// newEval is the new-class test, nil until done.
func (r *run) newEval() *results.Evaluation {
	if r.newRec == nil || r.newRec.job.State != results.StateDone {
		return nil
	}
	return r.newRec.eval()
}

// cell is a configuration without its seed: every run of it. Its numbers
// are means over the runs that have them.
type cell struct {
	key         string
	dataset     string
	classes     study.Classes
	variant     study.Variant
	labels      map[string]string // swept values without seed
	experiments []string
	runs        []*run // by seed
	label       string // the name tables and figures give it

	base, new, h, avg stat // avg = (B+N)/2, the notebooks' ranking key
	rankH, rankAvg    int  // 1 = best; 0 = not ranked (no complete run)
}

// complete runs have both base and new accuracy (base2new), or their own
// test (all classes).
func (c *cell) complete(r *run) bool {
	if c.classes == study.ClassesAll {
		return r.own() != nil
	}
	return r.own() != nil && r.newEval() != nil
}

// summarise computes the cell's means over its complete runs: H and
// (B+N)/2 per seed, then their mean, so that the spread is the seeds'.
func (c *cell) summarise() {
	var bs, ns, hs, as []float64
	for _, r := range c.runs {
		if !c.complete(r) {
			continue
		}
		b := r.own().Accuracy
		bs = append(bs, b)
		if c.classes == study.ClassesAll {
			continue
		}
		n := r.newEval().Accuracy
		ns = append(ns, n)
		hs = append(hs, results.HarmonicMean(b, n))
		as = append(as, (b+n)/2)
	}
	c.base, c.new, c.h, c.avg = statOf(bs), statOf(ns), statOf(hs), statOf(as)
}

// seeds lists the seeds of the cell's runs.
func (c *cell) seeds() []int64 {
	out := make([]int64, len(c.runs))
	for i, r := range c.runs {
		out[i] = r.seed
	}
	return out
}

// buildCells groups the train jobs of records into cells (in order of
// first appearance) and attaches every eval of a checkpoint to its run.
func buildCells(records []*record) []*cell {
	var cells []*cell
	byKey := map[string]*cell{}
	runOf := map[string]*run{}
	for _, r := range records {
		if r.cfg.Kind != study.KindTrain {
			continue
		}
		c, ok := byKey[r.cellKey]
		if !ok {
			c = &cell{key: r.cellKey, dataset: r.cfg.Dataset, classes: r.cfg.Classes, variant: r.variant(),
				labels: withoutSeed(r.labels), experiments: r.job.Experiments}
			if c.classes == "" {
				c.classes = study.ClassesBase
			}
			byKey[r.cellKey] = c
			cells = append(cells, c)
		}
		ru := &run{seed: r.cfg.Seed, train: r}
		c.runs = append(c.runs, ru)
		runOf[r.job.ID] = ru
	}
	for _, r := range records {
		ru, ok := runOf[r.cfg.Source]
		if r.cfg.Kind != study.KindEval || !ok {
			continue
		}
		if r.cfg.Dataset == ru.train.cfg.Dataset && r.cfg.Classes == study.ClassesNew && ru.newRec == nil {
			ru.newRec = r
			continue
		}
		ru.transfers = append(ru.transfers, r)
	}
	for _, c := range cells {
		sort.SliceStable(c.runs, func(a, b int) bool { return c.runs[a].seed < c.runs[b].seed })
		c.summarise()
	}
	return cells
}

func withoutSeed(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != "seed" {
			out[k] = v
		}
	}
	return out
}

// rankCells orders cells by mean H (ties: mean (B+N)/2, then label), best
// first, and numbers both rankings; cells without a complete run follow
// unranked in their order. All-classes cells rank by their accuracy.
func rankCells(cells []*cell) {
	score := func(c *cell) float64 {
		if c.classes == study.ClassesAll {
			return c.base.value()
		}
		return c.h.value()
	}
	sort.SliceStable(cells, func(a, b int) bool {
		ca, cb := cells[a], cells[b]
		sa, sb := score(ca), score(cb)
		if fa, fb := finite(sa), finite(sb); fa != fb || !fa {
			return fa && !fb // unranked cells keep their order, last
		}
		if sa != sb {
			return sa > sb
		}
		if ma, mb := ca.avg.value(), cb.avg.value(); finite(ma) && finite(mb) && ma != mb {
			return ma > mb
		}
		return ca.label < cb.label
	})
	for i, c := range cells {
		c.rankH = 0
		if finite(score(c)) {
			c.rankH = i + 1
		}
	}
	byAvg := append([]*cell(nil), cells...)
	sort.SliceStable(byAvg, func(a, b int) bool {
		ma, mb := byAvg[a].avg.value(), byAvg[b].avg.value()
		if finite(ma) != finite(mb) {
			return finite(ma)
		}
		return finite(ma) && ma > mb
	})
	for i, c := range byAvg {
		c.rankAvg = 0
		if finite(c.avg.value()) {
			c.rankAvg = i + 1
		}
	}
}

// state says how far the cell's runs are: "3/3 seeds done", or what holds
// each missing one up.
func (c *cell) state() string {
	done := 0
	var why []string
	for _, r := range c.runs {
		if c.complete(r) {
			done++
			continue
		}
		why = append(why, "seed "+itoa64(r.seed)+": "+runState(c, r))
	}
	s := itoa(done) + "/" + itoa(len(c.runs)) + " seeds done"
	if len(why) > 0 {
		s += "; " + strings.Join(why, "; ")
	}
	return s
}

// runState says which job of an incomplete run is missing and why.
func runState(c *cell, r *run) string {
	if r.train.job.State != results.StateDone {
		return "train " + jobState(r.train.job)
	}
	if c.classes == study.ClassesAll {
		return "no test result"
	}
	if r.newRec == nil {
		return "no new-class evaluation in the grid"
	}
	return "new " + jobState(r.newRec.job)
}

// jobState is the job's state with its last error.
func jobState(j results.Job) string {
	s := j.StateText()
	if j.Error != "" && j.State != results.StateDone {
		s += ": " + truncate(oneLine(j.Error), 80)
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// baseline is the zero-shot result of one dataset: CLIP with a template.
type baseline struct {
	template       string
	base, new, all *record
}

func evalOf(r *record) *results.Evaluation {
	if r == nil || r.job.State != results.StateDone {
		return nil
	}
	return r.eval()
}

// h is the zero-shot H of base and new; NaN until both are done.
func (b *baseline) h() float64 {
	be, ne := evalOf(b.base), evalOf(b.new)
	if be == nil || ne == nil {
		return math.NaN()
	}
	return results.HarmonicMean(be.Accuracy, ne.Accuracy)
}

func (b *baseline) acc(which study.Classes) float64 {
	var r *record
	switch which {
	case study.ClassesBase:
		r = b.base
	case study.ClassesNew:
		r = b.new
	default:
		r = b.all
	}
	if e := evalOf(r); e != nil {
		return e.Accuracy
	}
	return math.NaN()
}

// baselines collects the zero-shot evaluations by dataset. When several
// templates were tested on a dataset, the first the grid lists is the
// baseline.
func baselines(records []*record) map[string]*baseline {
	out := map[string]*baseline{}
	for _, r := range records {
		if !r.zeroShot() {
			continue
		}
		b, ok := out[r.cfg.Dataset]
		if !ok {
			b = &baseline{template: r.cfg.Template}
			out[r.cfg.Dataset] = b
		}
		if r.cfg.Template != b.template {
			continue
		}
		switch r.cfg.Classes {
		case study.ClassesBase:
			b.base = r
		case study.ClassesNew:
			b.new = r
		case study.ClassesAll:
			b.all = r
		}
	}
	return out
}
