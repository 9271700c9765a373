package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
)

// target is a column of the transfer view: a dataset and which of its
// classes were tested.
type target struct {
	dataset string
	classes study.Classes
}

func (t target) name() string {
	n := displayName(t.dataset)
	if t.classes != study.ClassesAll && t.classes != "" {
		n += " (" + string(t.classes) + ")"
	}
	return n
}

// transferRow is one source configuration tested with one test-time
// variant: the accuracy per target over the source's seeds.
type transferRow struct {
	source  *cell
	variant study.Variant
	acc     map[target]stat
	tried   map[target]int    // evaluations of the target, done or not
	pending map[target]string // why one of them has no number yet
}

// complete reports whether every evaluation of the target is done.
func (r *transferRow) complete(t target) bool { return r.acc[t].n == r.tried[t] }

// transfers collects, for every cell with evaluations of its checkpoint on
// other targets, one row per test-time variant (full first, then
// projection-free and the others), and the targets in the paper's order.
func transfers(cells []*cell) ([]*transferRow, []target) {
	var rows []*transferRow
	seen := map[target]bool{}
	var targets []target
	for _, c := range cells {
		byVariant := map[study.Variant]map[target][]float64{}
		why := map[study.Variant]map[target]string{}
		for _, r := range c.runs {
			for _, e := range r.transfers {
				t := target{e.cfg.Dataset, e.cfg.Classes}
				v := e.variant()
				if byVariant[v] == nil {
					byVariant[v], why[v] = map[target][]float64{}, map[target]string{}
				}
				if !seen[t] {
					seen[t] = true
					targets = append(targets, t)
				}
				if ev := evalOf(e); ev != nil {
					byVariant[v][t] = append(byVariant[v][t], ev.Accuracy)
				} else {
					byVariant[v][t] = append(byVariant[v][t], math.NaN())
					why[v][t] = e.job.StateText()
				}
			}
		}
		for _, v := range append([]study.Variant{study.VariantFull}, study.Ablations...) {
			if byVariant[v] == nil {
				continue
			}
			row := &transferRow{source: c, variant: v, acc: map[target]stat{}, tried: map[target]int{}, pending: why[v]}
			for t, xs := range byVariant[v] {
				row.acc[t], row.tried[t] = statOf(xs), len(xs)
			}
			rows = append(rows, row)
		}
	}
	sortTargets(targets)
	return rows, targets
}

func sortTargets(ts []target) {
	names := make([]string, 0, len(ts))
	index := map[string][]target{}
	for _, t := range ts {
		if _, ok := index[t.dataset]; !ok {
			names = append(names, t.dataset)
		}
		index[t.dataset] = append(index[t.dataset], t)
	}
	sortDatasets(names)
	ts = ts[:0]
	for _, n := range names {
		ts = append(ts, index[n]...)
	}
}

// average is the row's mean over its targets other than the source's own
// dataset (the paper's average over the ten targets), NaN until every one
// has a number.
func (r *transferRow) average(targets []target) float64 {
	var vs []float64
	for _, t := range targets {
		if t.dataset == r.source.dataset {
			continue
		}
		if s, ok := r.acc[t]; ok {
			if !r.complete(t) {
				return math.NaN()
			}
			vs = append(vs, s.mean)
		}
	}
	if len(vs) == 0 {
		return math.NaN()
	}
	return statOf(vs).mean
}

// variantName is how the transfer view names a test-time variant.
func variantName(v study.Variant) string {
	if v == study.VariantNoShared {
		return "projection-free"
	}
	return string(v)
}

// transferTable is the paper's cross-dataset table: each source
// configuration, with and without its visual prompts at test time, on
// every target, and zero-shot CLIP on the same targets.
func transferTable(rows []*transferRow, targets []target, bases map[string]*baseline) *table {
	t := &table{name: "transfer", title: "Transfer: source to targets",
		caption: "Accuracy on the test split of each target (all classes unless marked) of each source configuration's " +
			"checkpoint, tested with the full method and projection-free (its tokens without the visual prompts), mean ± std " +
			"over the source's seeds (seeds: how many it has); zero-shot CLIP of the same run for comparison. Targets in the paper's " +
			"order. Average is over the targets other than the source's own dataset, " + missing + " until every seed of all of " +
			"them is done; missing says which are not. A blank cell is not a target of that row.",
		cols: []column{col("source"), col("configuration"), col("test"), numCol("seeds"), statCol("source acc")}}
	for _, tg := range targets {
		t.cols = append(t.cols, statCol(tg.name()))
	}
	t.cols = append(t.cols, numCol("average"), col("missing"))
	nameCells(sources(rows))
	for _, r := range rows {
		f := []field{str(displayName(r.source.dataset)), str(r.source.label), str(variantName(r.variant)), count(len(r.source.runs)), num(r.source.base)}
		var gaps []string
		for _, tg := range targets {
			s, ok := r.acc[tg]
			if !ok {
				f = append(f, str(""))
				continue
			}
			f = append(f, num(s))
			if !r.complete(tg) {
				gaps = append(gaps, fmt.Sprintf("%s: %d of %d seeds (%s)", tg.name(), s.n, r.tried[tg], r.pending[tg]))
			}
		}
		t.add(append(f, plainNum(r.average(targets)), str(strings.Join(gaps, "; ")))...)
	}
	if zs := zeroShotTransferRow(targets, bases); zs != nil {
		t.add(zs...)
	}
	return t
}

// sources are the distinct source cells of the rows.
func sources(rows []*transferRow) []*cell {
	var out []*cell
	seen := map[*cell]bool{}
	for _, r := range rows {
		if !seen[r.source] {
			seen[r.source] = true
			out = append(out, r.source)
		}
	}
	return out
}

// zeroShotTransferRow is zero-shot CLIP on the targets, when the grid
// tested them; nil when it tested none.
func zeroShotTransferRow(targets []target, bases map[string]*baseline) []field {
	f := []field{str("zero-shot CLIP"), str(""), str(""), str(""), str("")}
	any := false
	var vs []float64
	for _, tg := range targets {
		b := bases[tg.dataset]
		acc := math.NaN()
		if b != nil {
			acc = b.acc(tg.classes)
		}
		if finite(acc) {
			any = true
			vs = append(vs, acc)
		}
		f = append(f, plainNum(acc))
	}
	if !any {
		return nil
	}
	return append(f, str(""), str(""))
}
