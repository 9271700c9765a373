package report

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

// Figures may grow with what they show, which top-N bounds: no figure of
// the report is larger than this, whatever the grid's size.
const maxFigurePixels = 2400

func TestFiguresAreDrawnInkedAndBounded(t *testing.T) {
	dir, files := writeReport(t, studyFixture(t), Options{Plots: true})
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, ".png") {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".png"))
		}
	}
	slices.Sort(names)
	want := []string{"ablation", "accuracy-dtd", "accuracy-eurosat", "factors", "loss-dtd", "loss-eurosat", "losses",
		"trajectory-dtd", "trajectory-eurosat", "transfer"}
	if !slices.Equal(names, want) {
		t.Errorf("figures %q\nwant %q", names, want)
	}
	for _, name := range names {
		img := decodePNG(t, filepath.Join(dir, name+".png"))
		b := img.Bounds()
		if b.Dx() > maxFigurePixels || b.Dy() > maxFigurePixels || b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s: %dx%d px", name, b.Dx(), b.Dy())
		}
		if !hasInk(img) {
			t.Errorf("%s.png is blank", name)
		}
		w, h := svgSize(t, []byte(readFile(t, filepath.Join(dir, name+".svg"))))
		if wantW, wantH := int(w*pngDPI/72+0.5), int(h*pngDPI/72+0.5); b.Dx() != wantW || b.Dy() != wantH {
			t.Errorf("%s: PNG %dx%d px, SVG %gx%g pt: not the same figure", name, b.Dx(), b.Dy(), w, h)
		}
		if pdf := readFile(t, filepath.Join(dir, name+".pdf")); !strings.HasPrefix(pdf, "%PDF-") || len(pdf) < 1000 {
			t.Errorf("%s.pdf is not a PDF (%d bytes)", name, len(pdf))
		}
	}
}

// A grid of 200 configurations draws the same bounded figures as one of
// 15: the accuracy figure shows the best top and counts the rest.
func TestFiguresStayBoundedAtAnyGridSize(t *testing.T) {
	f := newFixture(t)
	for i := range 200 {
		f.b2n("c"+itoa(i), "eurosat", study.VariantFull, 1, map[string]string{"weight_std": strconv.Itoa(i)}, 60+float64(i%40)/2, 55+float64(i%17))
	}
	f.sync()
	dir, _ := writeReport(t, f, Options{Plots: true, Top: 15})
	img := decodePNG(t, filepath.Join(dir, "accuracy-eurosat.png"))
	if b := img.Bounds(); b.Dy() > 1000 || b.Dx() > maxFigurePixels {
		t.Errorf("accuracy figure of 200 configurations is %dx%d px", b.Dx(), b.Dy())
	}
	svg := readFile(t, filepath.Join(dir, "accuracy-eurosat.svg"))
	if !strings.Contains(svg, "+185 more") {
		t.Error("the accuracy figure does not count the configurations it leaves out")
	}
	loss := readFile(t, filepath.Join(dir, "loss-eurosat.svg"))
	if !strings.Contains(loss, "(192 more configurations not drawn)") {
		t.Error("the loss figure does not count the curves it leaves out")
	}
}

// The accuracy axis fits the numbers: differences of a point must show.
func TestAccuracyAxisFitsTheData(t *testing.T) {
	g := &group{dataset: "eurosat", cells: []*cell{
		{label: "a", rankH: 1, base: one(88), new: one(80), h: one(83.8)},
		{label: "b", rankH: 2, base: one(87.5), new: one(79), h: one(83)},
	}}
	fig := accuracyFigure(g, nil, nil, 15)
	if x := fig.main().X; x.Min < 75 || x.Max > 92 {
		t.Errorf("axis [%g, %g] for values 79..88", x.Min, x.Max)
	}
}

// The legend sits in its own column, sized to its entries: every text of
// the figure lies inside it, and the legend's right of the plots.
func TestLegendIsNeverClipped(t *testing.T) {
	long := strings.Repeat("a very long configuration label ", 3)
	var curves []curve
	for i := range maxLossLines {
		curves = append(curves, curve{label: long + strconv.Itoa(i), x: []float64{0, 50}, mean: []float64{2, 1}, lo: []float64{2, 1}, hi: []float64{2, 1}})
	}
	fig, err := lossFigure("eurosat", curves, 40)
	if err != nil {
		t.Fatal(err)
	}
	checkTextsInside(t, fig, "configuration", maxLossLines+1)
	// A legend taller than the plots makes the figure taller.
	tall := newFigure("many entries")
	for i := range 40 {
		tall.addLegend("entry "+strconv.Itoa(i), &refLine{})
	}
	checkTextsInside(t, tall, "entry", 40)
}

// checkTextsInside renders fig as SVG and checks that every text lies in
// the figure, and that the n texts containing legendWord (the legend's)
// are right of the plot area.
func checkTextsInside(t *testing.T, fig *figure, legendWord string, n int) {
	t.Helper()
	data, err := fig.render("svg")
	if err != nil {
		t.Fatal(err)
	}
	w, h := svgSize(t, data)
	texts := svgTexts(t, data)
	legend := 0
	for _, tx := range texts {
		if tx.rotated {
			continue
		}
		if tx.up-0.3*tx.size < 0 || tx.up+tx.size > h || tx.x < 0 || tx.x > w {
			t.Errorf("text %q at (%g, %g) size %g lies outside the %gx%g figure", tx.s, tx.x, tx.up, tx.size, w, h)
		}
		if strings.Contains(tx.s, legendWord) {
			legend++
			if tx.x < float64(margin+plotWidth.Points()) {
				t.Errorf("legend entry %q starts at x=%g, inside the plot area", tx.s, tx.x)
			}
		}
	}
	if legend != n {
		t.Errorf("%d legend entries drawn, want %d", legend, n)
	}
}

func TestLossCurvesOnPercentOfTraining(t *testing.T) {
	// Two seeds of 8 steps and one of 16: x is percent of training, the
	// longer run sampled at the same fractions.
	long := make([]float64, 16)
	for i := range long {
		long[i] = 3
	}
	c, ok := meanCurve("c", [][]float64{{1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2, 2, 2}, long})
	if !ok || len(c.x) != 8 || c.x[0] != 0 || c.x[4] != 50 || c.mean[3] != 2 || c.lo[3] != 1 || c.hi[3] != 3 {
		t.Errorf("mean curve %+v", c)
	}
}

func TestPgfplotsLossCurve(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{Plots: true})
	tex := readFile(t, filepath.Join(dir, "loss_eurosat.tex"))
	for _, w := range []string{`\begin{tikzpicture}`, `\addplot[color=blue] coordinates {`, `\end{tikzpicture}`, `n\_ctx=2 (2)`} {
		if !strings.Contains(tex, w) {
			t.Errorf("loss_eurosat.tex lacks %q", w)
		}
	}
	// The best configuration (n_ctx=2): 8 steps, loss 2 − i/7 + seed/100,
	// mean over seeds 1 and 2.
	var coords []string
	for _, line := range strings.Split(tex, "\n") {
		if strings.HasPrefix(line, "(") {
			coords = append(coords, line)
		}
	}
	if len(coords) != 8 || coords[0] != "(0, 2.015)" || coords[4] != "(50, 1.443571)" {
		t.Errorf("coordinates %q", coords)
	}
}

func TestPromptSpans(t *testing.T) {
	prompts := []string{"a", "a", "b", "a", "c", "c", "c", "d"}
	names, rows := promptSpans(prompts, 2)
	// c (3 steps) and a (3) kept, in order of first selection top-down;
	// b and d share the "other" row at the bottom.
	if !slices.Equal(names, []string{"2 other prompts", "c", "a"}) {
		t.Fatalf("rows %q", names)
	}
	step := 100.0 / 8
	want := [][][2]float64{{{2 * step, 3 * step}, {7 * step, 8 * step}}, {{4 * step, 7 * step}}, {{0, 2 * step}, {3 * step, 4 * step}}}
	if len(rows) != 3 {
		t.Fatalf("spans %v", rows)
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d spans %v, want %v", i, rows[i], want[i])
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// hasInk reports whether an image has a pixel that is not white.
func hasInk(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				return true
			}
		}
	}
	return false
}

func svgSize(t *testing.T, data []byte) (w, h float64) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "svg" {
			for _, a := range se.Attr {
				v, _ := strconv.ParseFloat(strings.TrimSuffix(a.Value, "pt"), 64)
				switch a.Name.Local {
				case "width":
					w = v
				case "height":
					h = v
				}
			}
			return w, h
		}
	}
	t.Fatal("SVG has no svg element")
	return 0, 0
}

// svgText is a text of a gonum SVG: its left x and baseline height above
// the figure's bottom (gonum draws in a y-up frame flipped by transforms).
type svgText struct {
	s       string
	x, up   float64
	size    float64
	rotated bool // an axis label turned on its side: x and up are not its position
}

func svgTexts(t *testing.T, data []byte) []svgText {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []svgText
	var groups []bool // whether each open <g> rotates
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "g" && len(groups) > 0 {
			groups = groups[:len(groups)-1]
		}
		se, ok := tok.(xml.StartElement)
		if ok && se.Name.Local == "g" {
			rot := false
			for _, a := range se.Attr {
				rot = rot || a.Name.Local == "transform" && strings.Contains(a.Value, "rotate")
			}
			groups = append(groups, rot)
		}
		if !ok || se.Name.Local != "text" {
			continue
		}
		tx := svgText{rotated: slices.Contains(groups, true)}
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "x":
				tx.x, _ = strconv.ParseFloat(a.Value, 64)
			case "y":
				y, _ := strconv.ParseFloat(a.Value, 64)
				tx.up = -y
			case "transform":
				tx.rotated = tx.rotated || strings.Contains(a.Value, "rotate")
			case "style":
				if i := strings.Index(a.Value, "font-size:"); i >= 0 {
					tx.size, _ = strconv.ParseFloat(strings.TrimSuffix(strings.SplitN(a.Value[i+len("font-size:"):], ";", 2)[0], "px"), 64)
				}
			}
		}
		var content string
		if err := dec.DecodeElement(&content, &se); err != nil {
			t.Fatal(err)
		}
		tx.s = content
		out = append(out, tx)
	}
}
