package report

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// factorFigure draws the main effects: one panel per swept parameter
// (largest spread first, at most top), mean H per value with the spread
// over configurations.
func factorFigure(fs []*factor, top int) *figure {
	if len(fs) == 0 {
		return nil
	}
	if len(fs) > top {
		fs = fs[:top]
	}
	cols := min(3, len(fs))
	rows := (len(fs) + cols - 1) / cols
	f := newTiles("Main effects: mean H per parameter value (± std over configurations)", rows, cols, 2.2*vg.Inch)
	var legendDots *dots
	for i, fc := range fs {
		p := newPlot(fc.param)
		p.Title.TextStyle.Font.Size = vg.Points(10)
		d := newDots(circle, hColor)
		d.vertical = true
		var line plotter.XYs
		for j, v := range fc.values {
			l := fc.level(v)
			d.pts = append(d.pts, dot{x: float64(j), y: l.hm.value(), err: l.hm.std})
			if finite(l.hm.value()) {
				line = append(line, plotter.XY{X: float64(j), Y: l.hm.mean})
			}
		}
		if len(line) > 1 {
			if l, err := plotter.NewLine(line); err == nil {
				l.LineStyle = draw.LineStyle{Color: greyColor, Width: vg.Points(1)}
				p.Add(l)
			}
		}
		p.Add(plotter.NewGrid(), d)
		p.NominalX(fc.values...)
		p.X.Min, p.X.Max = -0.5, float64(len(fc.values))-0.5
		_, _, lo, hi := d.DataRange()
		p.Y.Min, p.Y.Max = padRange(lo, hi)
		p.Y.Label.Text = "H"
		f.plots[i/cols][i%cols] = p
		legendDots = d
	}
	fillTiles(f)
	f.addLegend("mean H ± std", legendDots)
	return f
}

// fillTiles puts blank plots in the empty tiles of the last row: gonum
// aligns full grids only.
func fillTiles(f *figure) {
	for r := range f.plots {
		for c := range f.plots[r] {
			if f.plots[r][c] == nil {
				p := newPlot("")
				p.HideAxes()
				f.plots[r][c] = p
			}
		}
	}
}

// heatmapFigure is mean H for each pair of values of two parameters.
func heatmapFigure(fa, fb *factor) *figure {
	values := heatmapCells(fa, fb)
	f := newFigure("Mean H by " + fa.param + " and " + fb.param)
	p := f.main()
	p.Add(newHeatCells(values))
	p.NominalX(fb.values...)
	p.NominalY(fa.values...)
	p.X.Label.Text, p.Y.Label.Text = fb.param, fa.param
	p.X.Min, p.X.Max = -0.5, float64(len(fb.values))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(fa.values))-0.5
	f.width = min(plotWidth, vg.Length(len(fb.values))*vg.Points(60)+vg.Inch)
	f.height = max(2*vg.Inch, vg.Length(len(fa.values))*vg.Points(28)+vg.Inch)
	return f
}

// ablationFigure is grouped bars: for each dataset (and their mean), one bar
// per variant of its paired Δ H against the full method, with the spread
// over seeds (over datasets for the mean). The full method is the zero line.
func ablationFigure(datasets []string, means []*variantMeans) *figure {
	if len(means) == 0 {
		return nil
	}
	f := newFigure("Ablations: Δ H against the full method")
	p := f.main()
	p.Y.Label.Text = "Δ H (percentage points)"
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid, &refLine{at: 0, style: draw.LineStyle{Color: hColor, Width: vg.Points(1)}})
	groups := append(append([]string(nil), datasets...), "mean")
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = displayName(g)
	}
	bars := &groupedBars{width: vg.Points(min(14, 260/float64(len(groups)*len(means))))}
	for k, m := range means {
		vals, errs := ablationBars(m, datasets)
		bars.values, bars.errs = append(bars.values, vals), append(bars.errs, errs)
		c := lineColors[k%len(lineColors)]
		bars.colors = append(bars.colors, c)
		f.addLegend(string(m.variant), barThumb{c})
	}
	p.Add(bars)
	p.NominalX(names...)
	f.width = min(plotWidth, max(4.5*vg.Inch, vg.Length(len(groups)*len(means))*bars.width*1.8+vg.Inch))
	return f
}

// ablationBars are a variant's Δ H per dataset and their mean over
// datasets, with spreads.
func ablationBars(m *variantMeans, datasets []string) (vals, errs []float64) {
	var perDS []float64
	for _, ds := range datasets {
		s, ok := m.perDS[ds]
		d := math.NaN()
		if ok && s[2].ok() && s[5].ok() {
			d = s[2].mean - s[5].mean
			perDS = append(perDS, d)
		}
		vals, errs = append(vals, d), append(errs, 0)
	}
	mean := statOf(perDS)
	return append(vals, mean.value()), append(errs, mean.std)
}

// transferFigure is a dot plot of accuracy per target (paper order, top to
// bottom) for each source row, zero-shot CLIP as hollow marks.
func transferFigure(rows []*transferRow, targets []target, bases map[string]*baseline, top int) *figure {
	if len(rows) == 0 || len(targets) == 0 {
		return nil
	}
	if len(rows) > top {
		rows = rows[:top]
	}
	f := newFigure("Transfer: accuracy per target")
	p := f.main()
	p.X.Label.Text = "accuracy (%), mean ± std over the source's seeds"
	p.Add(xGrid())
	n := len(targets)
	names := make([]string, n)
	for i, t := range targets {
		names[n-1-i] = t.name()
	}
	var series []*dots
	glyphs := []draw.GlyphStyle{circle, square, triangle, diamond}
	for k, r := range rows {
		d := newDots(glyphs[k%len(glyphs)], lineColors[k%len(lineColors)])
		for i, t := range targets {
			s := r.acc[t]
			d.pts = append(d.pts, dot{x: s.value(), y: float64(n-1-i) + 0.3 - 0.6*float64(k+1)/float64(len(rows)+1), err: s.std})
		}
		p.Add(d)
		series = append(series, d)
		f.addLegend(fmt.Sprintf("%s · %s (%d)", r.source.label, variantName(r.variant), len(r.source.runs)), d)
	}
	zs := newDots(draw.GlyphStyle{Radius: vg.Points(3.5), Shape: draw.RingGlyph{}}, greyColor)
	for i, t := range targets {
		if b := bases[t.dataset]; b != nil {
			zs.pts = append(zs.pts, dot{x: b.acc(t.classes), y: float64(n - 1 - i)})
		}
	}
	if len(zs.pts) > 0 {
		p.Add(zs)
		series = append(series, zs)
		f.addLegend("zero-shot CLIP", zs)
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = padRange(dotsRange(series))
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	f.height = rowsHeight(n)
	return f
}
