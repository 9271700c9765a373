package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fomo-grid/grid/internal/study"
)

var (
	circle   = draw.GlyphStyle{Radius: vg.Points(3.2), Shape: draw.CircleGlyph{}}
	square   = draw.GlyphStyle{Radius: vg.Points(3), Shape: draw.BoxGlyph{}}
	triangle = draw.GlyphStyle{Radius: vg.Points(3.8), Shape: draw.PyramidGlyph{}}
	diamond  = draw.GlyphStyle{Radius: vg.Points(3.5), Shape: draw.PlusGlyph{}}
)

// rowHeight is the height of one row of a dot plot; a figure of n rows is
// about n·rowHeight plus its axes, bounded by top-N.
const rowHeight = 16

func rowsHeight(n int) vg.Length {
	return max(minPlotHeight, vg.Length(n)*vg.Points(rowHeight)+1.1*vg.Inch)
}

// accuracyFigure shows a dataset's best configurations (at most top) as a
// dot plot: base, new and H with their spread over seeds, best at the top,
// zero-shot CLIP and published numbers as reference lines. The axis fits
// the numbers shown. The configurations left out are counted in the last
// row's label.
func accuracyFigure(g *group, base *baseline, refs []reference, top int) *figure {
	var shown []*cell
	for _, c := range g.cells {
		if c.rankH > 0 && len(shown) < top {
			shown = append(shown, c)
		}
	}
	if len(shown) == 0 {
		return nil
	}
	f := newFigure("Base and new accuracy: " + displayName(g.dataset))
	p := f.main()
	p.X.Label.Text = "accuracy (%), mean ± std over seeds"
	p.Add(xGrid())
	n := len(shown)
	names := make([]string, n)
	series := []*dots{newDots(circle, baseColor), newDots(square, newColor), newDots(triangle, hColor)}
	for i, c := range shown {
		y := float64(n - 1 - i)
		names[n-1-i] = truncate(fmt.Sprintf("%s (%d)", c.label, c.h.n), maxLegendRunes)
		for k, s := range []stat{c.base, c.new, c.h} {
			series[k].pts = append(series[k].pts, dot{x: s.mean, y: y + 0.22*float64(1-k), err: s.std})
		}
	}
	for k, name := range []string{"base", "new", "H = 2BN/(B+N)"} {
		p.Add(series[k])
		f.addLegend(name, series[k])
	}
	lo, hi := dotsRange(series)
	addBaselineLines(f, base, &lo, &hi)
	addReferenceLines(f, refs, g.dataset, &lo, &hi)
	if more := rankedCount(g) - n; more > 0 {
		names[0] += fmt.Sprintf("  … +%d more", more)
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = padRange(lo, hi)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	f.height = rowsHeight(n)
	return f
}

func rankedCount(g *group) int {
	n := 0
	for _, c := range g.cells {
		if c.rankH > 0 {
			n++
		}
	}
	return n
}

func xGrid() *plotter.Grid {
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	return grid
}

// dotsRange is the extent of the dots' whiskers.
func dotsRange(series []*dots) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range series {
		xmin, xmax, _, _ := s.DataRange()
		lo, hi = math.Min(lo, xmin), math.Max(hi, xmax)
	}
	return lo, hi
}

// addBaselineLines marks zero-shot CLIP's base, new and H.
func addBaselineLines(f *figure, b *baseline, lo, hi *float64) {
	if b == nil {
		return
	}
	dash := []vg.Length{vg.Points(5), vg.Points(3)}
	for _, l := range []struct {
		v    float64
		c    color.Color
		name string
	}{{b.acc(study.ClassesBase), baseColor, "zero-shot base"}, {b.acc(study.ClassesNew), newColor, "zero-shot new"}, {b.h(), hColor, "zero-shot H"}} {
		if !finite(l.v) {
			continue
		}
		line := &refLine{at: l.v, vertical: true, style: draw.LineStyle{Color: l.c, Width: vg.Points(1), Dashes: dash}}
		f.main().Add(line)
		f.addLegend(l.name, line)
		*lo, *hi = math.Min(*lo, l.v), math.Max(*hi, l.v)
	}
}

// addReferenceLines marks the published H of other methods on a dataset.
func addReferenceLines(f *figure, refs []reference, dataset string, lo, hi *float64) {
	i := 0
	for _, r := range refs {
		if r.dataset != dataset || !finite(r.h) {
			continue
		}
		line := &refLine{at: r.h, vertical: true, style: draw.LineStyle{
			Color: lineColors[(i+6)%len(lineColors)], Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(1.5), vg.Points(2)}}}
		f.main().Add(line)
		f.addLegend(r.method+" H (published)", line)
		*lo, *hi = math.Min(*lo, r.h), math.Max(*hi, r.h)
		i++
	}
}

// curve is a training-loss curve over % of training: the mean over a
// configuration's seeds with their range as a band.
type curve struct {
	label        string
	x            []float64 // percent of training
	mean, lo, hi []float64
}

// lossFigure draws the best configuration's curve with its band over seeds
// and the next configurations as thin lines; x is % of training, so runs
// of different length line up.
func lossFigure(dataset string, curves []curve, more int) (*figure, error) {
	if len(curves) == 0 {
		return nil, nil
	}
	f := newFigure("Training loss: " + displayName(dataset))
	p := f.main()
	p.X.Label.Text = "% of training"
	p.Y.Label.Text = "loss (running mean within epoch)"
	p.Add(plotter.NewGrid())
	// The best configuration is drawn last, over the others, with its band.
	for i := len(curves) - 1; i >= 0; i-- {
		style := lineStyle(i)
		if i > 0 {
			style.Width = vg.Points(1)
		}
		if err := addCurve(p, curves[i], style, i == 0); err != nil {
			return nil, err
		}
	}
	for i, c := range curves {
		style := lineStyle(i)
		name := c.label
		if i == 0 {
			name = "best: " + name
		}
		f.addLegend(name, &plotter.Line{LineStyle: style})
	}
	if more > 0 {
		f.addLegend(fmt.Sprintf("(%d more configurations not drawn)", more))
	}
	p.X.Min, p.X.Max = 0, 100
	return f, nil
}

// addCurve draws the mean line, and with band the seeds' range under it.
func addCurve(p *plot.Plot, c curve, style draw.LineStyle, band bool) error {
	if band {
		if poly := bandPolygon(c); poly != nil {
			r, g, b, _ := style.Color.RGBA()
			poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0x40}
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
	}
	for _, seg := range segments(c.x, c.mean) {
		if len(seg) == 1 {
			s, err := plotter.NewScatter(seg)
			if err != nil {
				return err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: style.Color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
			p.Add(s)
			continue
		}
		l, err := plotter.NewLine(seg)
		if err != nil {
			return err
		}
		l.LineStyle = style
		p.Add(l)
	}
	return nil
}

// bandPolygon is the region between lo and hi, or nil when the curve has a
// gap or a single seed (nothing to show).
func bandPolygon(c curve) *plotter.Polygon {
	var pts plotter.XYs
	for i := range c.x {
		if !finite(c.lo[i]) || !finite(c.hi[i]) {
			return nil
		}
		pts = append(pts, plotter.XY{X: c.x[i], Y: c.hi[i]})
	}
	same := true
	for i := len(c.x) - 1; i >= 0; i-- {
		pts = append(pts, plotter.XY{X: c.x[i], Y: c.lo[i]})
		same = same && c.lo[i] == c.hi[i]
	}
	if same || len(pts) < 4 {
		return nil
	}
	poly, err := plotter.NewPolygon(pts)
	if err != nil {
		return nil
	}
	return poly
}

// lossTiles are small multiples: the best configuration's curve of each
// dataset in a panel of its own, three to a row.
func lossTiles(names []string, curves []curve) (*figure, error) {
	if len(curves) == 0 {
		return nil, nil
	}
	cols := min(3, len(curves))
	rows := (len(curves) + cols - 1) / cols
	f := newTiles("Training loss of the best configuration per dataset (mean over seeds, band: their range)", rows, cols, 2*vg.Inch)
	for i, c := range curves {
		p := newPlot(displayName(names[i]))
		p.Title.TextStyle.Font.Size = vg.Points(9)
		p.X.Min, p.X.Max = 0, 100
		p.X.Label.Text = "% of training"
		p.Add(plotter.NewGrid())
		if err := addCurve(p, c, lineStyle(0), true); err != nil {
			return nil, err
		}
		f.plots[i/cols][i%cols] = p
	}
	fillTiles(f)
	return f, nil
}

// trajectoryFigure shows which prompt the selection held over training:
// one row per prompt (the top ones by how long they were held, the rest
// as one row), a bar where it was selected.
func trajectoryFigure(dataset, label string, prompts []string, top int) *figure {
	if len(prompts) == 0 {
		return nil
	}
	order, rows := promptSpans(prompts, top)
	f := newFigure("Selected prompt over training: " + displayName(dataset))
	p := f.main()
	p.X.Label.Text = "% of training   (" + truncate(label, 70) + ")"
	p.Add(xGrid())
	p.Add(&spans{rows: rows, style: draw.LineStyle{Color: baseColor, Width: vg.Points(7)}})
	names := make([]string, len(order))
	for i, o := range order {
		names[i] = truncate(o, maxLegendRunes)
	}
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, 100
	p.Y.Min, p.Y.Max = -0.6, float64(len(order))-0.4
	f.height = rowsHeight(len(order))
	return f
}

// promptSpans turns the prompt of every step into rows: the top prompts by
// steps held, in order of first selection (bottom row first selected last,
// so the plot reads top-down), and "other" for the rest.
func promptSpans(prompts []string, top int) (names []string, rows [][][2]float64) {
	held := map[string]int{}
	var first []string
	for _, s := range prompts {
		if held[s] == 0 {
			first = append(first, s)
		}
		held[s]++
	}
	keep := map[string]bool{}
	for _, s := range topByCount(first, held, top) {
		keep[s] = true
	}
	var order []string
	for _, s := range first {
		if keep[s] {
			order = append(order, s)
		}
	}
	other := len(first) - len(order)
	if other > 0 {
		order = append(order, fmt.Sprintf("%d other prompts", other))
	}
	index := map[string]int{}
	for i, s := range order {
		index[s] = len(order) - 1 - i
	}
	rows = make([][][2]float64, len(order))
	n := float64(len(prompts))
	for i, s := range prompts {
		row, ok := index[s]
		if !ok {
			row = 0 // the "other" row is last, at the bottom
		}
		x0, x1 := 100*float64(i)/n, 100*float64(i+1)/n
		if r := rows[row]; len(r) > 0 && r[len(r)-1][1] == x0 {
			r[len(r)-1][1] = x1
			continue
		}
		rows[row] = append(rows[row], [2]float64{x0, x1})
	}
	names = make([]string, len(order))
	for i, s := range order {
		names[len(order)-1-i] = s
	}
	return names, rows
}

// topByCount keeps the n names with the highest counts, ties in order.
func topByCount(names []string, counts map[string]int, n int) []string {
	out := append([]string(nil), names...)
	for i := 1; i < len(out); i++ { // insertion sort: stable, short lists
		for j := i; j > 0 && counts[out[j]] > counts[out[j-1]]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}
