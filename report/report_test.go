package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// fixture builds a results database the way the orchestrator fills it.
type fixture struct {
	t    *testing.T
	db   *results.DB
	grid int64
	jobs []results.JobSpec
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := results.Open(filepath.Join(t.TempDir(), "grid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g, err := db.UpsertGrid("sweep", "grids/sweep.toml", "# test grid")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, db: db, grid: g}
}

func (f *fixture) train(id, dataset, classes, variant string, nctx int, labels map[string]string) {
	cfg, _ := json.Marshal(map[string]any{"kind": "train", "dataset": dataset, "classes": classes, "variant": variant, "n_ctx": nctx, "seed": 1})
	lab, _ := json.Marshal(labels)
	f.jobs = append(f.jobs, results.JobSpec{ID: id, Name: "exp/" + dataset + "/" + id + "/train", Kind: study.KindTrain, Config: cfg, Labels: lab, Experiments: []string{"exp"}})
}

func (f *fixture) eval(id, source, dataset, classes string) {
	cfg, _ := json.Marshal(map[string]any{"kind": "eval", "dataset": dataset, "classes": classes, "variant": "full", "source": source})
	f.jobs = append(f.jobs, results.JobSpec{ID: id, Name: "exp/" + dataset + "/" + id + "/eval", Kind: study.KindEval, Config: cfg, Deps: []string{source}, Experiments: []string{"exp"}})
}

func (f *fixture) sync() {
	f.t.Helper()
	if _, err := f.db.SyncJobs(f.grid, f.jobs); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) done(id, split, dataset string, acc, f1 float64, prompt string, losses ...float64) {
	f.t.Helper()
	attempt, err := f.db.StartAttempt(id, "w")
	if err != nil {
		f.t.Fatal(err)
	}
	var ms []results.Metric
	for i, l := range losses {
		ms = append(ms, results.Metric{Step: i, Epoch: i / 4, Loss: l, BatchLoss: l, LR: 0.002})
	}
	if err := f.db.AddMetrics(id, attempt, ms); err != nil {
		f.t.Fatal(err)
	}
	c := results.Completion{Evaluations: []results.Evaluation{{Split: study.Classes(split), Dataset: dataset, Total: 1000, Correct: int(acc * 10), Accuracy: acc, MacroF1: f1}}}
	if prompt != "" {
		c.Prompt = &results.Prompt{TokenIDs: []int{1, 2}, Text: prompt}
	}
	if err := f.db.CompleteJob(id, c); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) fail(id, reason string, losses ...float64) {
	f.t.Helper()
	attempt, err := f.db.StartAttempt(id, "w")
	if err != nil {
		f.t.Fatal(err)
	}
	var ms []results.Metric
	for i, l := range losses {
		ms = append(ms, results.Metric{Step: i, Loss: l})
	}
	if err := f.db.AddMetrics(id, attempt, ms); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.FailAttempt(id, reason, true); err != nil {
		f.t.Fatal(err)
	}
}

// fullGrid is a grid with every kind of content the report shows.
func fullGrid(t *testing.T) *fixture {
	f := newFixture(t)
	nan := math.NaN()
	// eurosat: three configurations, one ablation variant, one failed cell.
	f.train("e1", "eurosat", "base", "full", 1, map[string]string{"n_ctx": "1"})
	f.eval("e1-new", "e1", "eurosat", "new")
	f.train("e2", "eurosat", "base", "full", 4, map[string]string{"n_ctx": "4"})
	f.eval("e2-new", "e2", "eurosat", "new")
	f.train("e3", "eurosat", "base", "full", 2, map[string]string{"n_ctx": "2"})
	f.eval("e3-new", "e3", "eurosat", "new")
	f.train("e4", "eurosat", "base", "noshared", 4, map[string]string{"n_ctx": "4", "variant": "noshared"})
	f.eval("e4-new", "e4", "eurosat", "new")
	// dtd: one complete cell, one whose new-class test is still pending.
	f.train("d1", "dtd", "base", "full", 2, map[string]string{"n_ctx": "2"})
	f.eval("d1-new", "d1", "dtd", "new")
	f.train("d2", "dtd", "base", "full", 3, map[string]string{"n_ctx": "3"})
	f.eval("d2-new", "d2", "dtd", "new")
	// imagenet, all classes: a cross-dataset source with two targets.
	f.train("i1", "imagenet", "all", "full", 2, map[string]string{"n_ctx": "2"})
	f.eval("i1-dtd", "i1", "dtd", "all")
	f.eval("i1-eurosat", "i1", "eurosat", "all")
	f.sync()

	f.done("e1", "base", "eurosat", 80, 79, "a photo", 2.0, 1.8, 1.6, 1.5, 1.4, 1.3)
	f.done("e1-new", "new", "eurosat", 70, 69, "")
	f.done("e2", "base", "eurosat", 89.21, 88.5, "increased underdog | gihc", 2.1, nan, 1.7, 1.2, 1.1, math.Inf(1), 0.9)
	f.done("e2-new", "new", "eurosat", 79.9, 78.25, "")
	f.fail("e3", "CUDA out of memory", 2.3, 2.2)
	f.done("e4", "base", "eurosat", 76, 74, "satellite", nan, nan, nan)
	f.done("e4-new", "new", "eurosat", 83.63, 82, "")
	f.done("d1", "base", "dtd", 62.96, 60, "beautiful abstract", 3, 2.5, 2)
	f.done("d1-new", "new", "dtd", 62.8, 61, "")
	f.done("d2", "base", "dtd", 70, 69, "texture", 3, 2.9)
	f.done("i1", "all", "imagenet", 68.8, 67, "conveniently photograph")
	f.done("i1-dtd", "all", "dtd", 42.5, 40, "")
	f.fail("i1-eurosat", "checkpoint unreadable")
	return f
}

func writeReport(t *testing.T, f *fixture) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run", "report")
	files, err := Write(f.db, "sweep", dir, Options{Plots: true})
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// tableRows returns the rows of the Markdown table(s) in md, each split into
// trimmed cells, skipping header and alignment rows.
func tableRows(md string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| rank") ||
			strings.HasPrefix(line, "| configuration") || strings.HasPrefix(line, "| variant") ||
			strings.HasPrefix(line, "| source") || strings.HasPrefix(line, "| dataset") {
			continue
		}
		// Split on unescaped pipes.
		cells := regexp.MustCompile(`\s*(?:^|[^\\])\|\s*`).Split(" "+line+" ", -1)
		rows = append(rows, cells[1:len(cells)-1])
	}
	return rows
}

func TestDatasetTableRanksByHarmonicMean(t *testing.T) {
	dir, _ := writeReport(t, fullGrid(t))
	md := readFile(t, filepath.Join(dir, "table-eurosat.md"))
	if !strings.Contains(md, "Ranked best first by H = 2·B·N/(B+N)") {
		t.Errorf("table header does not say how it is ranked:\n%s", md)
	}
	rows := tableRows(md)
	// H: e2 84.30, e4 79.63, e1 74.67; e3 failed.
	want := [][]string{
		{"1", "n_ctx=4", "89.21", "79.90", "84.30", "84.56", "88.50", "78.25"},
		{"2", "n_ctx=4, variant=noshared", "76.00", "83.63", "79.63", "79.81", "74.00", "82.00"},
		{"3", "n_ctx=1", "80.00", "70.00", "74.67", "75.00", "79.00", "69.00"},
		{"—", "n_ctx=2", "—", "—", "—", "—", "—", "—"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), md)
	}
	for i, w := range want {
		if got := rows[i][:len(w)]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("row %d = %q, want %q", i, got, w)
		}
	}
	if got := rows[0][8]; got != "`increased underdog \\| gihc`" {
		t.Errorf("prompt cell %q: want a code span with the pipe escaped", got)
	}
	if got := rows[3][9]; !strings.Contains(got, "train failed after 1 attempt: CUDA out of memory") {
		t.Errorf("failed cell state %q", got)
	}
	if got := rows[0][9]; got != "done" {
		t.Errorf("complete cell state %q", got)
	}

	dtd := tableRows(readFile(t, filepath.Join(dir, "table-dtd.md")))
	if len(dtd) != 2 || dtd[0][1] != "n_ctx=2" || dtd[0][4] != "62.88" || dtd[1][0] != "—" || dtd[1][3] != "—" ||
		!strings.Contains(dtd[1][9], "new pending") {
		t.Errorf("dtd rows: %q", dtd)
	}

	imagenet := readFile(t, filepath.Join(dir, "table-imagenet.md"))
	if !strings.Contains(imagenet, "| rank | configuration | accuracy |") || !strings.Contains(imagenet, "| 1 | n_ctx=2 | 68.80 | 67.00 |") {
		t.Errorf("all-classes table:\n%s", imagenet)
	}
}

func TestAblationAndTransferTables(t *testing.T) {
	dir, _ := writeReport(t, fullGrid(t))
	abla := readFile(t, filepath.Join(dir, "ablation.md"))
	rows := tableRows(abla)
	// eurosat: full n_ctx=4 then noshared; then the mean table.
	if len(rows) != 4 {
		t.Fatalf("ablation rows %q\n%s", rows, abla)
	}
	if got := strings.Join(rows[0][:5], "|"); got != "n_ctx=4|full|89.21|79.90|84.30" {
		t.Errorf("full row %q", got)
	}
	if got := strings.Join(rows[1][:8], "|"); got != "n_ctx=4|noshared|76.00|83.63|79.63|-13.21|+3.73|-4.67" {
		t.Errorf("variant row %q", got)
	}
	if got := strings.Join(rows[3][:8], "|"); got != "noshared|1|76.00|83.63|79.63|-13.21|+3.73|-4.67" {
		t.Errorf("mean row %q", got)
	}

	tr := readFile(t, filepath.Join(dir, "transfer.md"))
	if !strings.Contains(tr, "| source | configuration | source acc | dtd | eurosat | average |") {
		t.Errorf("transfer header:\n%s", tr)
	}
	trRows := tableRows(tr)
	if len(trRows) != 1 || strings.Join(trRows[0][:4], "|") != "imagenet|n_ctx=2|68.80|42.50" ||
		trRows[0][4] != "— (failed after 1 attempt)" || trRows[0][5] != "—" {
		t.Errorf("transfer rows %q", trRows)
	}
}

func TestTransferAverageOverTargets(t *testing.T) {
	r := transferRow{byTgt: map[string]results.Transfer{
		"a": {Eval: &results.Evaluation{Accuracy: 60}},
		"b": {Eval: &results.Evaluation{Accuracy: 70}},
	}}
	if got := r.average([]string{"a", "b", "c"}); got != 65 {
		t.Errorf("average = %v, want 65 (c is not a target of this source)", got)
	}
	r.byTgt["c"] = results.Transfer{}
	if got := r.average([]string{"a", "b", "c"}); !math.IsNaN(got) {
		t.Errorf("average with a missing target = %v, want NaN", got)
	}
}

func TestReadmeIndexesEveryFile(t *testing.T) {
	dir, files := writeReport(t, fullGrid(t))
	readme := readFile(t, filepath.Join(dir, "README.md"))
	wantFiles := []string{"table-eurosat.md", "table-dtd.md", "table-imagenet.md", "ablation.md", "transfer.md",
		"loss-eurosat.png", "loss-eurosat.svg", "accuracy-eurosat.png", "loss-dtd.png", "accuracy-dtd.svg",
		"transfer.png", "transfer.svg", "README.md"}
	written := map[string]bool{}
	for _, f := range files {
		if filepath.Dir(f) != dir {
			t.Errorf("file %s written outside %s", f, dir)
		}
		written[filepath.Base(f)] = true
		if base := filepath.Base(f); base != "README.md" && !strings.Contains(readme, "("+base+")") {
			t.Errorf("README does not link %s", base)
		}
	}
	for _, w := range wantFiles {
		if !written[w] {
			t.Errorf("%s not written (got %v)", w, files)
		}
	}
	// imagenet has no training curve (no metrics) and no base/new figure.
	if written["loss-imagenet.png"] || written["accuracy-imagenet.png"] {
		t.Errorf("figures for a dataset with nothing to draw: %v", files)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !written[e.Name()] {
			t.Errorf("stray file %s left in the report directory", e.Name())
		}
	}
	// Best per dataset, with the average row (eurosat and dtd complete).
	if !strings.Contains(readme, "| [eurosat](table-eurosat.md) | n_ctx=4 | 89.21 | 79.90 | 84.30 |") {
		t.Errorf("README best row for eurosat missing:\n%s", readme)
	}
	avgB, avgN := (89.21+62.96)/2, (79.9+62.8)/2
	wantAvg := "| " + strconv.FormatFloat(avgB, 'f', 2, 64) + " | " + strconv.FormatFloat(avgN, 'f', 2, 64) + " | " +
		strconv.FormatFloat(results.HarmonicMean(avgB, avgN), 'f', 2, 64) + " |"
	if !strings.Contains(readme, wantAvg) {
		t.Errorf("README average row %q missing:\n%s", wantAvg, readme)
	}
	if !strings.Contains(readme, "Jobs: 15 (11 done, 2 pending, 2 failed)") {
		t.Errorf("README job counts:\n%s", readme)
	}
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
				v, err := strconv.ParseFloat(strings.TrimSuffix(a.Value, "pt"), 64)
				switch a.Name.Local {
				case "width":
					w = v
				case "height":
					h = v
				}
				if (a.Name.Local == "width" || a.Name.Local == "height") && err != nil {
					t.Fatalf("svg %s=%q", a.Name.Local, a.Value)
				}
			}
		}
	}
	if w == 0 || h == 0 {
		t.Fatal("SVG has no width/height")
	}
	return w, h
}

func TestFiguresDecode(t *testing.T) {
	dir, files := writeReport(t, fullGrid(t))
	n := 0
	for _, f := range files {
		if !strings.HasSuffix(f, ".png") {
			continue
		}
		n++
		data := readFile(t, f)
		img, err := png.Decode(strings.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		svg := []byte(readFile(t, strings.TrimSuffix(f, ".png")+".svg"))
		wpt, hpt := svgSize(t, svg)
		// Same figure in both formats: PNG pixels = points × dpi/72.
		b := img.Bounds()
		wantW, wantH := int(wpt*pngDPI/72+0.5), int(hpt*pngDPI/72+0.5)
		if b.Dx() != wantW || b.Dy() != wantH {
			t.Errorf("%s: %dx%d px, want %dx%d (SVG is %gx%g pt)", f, b.Dx(), b.Dy(), wantW, wantH, wpt, hpt)
		}
		if min := int(plotWidth.Points() * pngDPI / 72); b.Dx() <= min {
			t.Errorf("%s: %d px wide leaves no room for the legend beside a %d px plot", f, b.Dx(), min)
		}
		if !hasInk(img) {
			t.Errorf("%s is blank", f)
		}
	}
	if n != 5 { // loss and accuracy for eurosat and dtd, transfer
		t.Errorf("%d PNG figures in %s, want 5", n, dir)
	}
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

// The legend sits in its own column: nothing of it may be drawn over the
// data area, which the test finds as the plot's left part.
func TestLegendOutsideDataArea(t *testing.T) {
	long := strings.Repeat("very long configuration label ", 3)
	var curves []curve
	for i := 0; i < 14; i++ {
		curves = append(curves, curve{label: long + strconv.Itoa(i), steps: []float64{0, 1, 2}, loss: []float64{3, 2, 1}})
	}
	fig, err := lossFigure("eurosat", curves)
	if err != nil || fig == nil {
		t.Fatalf("lossFigure: %v, %v", fig, err)
	}
	w, _ := fig.size()
	lw, lh := fig.legendSize()
	if w < plotWidth+lw {
		t.Errorf("figure %v wide cannot hold a %v plot and a %v legend side by side", w, plotWidth, lw)
	}
	if _, h := fig.size(); h < lh {
		t.Errorf("figure height %v < legend height %v", h, lh)
	}
	data, err := fig.render("png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// The strip just right of the plot area, before the legend, is blank.
	scale := float64(pngDPI) / 72
	x0 := int((plotMargin+plotWidth.Points())*scale) + 2
	x1 := int((plotMargin+plotWidth.Points()+legendGap+legendMargin)*scale) - 1
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := x0; x < x1; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r < 0xf000 || g < 0xf000 || b < 0xf000 {
				t.Fatalf("ink at (%d,%d) in the gap between plot and legend", x, y)
			}
		}
	}
}

func TestMissingDataDoesNotBreakTheReport(t *testing.T) {
	f := newFixture(t)
	f.train("a", "eurosat", "base", "full", 1, nil)
	f.eval("a-new", "a", "eurosat", "new")
	f.train("b", "eurosat", "base", "full", 2, nil)
	f.sync()
	// a: a curve of NaNs only, then a failure; b: never started.
	f.fail("a", "loss diverged", math.NaN(), math.NaN())
	dir := t.TempDir()
	files, err := Write(f.db, "sweep", dir, Options{Plots: true})
	if err != nil {
		t.Fatal(err)
	}
	readme := readFile(t, filepath.Join(dir, "README.md"))
	if !strings.Contains(readme, "no complete configuration yet") {
		t.Errorf("README:\n%s", readme)
	}
	table := readFile(t, filepath.Join(dir, "table-eurosat.md"))
	rows := tableRows(table)
	if len(rows) != 2 || rows[0][0] != "—" || rows[1][0] != "—" || !strings.Contains(rows[0][9], "loss diverged") {
		t.Errorf("rows %q", rows)
	}
	// No label tells the two apart, so they go by job name.
	if rows[0][1] != "exp/eurosat/a/train" {
		t.Errorf("label %q", rows[0][1])
	}
	for _, file := range files {
		if strings.Contains(file, "loss-") {
			t.Errorf("loss figure %s drawn from NaN-only curves", file)
		}
	}
	// The accuracy figure of a dataset without numbers still renders.
	if _, err := os.Stat(filepath.Join(dir, "accuracy-eurosat.png")); err != nil {
		t.Errorf("accuracy figure: %v", err)
	}
	// A grid with no jobs at all.
	if _, err := f.db.UpsertGrid("empty", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(f.db, "empty", t.TempDir(), Options{Plots: true}); err != nil {
		t.Errorf("empty grid: %v", err)
	}
}

func TestWithoutPlotsOnlyMarkdown(t *testing.T) {
	f := fullGrid(t)
	dir := t.TempDir()
	files, err := Write(f.db, "sweep", dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if !strings.HasSuffix(file, ".md") {
			t.Errorf("%s written without Plots", file)
		}
	}
	if len(files) != 6 { // three dataset tables, ablation, transfer, README
		t.Errorf("files %v", files)
	}
	if readme := readFile(t, filepath.Join(dir, "README.md")); strings.Contains(readme, ".png") {
		t.Errorf("README links figures that were not drawn:\n%s", readme)
	}
}

func TestUnknownGrid(t *testing.T) {
	f := newFixture(t)
	if _, err := Write(f.db, "nope", t.TempDir(), Options{}); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("err %v, want ErrNotFound", err)
	}
}

func TestSegmentsSplitAtNonFinite(t *testing.T) {
	segs := segments([]float64{0, 1, 2, 3, 4, 5}, []float64{1, math.NaN(), 2, 3, math.Inf(-1), 4})
	if len(segs) != 3 || len(segs[0]) != 1 || len(segs[1]) != 2 || len(segs[2]) != 1 || segs[1][1].Y != 3 {
		t.Errorf("segments = %v", segs)
	}
}

func TestWriteReplacesFilesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.md")
	for _, content := range []string{"first", "second"} {
		if err := writeFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); got != content {
			t.Errorf("content %q, want %q", got, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "x.md"), nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestCodeSpan(t *testing.T) {
	for in, want := range map[string]string{
		"a photo":    "`a photo`",
		"x|y":        "`x\\|y`",
		"it`s":       "``it`s``",
		"`tick":      "`` `tick ``",
		"two\nlines": "`two lines`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTransferColumnsKeepTestTimeVariantsApart(t *testing.T) {
	full := results.Transfer{Dataset: "dtd", Classes: "all", Job: results.Job{Config: []byte(`{"variant":"full"}`)}}
	projFree := results.Transfer{Dataset: "dtd", Classes: "all", Job: results.Job{Config: []byte(`{"variant":"noshared"}`)}}
	newHalf := results.Transfer{Dataset: "dtd", Classes: "new", Job: results.Job{Config: []byte(`{"variant":"full"}`)}}
	names := map[string]bool{targetName(full): true, targetName(projFree): true, targetName(newHalf): true}
	if len(names) != 3 || targetName(full) != "dtd" || targetName(projFree) != "dtd [noshared]" || targetName(newHalf) != "dtd (new)" {
		t.Errorf("columns %q, %q, %q", targetName(full), targetName(projFree), targetName(newHalf))
	}
}

func TestCellWithoutSweptValuesIsNamedByItsExperiment(t *testing.T) {
	cells := []results.Cell{
		{Job: results.Job{Name: "grid/demo/n_ctx=1/train"}, Labels: map[string]string{"n_ctx": "1"}},
		{Job: results.Job{Name: "source/demo/train", Experiments: []string{"source"}}, Labels: map[string]string{}},
	}
	labels, _ := configLabels(cells, nil)
	if labels[0] != "n_ctx=1" || labels[1] != "source" {
		t.Errorf("labels %q, want the swept value and the experiment's name", labels)
	}
}
