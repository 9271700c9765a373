package report

import (
	"strings"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// pair is an ablation variant's cell and the full method's cell of the same
// configuration, with the seeds both completed.
type pair struct {
	full, variant *cell
	seeds         []int64
	// Per seed (in seeds' order): the variant's and the full method's
	// base, new and H.
	vb, vn, vh, fb, fn, fh []float64
}

func (p *pair) delta(v, f []float64) stat {
	d := make([]float64, len(v))
	for i := range v {
		d[i] = v[i] - f[i]
	}
	return statOf(d)
}

// pairCells matches every variant cell (base classes) with the full cell of
// the same configuration and pairs their runs by seed.
func pairCells(cells []*cell) []*pair {
	full := map[string]*cell{}
	for _, c := range cells {
		if c.variant == study.VariantFull && c.classes == study.ClassesBase {
			full[withVariant(c.key, study.VariantFull)] = c
		}
	}
	var out []*pair
	for _, c := range cells {
		if c.variant == study.VariantFull || c.classes != study.ClassesBase {
			continue
		}
		p := &pair{variant: c, full: full[withVariant(c.key, study.VariantFull)]}
		if p.full != nil {
			p.match()
		}
		out = append(out, p)
	}
	return out
}

// withVariant is a cell key with its variant replaced: keys are the
// configurations' JSON, and the variant is one of its fields.
func withVariant(key string, v study.Variant) string {
	i := strings.Index(key, `"variant":"`)
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+len(`"variant":"`):], '"')
	if j < 0 {
		return key
	}
	return key[:i] + `"variant":"` + string(v) + key[i+len(`"variant":"`)+j:]
}

// match pairs the two cells' complete runs by seed.
func (p *pair) match() {
	fullRuns := map[int64]*run{}
	for _, r := range p.full.runs {
		if p.full.complete(r) {
			fullRuns[r.seed] = r
		}
	}
	for _, r := range p.variant.runs {
		f, ok := fullRuns[r.seed]
		if !ok || !p.variant.complete(r) {
			continue
		}
		vb, vn := r.own().Accuracy, r.newEval().Accuracy
		fb, fn := f.own().Accuracy, f.newEval().Accuracy
		p.seeds = append(p.seeds, r.seed)
		p.vb, p.vn, p.vh = append(p.vb, vb), append(p.vn, vn), append(p.vh, results.HarmonicMean(vb, vn))
		p.fb, p.fn, p.fh = append(p.fb, fb), append(p.fn, fn), append(p.fh, results.HarmonicMean(fb, fn))
	}
}

// ablationByDataset groups pairs by dataset (paper order) and names their
// configurations within each dataset.
func ablationByDataset(pairs []*pair) (datasets []string, byDS map[string][]*pair) {
	byDS = map[string][]*pair{}
	for _, p := range pairs {
		ds := p.variant.dataset
		if _, ok := byDS[ds]; !ok {
			datasets = append(datasets, ds)
		}
		byDS[ds] = append(byDS[ds], p)
	}
	sortDatasets(datasets)
	for _, ds := range datasets {
		// Full cells (and variants without one) are named among
		// themselves; a variant takes its full cell's name, the variant
		// column tells them apart.
		var cells []*cell
		seen := map[*cell]bool{}
		for _, p := range byDS[ds] {
			c := p.full
			if c == nil {
				c = p.variant
			}
			if !seen[c] {
				seen[c] = true
				cells = append(cells, c)
			}
		}
		nameCells(cells, "variant")
		for _, p := range byDS[ds] {
			if p.full != nil {
				p.variant.label = p.full.label
			}
		}
	}
	return datasets, byDS
}

const ablationNote = "Each variant switches one component of DPT off and is compared with the full method on the same " +
	"configuration and the same seeds (paired): Δ = variant − full, in percentage points, mean ± std over the paired seeds. " +
	"The study is every grid run into this database."

// ablationTable is every variant against its full cell, per dataset.
func ablationTable(datasets []string, byDS map[string][]*pair) *table {
	t := &table{name: "ablation", title: "Ablations: each variant against the full method",
		caption: ablationNote + " The full row shows the full method over the seeds its variants were paired on. " + missing +
			" marks a variant without a full-method cell of its configuration, or no seed both completed.",
		cols: []column{col("dataset"), col("configuration"), col("variant"), numCol("seeds"), statCol("base"), statCol("new"),
			statCol("H"), statCol("Δ base"), statCol("Δ new"), statCol("Δ H"), col("state")}}
	for _, ds := range datasets {
		shown := map[*cell]bool{}
		for _, p := range byDS[ds] {
			if p.full != nil && !shown[p.full] {
				shown[p.full] = true
				t.add(str(displayName(ds)), str(p.full.label), str(string(study.VariantFull)), count(len(p.seeds)),
					num(statOf(p.fb)), num(statOf(p.fn)), num(statOf(p.fh)), diff(stat{}), diff(stat{}), diff(stat{}), str(p.full.state()))
			}
			state := p.variant.state()
			if p.full == nil {
				state = "no full-method cell of this configuration; " + state
			}
			t.add(str(displayName(ds)), str(p.variant.label), str(string(p.variant.variant)), count(len(p.seeds)),
				num(statOf(p.vb)), num(statOf(p.vn)), num(statOf(p.vh)),
				diff(p.delta(p.vb, p.fb)), diff(p.delta(p.vn, p.fn)), diff(p.delta(p.vh, p.fh)), str(state))
		}
	}
	return t
}

// variantMeans is, per variant, each dataset's mean over its pairs and
// seeds: the bars of the ablation figure and the rows of the mean table.
type variantMeans struct {
	variant study.Variant
	// perDS[ds]: the variant's and its full method's base/new/H over the
	// dataset's paired seeds.
	perDS map[string][6]stat
}

func ablationMeans(datasets []string, byDS map[string][]*pair) []*variantMeans {
	var out []*variantMeans
	index := map[study.Variant]*variantMeans{}
	for _, ds := range datasets {
		acc := map[study.Variant]*[6][]float64{}
		var order []study.Variant
		for _, p := range byDS[ds] {
			v := p.variant.variant
			if acc[v] == nil {
				acc[v] = &[6][]float64{}
				order = append(order, v)
			}
			a := acc[v]
			for i, xs := range [][]float64{p.vb, p.vn, p.vh, p.fb, p.fn, p.fh} {
				a[i] = append(a[i], xs...)
			}
		}
		for _, v := range order {
			m := index[v]
			if m == nil {
				m = &variantMeans{variant: v, perDS: map[string][6]stat{}}
				index[v] = m
				out = append(out, m)
			}
			var s [6]stat
			for i, xs := range acc[v] {
				s[i] = statOf(xs)
			}
			m.perDS[ds] = s
		}
	}
	return out
}

// ablationMeanTable averages each variant over datasets: every dataset
// counts once (its mean over configurations and seeds), as abla.ipynb did.
func ablationMeanTable(datasets []string, means []*variantMeans) *table {
	t := &table{name: "ablation-mean", title: "Ablations: mean over datasets",
		caption: ablationNote + " Each dataset counts once, with its mean over its paired configurations and seeds; ± is " +
			"the standard deviation over datasets. The full row averages the full method over the same datasets.",
		cols: []column{col("variant"), numCol("datasets"), statCol("base"), statCol("new"), statCol("H"),
			statCol("Δ base"), statCol("Δ new"), statCol("Δ H")}}
	var fullRow [3][]float64
	fullSeen := map[string]bool{}
	for _, m := range means {
		var cols [6][]float64
		for _, ds := range datasets {
			s, ok := m.perDS[ds]
			if !ok || !s[2].ok() {
				continue
			}
			for i := 0; i < 3; i++ {
				cols[i] = append(cols[i], s[i].mean)
				cols[3+i] = append(cols[3+i], s[i].mean-s[3+i].mean)
			}
			if !fullSeen[ds] {
				fullSeen[ds] = true
				for i := 0; i < 3; i++ {
					fullRow[i] = append(fullRow[i], s[3+i].mean)
				}
			}
		}
		t.add(str(string(m.variant)), count(len(cols[0])), num(statOf(cols[0])), num(statOf(cols[1])), num(statOf(cols[2])),
			diff(statOf(cols[3])), diff(statOf(cols[4])), diff(statOf(cols[5])))
	}
	full := []field{str(string(study.VariantFull)), count(len(fullRow[0])), num(statOf(fullRow[0])), num(statOf(fullRow[1])),
		num(statOf(fullRow[2])), diff(stat{}), diff(stat{}), diff(stat{})}
	t.rows = append([][]field{full}, t.rows...)
	return t
}
