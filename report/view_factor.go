package report

import (
	"math"
	"sort"
	"strconv"
)

// factor is one swept parameter of the grid search and its main effect:
// the mean over the cells that had each of its values.
type factor struct {
	param  string
	values []string // sorted numerically when they are numbers
	cells  map[string][]*cell
}

// level is the mean base, new and H over the cells with one value; each
// cell counts once, with its mean over seeds.
type level struct {
	value        string
	n            int
	base, nw, hm stat
}

func (f *factor) level(v string) level {
	var b, n, h []float64
	for _, c := range f.cells[v] {
		b, n, h = append(b, c.base.value()), append(n, c.new.value()), append(h, c.h.value())
	}
	l := level{value: v, base: statOf(b), nw: statOf(n), hm: statOf(h)}
	l.n = l.hm.n
	return l
}

// spread is the range of the levels' mean H: how much the parameter moves
// the result on its own.
func (f *factor) spread() (spread float64, best string) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range f.values {
		m := f.level(v).hm.value()
		if !finite(m) {
			continue
		}
		lo = math.Min(lo, m)
		if m > hi {
			hi, best = m, v
		}
	}
	if best == "" {
		return math.NaN(), ""
	}
	return hi - lo, best
}

// factors finds every parameter swept in the grid search (a label with at
// least two values; seed and variant are not parameters) over the complete
// cells of all datasets, largest spread first.
func factors(groups []*group) []*factor {
	byParam := map[string]*factor{}
	for _, g := range groups {
		for _, c := range g.cells {
			if !c.h.ok() {
				continue
			}
			for k, v := range c.labels {
				if k == "variant" {
					continue
				}
				f, ok := byParam[k]
				if !ok {
					f = &factor{param: k, cells: map[string][]*cell{}}
					byParam[k] = f
				}
				if _, seen := f.cells[v]; !seen {
					f.values = append(f.values, v)
				}
				f.cells[v] = append(f.cells[v], c)
			}
		}
	}
	var out []*factor
	for _, f := range byParam {
		if len(f.values) < 2 {
			continue
		}
		sortValues(f.values)
		out = append(out, f)
	}
	sort.Slice(out, func(a, b int) bool {
		sa, _ := out[a].spread()
		sb, _ := out[b].spread()
		if sa != sb && finite(sa) && finite(sb) {
			return sa > sb
		}
		return out[a].param < out[b].param
	})
	return out
}

// sortValues orders parameter values numerically where they are numbers.
func sortValues(vs []string) {
	sort.SliceStable(vs, func(a, b int) bool {
		fa, ea := strconv.ParseFloat(vs[a], 64)
		fb, eb := strconv.ParseFloat(vs[b], 64)
		if ea == nil && eb == nil {
			return fa < fb
		}
		return vs[a] < vs[b]
	})
}

const factorNote = "Every configuration of the grid search with a complete seed counts once, with its mean over seeds, " +
	"pooled over datasets as analysis.ipynb did; ± is the standard deviation over those configurations."

// factorTables are the main-effects summary and the mean per value.
func factorTables(fs []*factor) (effects, levels *table) {
	effects = &table{name: "factors", title: "Main effects",
		caption: "For each swept parameter, the spread of mean H over its values (largest first): how much it moves " +
			"the result on its own, and the value with the best mean H. " + factorNote,
		cols: []column{col("parameter"), numCol("values"), numCol("spread of H"), numCol("spread of base"),
			numCol("spread of new"), col("best value")}}
	levels = &table{name: "factor-levels", title: "Mean per parameter value",
		caption: "Mean base, new and H over the configurations with each value of each swept parameter. " + factorNote,
		cols:    []column{col("parameter"), col("value"), numCol("configurations"), statCol("base"), statCol("new"), statCol("H")}}
	for _, f := range fs {
		spread, best := f.spread()
		var bs, ns []float64
		for _, v := range f.values {
			l := f.level(v)
			bs, ns = append(bs, l.base.value()), append(ns, l.nw.value())
			levels.add(str(f.param), str(v), count(l.n), num(l.base), num(l.nw), num(l.hm))
		}
		effects.add(str(f.param), count(len(f.values)), plainNum(spread), plainNum(rangeOf(bs)), plainNum(rangeOf(ns)), str(best))
	}
	return effects, levels
}

func rangeOf(vs []float64) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo > hi {
		return math.NaN()
	}
	return hi - lo
}

// heatmapCells is the mean H of the cells with each pair of values of two
// parameters: values[i][j] for a's i-th and b's j-th value.
func heatmapCells(fa, fb *factor) [][]stat {
	out := make([][]stat, len(fa.values))
	for i, va := range fa.values {
		out[i] = make([]stat, len(fb.values))
		inA := map[*cell]bool{}
		for _, c := range fa.cells[va] {
			inA[c] = true
		}
		for j, vb := range fb.values {
			var hs []float64
			for _, c := range fb.cells[vb] {
				if inA[c] {
					hs = append(hs, c.h.value())
				}
			}
			out[i][j] = statOf(hs)
		}
	}
	return out
}
