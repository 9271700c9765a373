package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The plotters below draw what gonum's do not: means with their spread
// over seeds as whiskers, reference lines across the data area, spans on
// a timeline and annotated heatmap cells.

// dot is a mean at (x, y) with ±err along the value axis.
type dot struct{ x, y, err float64 }

// dots draws markers with whiskers. In a horizontal plot the value is x
// (rows on the y axis); otherwise the value is y.
type dots struct {
	pts      []dot
	glyph    draw.GlyphStyle
	whisker  draw.LineStyle
	vertical bool // value on the y axis
}

func newDots(glyph draw.GlyphStyle, c color.Color) *dots {
	glyph.Color = c
	return &dots{glyph: glyph, whisker: draw.LineStyle{Color: c, Width: vg.Points(1)}}
}

func (d *dots) value(p dot) (pos, v float64) {
	if d.vertical {
		return p.x, p.y
	}
	return p.y, p.x
}

// Plot implements plot.Plotter.
func (d *dots) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	at := func(pos, v float64) vg.Point {
		if d.vertical {
			return vg.Point{X: trX(pos), Y: trY(v)}
		}
		return vg.Point{X: trX(v), Y: trY(pos)}
	}
	cap := vg.Points(2.5)
	for _, p := range d.pts {
		pos, v := d.value(p)
		if !finite(v) {
			continue
		}
		if p.err > 0 {
			a, b := at(pos, v-p.err), at(pos, v+p.err)
			c.StrokeLine2(d.whisker, a.X, a.Y, b.X, b.Y)
			for _, e := range []vg.Point{a, b} {
				if d.vertical {
					c.StrokeLine2(d.whisker, e.X-cap, e.Y, e.X+cap, e.Y)
				} else {
					c.StrokeLine2(d.whisker, e.X, e.Y-cap, e.X, e.Y+cap)
				}
			}
		}
		if d.glyph.Radius > 0 {
			c.DrawGlyph(d.glyph, at(pos, v))
		}
	}
}

// DataRange implements plot.DataRanger: the whiskers' extent.
func (d *dots) DataRange() (xmin, xmax, ymin, ymax float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	plo, phi := math.Inf(1), math.Inf(-1)
	for _, p := range d.pts {
		pos, v := d.value(p)
		if !finite(v) {
			continue
		}
		lo, hi = math.Min(lo, v-p.err), math.Max(hi, v+p.err)
		plo, phi = math.Min(plo, pos), math.Max(phi, pos)
	}
	if d.vertical {
		return plo, phi, lo, hi
	}
	return lo, hi, plo, phi
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (d *dots) Thumbnail(c *draw.Canvas) {
	mid := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}
	c.StrokeLine2(d.whisker, c.Min.X+2, mid.Y, c.Max.X-2, mid.Y)
	if d.glyph.Radius > 0 {
		c.DrawGlyph(d.glyph, mid)
	}
}

// refLine is a reference value drawn across the data area: a zero-shot
// baseline or a published number. vertical lines mark an x value.
type refLine struct {
	at       float64
	style    draw.LineStyle
	vertical bool
}

// Plot implements plot.Plotter.
func (r *refLine) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	if r.vertical {
		x := trX(r.at)
		c.StrokeLine2(r.style, x, c.Min.Y, x, c.Max.Y)
		return
	}
	y := trY(r.at)
	c.StrokeLine2(r.style, c.Min.X, y, c.Max.X, y)
}

// DataRange implements plot.DataRanger: only the marked axis.
func (r *refLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	inf := math.Inf(1)
	if r.vertical {
		return r.at, r.at, inf, -inf
	}
	return inf, -inf, r.at, r.at
}

// Thumbnail implements plot.Thumbnailer.
func (r *refLine) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(r.style, c.Min.X, y, c.Max.X, y)
}

// spans draws, on row y, a thick bar over each [from, to) of x: when a
// prompt was the selected one during training.
type spans struct {
	rows  [][][2]float64 // rows[y]: intervals
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (s *spans) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for y, row := range s.rows {
		for _, iv := range row {
			x0, x1 := trX(iv[0]), trX(iv[1])
			if x1-x0 < vg.Points(1) {
				x1 = x0 + vg.Points(1) // a single step stays visible
			}
			c.StrokeLine2(s.style, x0, trY(float64(y)), x1, trY(float64(y)))
		}
	}
}

// DataRange implements plot.DataRanger.
func (s *spans) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, 100, -0.5, float64(len(s.rows)) - 0.5
}

// heatCells draws a grid of values as coloured cells, each annotated with
// its number; missing cells are grey with a dash.
type heatCells struct {
	values   [][]stat // values[row][col]
	lo, hi   float64
	colors   palette.Palette
	textFont text.Style
}

func newHeatCells(values [][]stat) *heatCells {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, row := range values {
		for _, v := range row {
			if v.ok() {
				lo, hi = math.Min(lo, v.mean), math.Max(hi, v.mean)
			}
		}
	}
	p, err := brewer.GetPalette(brewer.TypeSequential, "YlGnBu", 9)
	if err != nil {
		panic(err)
	}
	st := text.Style{Font: sans(9), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter}
	return &heatCells{values: values, lo: lo, hi: hi, colors: p, textFont: st}
}

func (h *heatCells) color(v float64) color.Color {
	cs := h.colors.Colors()
	if !(h.hi > h.lo) {
		return cs[len(cs)/2]
	}
	i := int((v - h.lo) / (h.hi - h.lo) * float64(len(cs)-1))
	return cs[max(0, min(len(cs)-1, i))]
}

// Plot implements plot.Plotter.
func (h *heatCells) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for r, row := range h.values {
		for col, v := range row {
			x0, x1 := trX(float64(col)-0.5), trX(float64(col)+0.5)
			y0, y1 := trY(float64(r)-0.5), trY(float64(r)+0.5)
			fill := color.Color(color.Gray{Y: 0xe0})
			label := missing
			if v.ok() {
				fill, label = h.color(v.mean), fmt.Sprintf("%.2f", v.mean)
			}
			c.FillPolygon(fill, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
			st := h.textFont
			st.Color = color.Black
			if v.ok() && h.hi > h.lo && (v.mean-h.lo)/(h.hi-h.lo) > 0.6 {
				st.Color = color.White
			}
			c.FillText(st, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, label)
		}
	}
}

// DataRange implements plot.DataRanger.
func (h *heatCells) DataRange() (xmin, xmax, ymin, ymax float64) {
	cols := 0
	if len(h.values) > 0 {
		cols = len(h.values[0])
	}
	return -0.5, float64(cols) - 0.5, -0.5, float64(len(h.values)) - 0.5
}

// groupedBars draws, at each nominal x, one bar per series from zero to its
// value, side by side, each with its ±err whisker. Missing values (NaN)
// leave a gap.
type groupedBars struct {
	values, errs [][]float64 // [series][group]
	colors       []color.Color
	width        vg.Length
}

// Plot implements plot.Plotter.
func (b *groupedBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	k := len(b.values)
	whisker := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
	for s, vals := range b.values {
		for g, v := range vals {
			if !finite(v) {
				continue
			}
			x := trX(float64(g)) + (vg.Length(s)-vg.Length(k-1)/2)*b.width
			y0, y1 := trY(0), trY(v)
			c.FillPolygon(b.colors[s], []vg.Point{{X: x - b.width/2, Y: y0}, {X: x + b.width/2, Y: y0},
				{X: x + b.width/2, Y: y1}, {X: x - b.width/2, Y: y1}})
			if e := b.errs[s][g]; e > 0 {
				lo, hi := trY(v-e), trY(v+e)
				c.StrokeLine2(whisker, x, lo, x, hi)
				c.StrokeLine2(whisker, x-b.width/4, lo, x+b.width/4, lo)
				c.StrokeLine2(whisker, x-b.width/4, hi, x+b.width/4, hi)
			}
		}
	}
}

// DataRange implements plot.DataRanger: zero and every whisker.
func (b *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = 0, 0
	groups := 0
	for s, vals := range b.values {
		groups = max(groups, len(vals))
		for g, v := range vals {
			if finite(v) {
				ymin, ymax = math.Min(ymin, v-b.errs[s][g]), math.Max(ymax, v+b.errs[s][g])
			}
		}
	}
	return -0.5, float64(groups) - 0.5, ymin, ymax
}

// barThumb is a bar series' legend swatch.
type barThumb struct{ c color.Color }

// Thumbnail implements plot.Thumbnailer.
func (t barThumb) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(t.c, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}
