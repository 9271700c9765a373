package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/fomo-grid/grid/results"
)

// Figure geometry. The data area keeps its width whatever the legend needs;
// the legend gets its own column to the right so it never covers data
// (gonum draws legends inside the data area otherwise).
const (
	pngDPI         = 144
	plotWidth      = 6.5 * vg.Inch
	minPlotHeight  = 4 * vg.Inch
	legendGap      = 8 // points between plot and legend
	legendMargin   = 6 // points around the legend
	plotMargin     = 4 // points left of, above and below the plot
	maxLegendRunes = 60
)

// figure is a plot with a legend drawn beside it.
type figure struct {
	plot   *plot.Plot
	legend plot.Legend
	height vg.Length // at least minPlotHeight, more for tall bar charts
}

func newFigure(title string) *figure {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(6)
	leg := plot.NewLegend()
	leg.Top = true
	leg.Left = true
	leg.Padding = vg.Points(3)
	leg.TextStyle.Font.Size = vg.Points(10)
	// gonum defaults to a serif face; sans reads better at small sizes.
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &leg.TextStyle.Font} {
		f.Variant = "Sans"
	}
	return &figure{plot: p, legend: leg, height: minPlotHeight}
}

func (f *figure) addLegend(name string, thumbs ...plot.Thumbnailer) {
	f.legend.Add(truncate(name, maxLegendRunes), thumbs...)
}

func (f *figure) legendSize() (w, h vg.Length) {
	size := f.legend.Rectangle(draw.Canvas{}).Size()
	return size.X, size.Y
}

// size is the figure's full extent in points.
func (f *figure) size() (w, h vg.Length) {
	lw, lh := f.legendSize()
	w = plotMargin + plotWidth + legendGap + lw + 2*legendMargin
	h = f.height
	if need := lh + 2*legendMargin + f.plot.Title.TextStyle.Rectangle("Ag").Size().Y; need > h {
		h = need
	}
	return w, h
}

// render draws the figure as "png" or "svg". gonum panics on some
// degenerate inputs; a panic becomes an error so that one bad figure does
// not take the report down.
func (f *figure) render(format string) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing %s: %v", format, r)
		}
	}()
	w, h := f.size()
	var canvas vg.CanvasWriterTo
	switch format {
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}
	case "svg":
		canvas = vgsvg.New(w, h)
	default:
		return nil, fmt.Errorf("unknown figure format %q", format)
	}
	dc := draw.New(canvas)
	lw, _ := f.legendSize()
	right := lw + legendGap + 2*legendMargin
	f.plot.Draw(draw.Crop(dc, plotMargin, -right, plotMargin, -plotMargin))
	titleH := f.plot.Title.TextStyle.Rectangle("Ag").Size().Y + f.plot.Title.Padding
	f.legend.Draw(draw.Crop(dc, w-lw-legendMargin, -legendMargin, legendMargin, -(legendMargin + titleH)))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// lineColors is ColorBrewer's 12-colour "Paired" palette, dark shades first
// so that up to six lines get strong, distinct colours, and with its pale
// yellow (hard to see on white) replaced by a darker gold.
var lineColors = func() []color.Color {
	p, err := brewer.GetPalette(brewer.TypeQualitative, "Paired", 12)
	if err != nil {
		panic(err)
	}
	paired := p.Colors()
	paired[10] = color.RGBA{R: 0xc9, G: 0xa4, B: 0x00, A: 0xff}
	var out []color.Color
	for i := 1; i < 12; i += 2 {
		out = append(out, paired[i])
	}
	for i := 0; i < 12; i += 2 {
		out = append(out, paired[i])
	}
	return out
}()

// lineDashes tell lines apart once the colours repeat.
var lineDashes = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(2), vg.Points(2)},
	{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)},
}

func lineStyle(i int) draw.LineStyle {
	return draw.LineStyle{
		Color:  lineColors[i%len(lineColors)],
		Width:  vg.Points(1.5),
		Dashes: lineDashes[(i/len(lineColors))%len(lineDashes)],
	}
}

var (
	baseColor = color.RGBA{R: 0x1f, G: 0x78, B: 0xb4, A: 0xff} // Paired dark blue
	newColor  = color.RGBA{R: 0xff, G: 0x7f, B: 0x00, A: 0xff} // Paired dark orange
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// segments splits a curve at non-finite values, which gonum rejects.
func segments(xs, ys []float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range xs {
		if !finite(xs[i]) || !finite(ys[i]) {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: xs[i], Y: ys[i]})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// curve is one training-loss line.
type curve struct {
	label string
	steps []float64
	loss  []float64
}

// lossFigure draws one line per configuration; x is the global step and y
// the running mean of the batch losses within the epoch, as logged.
// It returns nil when no curve has a finite point.
func lossFigure(dataset string, curves []curve) (*figure, error) {
	f := newFigure("Training loss: " + dataset)
	f.plot.X.Label.Text = "step"
	f.plot.Y.Label.Text = "loss (running mean within epoch)"
	f.plot.Add(plotter.NewGrid())
	drawn := 0
	for _, c := range curves {
		segs := segments(c.steps, c.loss)
		if len(segs) == 0 {
			continue
		}
		style := lineStyle(drawn)
		for _, seg := range segs {
			if len(seg) == 1 {
				// A lone point between gaps: a line would not show it.
				s, err := plotter.NewScatter(seg)
				if err != nil {
					return nil, err
				}
				s.GlyphStyle = draw.GlyphStyle{Color: style.Color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
				f.plot.Add(s)
				continue
			}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.LineStyle = style
			f.plot.Add(l)
		}
		f.addLegend(c.label, &plotter.Line{LineStyle: style})
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	return f, nil
}

// accuracyRow is one configuration in the accuracy figure; NaN marks a
// missing value.
type accuracyRow struct {
	label         string
	base, new, hm float64
	allClasses    bool // trained on every class: there is no new half
}

const barThickness = 9 // points

// accuracyFigure draws base and new accuracy of each configuration as
// horizontal bars, best first from the top, with the harmonic mean marked.
// Horizontal bars leave room for long configuration labels.
func accuracyFigure(dataset string, rows []accuracyRow) (*figure, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	f := newFigure("Base and new accuracy: " + dataset)
	f.plot.X.Label.Text = "accuracy (%)"
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	f.plot.Add(grid)

	n := len(rows)
	names := make([]string, n)
	base := make(plotter.Values, n)
	newv := make(plotter.Values, n)
	var hm plotter.XYs
	for i, r := range rows {
		pos := n - 1 - i // best at the top
		name := truncate(r.label, maxLegendRunes)
		switch {
		case r.allClasses:
			name += " (all classes)"
		case !finite(r.base) || !finite(r.new):
			name += " (incomplete)"
		}
		names[pos] = name
		base[pos] = zeroIfMissing(r.base)
		newv[pos] = zeroIfMissing(r.new)
		if finite(r.hm) {
			hm = append(hm, plotter.XY{X: r.hm, Y: float64(pos)})
		}
	}
	width := vg.Points(barThickness)
	baseBars, err := plotter.NewBarChart(base, width)
	if err != nil {
		return nil, err
	}
	baseBars.Horizontal = true
	baseBars.Color = baseColor
	baseBars.LineStyle.Width = 0
	baseBars.Offset = width / 2
	newBars, err := plotter.NewBarChart(newv, width)
	if err != nil {
		return nil, err
	}
	newBars.Horizontal = true
	newBars.Color = newColor
	newBars.LineStyle.Width = 0
	newBars.Offset = -width / 2
	f.plot.Add(baseBars, newBars)
	f.addLegend("base", baseBars)
	f.addLegend("new", newBars)
	if len(hm) > 0 {
		marks, err := plotter.NewScatter(hm)
		if err != nil {
			return nil, err
		}
		marks.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3.5), Shape: draw.PyramidGlyph{}}
		f.plot.Add(marks)
		f.addLegend("H = 2BN/(B+N)", marks)
	}
	f.plot.NominalY(names...)
	f.plot.X.Min, f.plot.X.Max = 0, 100
	f.plot.Y.Min, f.plot.Y.Max = -0.6, float64(n)-0.4
	f.height = max(minPlotHeight, vg.Length(n)*(2*width+vg.Points(8))+1.2*vg.Inch)
	return f, nil
}

// transferFigure draws, for each target dataset, one bar per source
// configuration. values[s][t] is NaN where missing.
func transferFigure(sources, targets []string, values [][]float64) (*figure, error) {
	if len(sources) == 0 || len(targets) == 0 {
		return nil, nil
	}
	f := newFigure("Transfer: accuracy per target")
	f.plot.X.Label.Text = "accuracy (%)"
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	f.plot.Add(grid)
	nt := len(targets)
	names := make([]string, nt)
	for t, name := range targets {
		for s := range sources {
			if !finite(values[s][t]) {
				name += " (incomplete)"
				break
			}
		}
		names[nt-1-t] = name
	}
	width := vg.Points(barThickness)
	group := vg.Length(len(sources)) * width
	for s := range sources {
		vals := make(plotter.Values, nt)
		for t := range targets {
			vals[nt-1-t] = zeroIfMissing(values[s][t])
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Horizontal = true
		bars.Color = lineColors[s%len(lineColors)]
		bars.LineStyle.Width = 0
		// First source on top within each group.
		bars.Offset = group/2 - width/2 - vg.Length(s)*width
		f.plot.Add(bars)
		f.addLegend(sources[s], bars)
	}
	f.plot.NominalY(names...)
	f.plot.X.Min, f.plot.X.Max = 0, 100
	f.plot.Y.Min, f.plot.Y.Max = -0.6, float64(nt)-0.4
	f.height = max(minPlotHeight, vg.Length(nt)*(group+vg.Points(8))+1.2*vg.Inch)
	return f, nil
}

func zeroIfMissing(v float64) float64 {
	if !finite(v) {
		return 0
	}
	return v
}

// hmOf is the harmonic mean of a cell, NaN when incomplete.
func hmOf(c results.Cell) float64 {
	h, ok := c.HarmonicMean()
	if !ok {
		return math.NaN()
	}
	return h
}
