package report

import (
	"math"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// group is one dataset's grid search: the full method's cells trained on
// the base classes, ranked.
type group struct {
	dataset string
	slug    string
	cells   []*cell
}

// best is the top-ranked cell, nil while none has a complete run.
func (g *group) best() *cell {
	if len(g.cells) == 0 || g.cells[0].rankH == 0 {
		return nil
	}
	return g.cells[0]
}

// gridGroups splits the grid-search cells (full method, base classes) by
// dataset, in the paper's order, names and ranks them.
func gridGroups(cells []*cell) []*group {
	byDS := map[string]*group{}
	var names []string
	for _, c := range cells {
		if c.variant != study.VariantFull || c.classes != study.ClassesBase {
			continue
		}
		g, ok := byDS[c.dataset]
		if !ok {
			g = &group{dataset: c.dataset, slug: slug(c.dataset)}
			byDS[c.dataset] = g
			names = append(names, c.dataset)
		}
		g.cells = append(g.cells, c)
	}
	sortDatasets(names)
	out := make([]*group, len(names))
	for i, n := range names {
		out[i] = byDS[n]
		nameCells(out[i].cells, "variant")
		rankCells(out[i].cells)
	}
	return out
}

// promptsText is the learned prompt of each seed, in seed order; seeds that
// learned the same prompt show it once.
func promptsText(c *cell) string {
	var out []string
	for _, r := range c.runs {
		// Decoded BPE ends every word with a space; it carries nothing.
		if r.train.prompt == nil {
			continue
		}
		if p := strings.TrimSpace(r.train.prompt.Text); !contains(out, p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, " / ")
}

const seedsNote = "Numbers are percent on the test split: the mean over seeds ± the standard deviation over seeds (n−1; " +
	"shown from two seeds on); seeds is how many seeds of the configuration have every number. " + missing + " marks a missing value."

// gridTable is one dataset's configurations, ranked by mean H.
func gridTable(g *group, base *baseline) *table {
	t := &table{name: "grid-" + g.slug, title: "Grid search: " + displayName(g.dataset),
		caption: "Each row is a configuration (its swept values, seed left out), ranked by the mean over its seeds of " +
			"H = 2·B·N/(B+N) of base accuracy B and new accuracy N; rank (B+N)/2 is the ranking fomo's notebooks used. " +
			"Δ H is the configuration's H minus zero-shot CLIP's (the zeroshot experiment of the same run); gap is its H " +
			"minus the best configuration's. Configurations without a complete seed are not ranked and come last, with " +
			"what is missing. " + seedsNote,
		cols: []column{numCol("rank H"), numCol("rank (B+N)/2"), col("configuration"), numCol("seeds"),
			statCol("base"), statCol("new"), statCol("(B+N)/2"), statCol("H"), statCol("Δ H vs zero-shot"),
			numCol("gap to best"), col("prompt"), col("state")}}
	bestH := math.NaN()
	if b := g.best(); b != nil {
		bestH = b.h.mean
	}
	zsH := math.NaN()
	if base != nil {
		zsH = base.h()
	}
	for _, c := range g.cells {
		t.add(rankField(c.rankH), rankField(c.rankAvg), str(c.label), count(c.h.n),
			num(c.base), num(c.new), num(c.avg), num(c.h), diff(shift(c.h, zsH)),
			diff(one(c.h.value()-bestH)), prompt(promptsText(c)), str(c.state()))
	}
	return t
}

// shift is s minus a number known exactly (a zero-shot result): the same
// spread, a shifted mean.
func shift(s stat, by float64) stat {
	if !s.ok() || !finite(by) {
		return stat{mean: math.NaN()}
	}
	s.mean -= by
	return s
}

// summaryTable is the best configuration of every dataset next to
// zero-shot CLIP, with the paper's average row.
func summaryTable(groups []*group, bases map[string]*baseline) *table {
	t := &table{name: "summary", title: "Best configuration per dataset",
		caption: "The top row of each dataset's grid search (by mean H), next to zero-shot CLIP of the same run. " +
			"The average row averages base and new accuracy over the datasets that have both and gives the H of those " +
			"averages, as the paper's tables do. " + seedsNote,
		cols: []column{col("dataset"), col("configuration"), numCol("seeds"), statCol("base"), statCol("new"), statCol("H"),
			numCol("zero-shot base"), numCol("zero-shot new"), numCol("zero-shot H"), statCol("Δ H"), col("prompt")}}
	var avg struct{ b, n, zb, zn []float64 }
	for _, g := range groups {
		b := g.best()
		zb, zn, zh := math.NaN(), math.NaN(), math.NaN()
		if z := bases[g.dataset]; z != nil {
			zb, zn, zh = z.acc(study.ClassesBase), z.acc(study.ClassesNew), z.h()
		}
		name := linked(displayName(g.dataset), "grid-"+g.slug+".md")
		if b == nil {
			t.add(name, str("no complete configuration yet"), count(0), num(stat{}), num(stat{}), num(stat{}),
				plainNum(zb), plainNum(zn), plainNum(zh), diff(stat{}), str(""))
			continue
		}
		t.add(name, str(b.label), count(b.h.n), num(b.base), num(b.new), num(b.h),
			plainNum(zb), plainNum(zn), plainNum(zh), diff(shift(b.h, zh)), prompt(promptsText(b)))
		avg.b, avg.n = append(avg.b, b.base.mean), append(avg.n, b.new.mean)
		avg.zb, avg.zn = append(avg.zb, zb), append(avg.zn, zn)
	}
	if len(avg.b) > 0 {
		mb, mn := statOf(avg.b).mean, statOf(avg.n).mean
		zb, zn := meanAll(avg.zb), meanAll(avg.zn)
		h, zh := results.HarmonicMean(mb, mn), results.HarmonicMean(zb, zn)
		t.add(str("average ("+itoa(len(avg.b))+")"), str(""), str(""), plainNum(mb), plainNum(mn), plainNum(h),
			plainNum(zb), plainNum(zn), plainNum(zh), diff(one(h-zh)), str(""))
	}
	return t
}

// meanAll is the mean of values, NaN if any is missing: an average over
// some of the datasets would not compare with the others.
func meanAll(values []float64) float64 {
	s := statOf(values)
	if s.n != len(values) {
		return math.NaN()
	}
	return s.value()
}

// zeroShotTable lists the zero-shot baselines.
func zeroShotTable(bases map[string]*baseline) *table {
	t := &table{name: "zeroshot", title: "Zero-shot CLIP",
		caption: "CLIP with a hand-written template and no training (the zeroshot experiment): accuracy on the base, " +
			"new and all classes of each dataset's test split, and H of base and new. " + missing + " marks a class split " +
			"the grid does not test (or a job not done).",
		cols: []column{col("dataset"), col("template"), numCol("base"), numCol("new"), numCol("H"), numCol("all")}}
	var names []string
	for ds := range bases {
		names = append(names, ds)
	}
	sortDatasets(names)
	for _, ds := range names {
		b := bases[ds]
		t.add(str(displayName(ds)), prompt(b.template), plainNum(b.acc(study.ClassesBase)), plainNum(b.acc(study.ClassesNew)),
			plainNum(b.h()), plainNum(b.acc(study.ClassesAll)))
	}
	return t
}

// allClassesTable lists the cells trained on every class (cross-dataset
// sources): their own test, and the new-class test when the grid has one.
func allClassesTable(cells []*cell) *table {
	t := &table{name: "all-classes", title: "Trained on all classes",
		caption: "Configurations trained on every class of their dataset (the sources of transfers), with their test on " +
			"all classes and, where the grid tests it, on the new classes. " + seedsNote,
		cols: []column{col("dataset"), col("configuration"), col("variant"), numCol("seeds"), statCol("accuracy"),
			statCol("new classes"), col("prompt"), col("state")}}
	var all []*cell
	for _, c := range cells {
		if c.classes == study.ClassesAll {
			all = append(all, c)
		}
	}
	nameCells(all)
	for _, c := range all {
		var news []float64
		for _, r := range c.runs {
			if e := r.newEval(); e != nil {
				news = append(news, e.Accuracy)
			}
		}
		t.add(str(displayName(c.dataset)), str(c.label), str(string(c.variant)), count(c.base.n), num(c.base),
			num(statOf(news)), prompt(promptsText(c)), str(c.state()))
	}
	return t
}
