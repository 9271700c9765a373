package report

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure geometry. Every figure is its plots (one, or a grid of small
// multiples) with a legend column to their right, sized to the legend's
// entries, so that the legend never covers data and is never cut off. The
// plots keep their width whatever the legend needs; the height grows with
// the rows a figure shows, which top-N bounds.
const (
	pngDPI         = 144
	plotWidth      = 6.5 * vg.Inch
	minPlotHeight  = 3.5 * vg.Inch
	legendGap      = 8 // points between plots and legend
	margin         = 6 // points around everything
	maxLegendRunes = 60
)

// figure is a grid of plots with one legend beside them.
type figure struct {
	title  string // above the plots, for small multiples
	plots  [][]*plot.Plot
	legend plot.Legend
	width  vg.Length // of the plot area
	height vg.Length
}

// newFigure is a figure of one plot titled title.
func newFigure(title string) *figure {
	p := newPlot(title)
	return &figure{plots: [][]*plot.Plot{{p}}, legend: newLegend(), width: plotWidth, height: minPlotHeight}
}

// newTiles is a figure of rows × cols plots, each tileH high.
func newTiles(title string, rows, cols int, tileH vg.Length) *figure {
	f := &figure{title: title, legend: newLegend(), width: plotWidth, height: vg.Length(rows) * tileH}
	for r := 0; r < rows; r++ {
		f.plots = append(f.plots, make([]*plot.Plot, cols))
	}
	return f
}

func (f *figure) main() *plot.Plot { return f.plots[0][0] }

// sans is the face of every text: gonum defaults to a serif face, and sans
// reads better at small sizes.
func sans(size vg.Length) font.Font {
	fnt := font.From(plot.DefaultFont, size)
	fnt.Variant = "Sans"
	return fnt
}

func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(6)
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		st.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(11)
	return p
}

func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.Padding = vg.Points(3)
	l.TextStyle.Font = sans(9)
	return l
}

func (f *figure) addLegend(name string, thumbs ...plot.Thumbnailer) {
	f.legend.Add(truncate(name, maxLegendRunes), thumbs...)
}

// legendSize is the legend's extent, including the descent of its last
// line that gonum draws below its rectangle.
func (f *figure) legendSize() (w, h vg.Length) {
	r := f.legend.Rectangle(draw.Canvas{})
	w, h = r.Size().X, r.Size().Y
	if h > 0 {
		h += f.legend.TextStyle.FontExtents().Descent
	}
	return w, h
}

func (f *figure) titleHeight() vg.Length {
	if f.title == "" {
		return 0
	}
	return f.titleStyle().Rectangle("Ag").Size().Y + 4
}

func (f *figure) titleStyle() text.Style {
	st := text.Style{Font: sans(12), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter}
	return st
}

// size is the figure's full extent in points.
func (f *figure) size() (w, h vg.Length) {
	lw, lh := f.legendSize()
	w = margin + f.width + margin
	if lw > 0 {
		w += legendGap + lw
	}
	h = max(f.height, lh) + f.titleHeight() + 2*margin
	return w, h
}

// canvas makes a canvas of the format: png, svg or pdf.
func canvasFor(format string, w, h vg.Length) (vg.CanvasWriterTo, error) {
	switch format {
	case "png":
		return fastPNG{vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}, nil
	case "svg":
		return vgsvg.New(w, h), nil
	case "pdf":
		return vgpdf.New(w, h), nil
	}
	return nil, fmt.Errorf("unknown figure format %q", format)
}

// fastPNG encodes with the fastest compression: flat-coloured figures
// compress well anyway, and the default level spent half of a report's
// drawing time in deflate.
type fastPNG struct{ *vgimg.Canvas }

func (c fastPNG) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	err := enc.Encode(cw, c.Image())
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// render draws the figure. gonum panics on some degenerate inputs; a panic
// becomes an error, so that one bad figure does not take the report down.
func (f *figure) render(format string) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing %s: %v", format, r)
		}
	}()
	w, h := f.size()
	canvas, err := canvasFor(format, w, h)
	if err != nil {
		return nil, err
	}
	dc := draw.New(canvas)
	top := h - margin - f.titleHeight()
	if f.title != "" {
		dc.FillText(f.titleStyle(), vg.Point{X: margin + f.width/2, Y: top + 2}, f.title)
	}
	area := draw.Crop(dc, margin, -(w - margin - f.width), margin, -(h - top))
	area.Min.Y = area.Max.Y - f.height
	f.drawPlots(area)
	if lw, lh := f.legendSize(); lw > 0 {
		x := margin + f.width + legendGap
		f.legend.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: top - lh}, Max: vg.Point{X: x + lw, Y: top}}})
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (f *figure) drawPlots(area draw.Canvas) {
	if len(f.plots) == 1 && len(f.plots[0]) == 1 {
		f.main().Draw(area)
		return
	}
	rows, cols := len(f.plots), len(f.plots[0])
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(10), PadY: vg.Points(10)}
	canvases := plot.Align(f.plots, tiles, area)
	for r := range f.plots {
		for c, p := range f.plots[r] {
			if p != nil {
				p.Draw(canvases[r][c])
			}
		}
	}
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
	hColor    = color.Black
	greyColor = color.Gray{Y: 0xb0}
)

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

// padRange is [lo, hi] widened by 8% on each side (at least 0.5 points),
// clamped to [0, 100]: the accuracy axis of a figure, fitted to its data so
// that differences of a point stay visible.
func padRange(lo, hi float64) (float64, float64) {
	if lo > hi {
		return 0, 100
	}
	pad := max((hi-lo)*0.08, 0.5)
	return max(0, lo-pad), min(100, hi+pad)
}
