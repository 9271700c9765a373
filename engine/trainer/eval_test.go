package trainer

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/demo"
	"github.com/fomo-grid/grid/internal/study"
)

func TestClassifyIsSklearnMacroF1OverTrueLabels(t *testing.T) {
	// Label 0: P=1, R=1/2, F1=2/3. Label 1: P=2/3, R=1, F1=4/5. Label 2:
	// never right, F1=0. Label 3 is only predicted, so it is not averaged.
	ev := classify([]int{0, 1, 1, 1, 3}, []int{0, 0, 1, 1, 2})
	want := engine.Evaluation{Total: 5, Correct: 3, Accuracy: 60, MacroF1: 100 * (2.0/3 + 0.8 + 0) / 3}
	if ev.Total != want.Total || ev.Correct != want.Correct || ev.Accuracy != want.Accuracy || math.Abs(ev.MacroF1-want.MacroF1) > 1e-12 {
		t.Errorf("classify = %+v, want %+v", ev, want)
	}
}

func TestClassifyGivesTheSameBitsEveryTime(t *testing.T) {
	// Many labels with F1 values whose float sum depends on the order.
	var pred, truth []int
	for y := 0; y < 97; y++ {
		for k := 0; k <= y%7; k++ {
			truth = append(truth, y)
			pred = append(pred, (y+k*k)%97)
		}
	}
	first := classify(pred, truth)
	for range 200 {
		if ev := classify(pred, truth); math.Float64bits(ev.MacroF1) != math.Float64bits(first.MacroF1) {
			t.Fatalf("macro-F1 %v then %v for the same predictions", first.MacroF1, ev.MacroF1)
		}
	}
}

func TestWriteLogitsQuotesNamesAndKeepsFloat32Bits(t *testing.T) {
	dir := t.TempDir()
	ds := &data.Dataset{
		Dir:        "/datasets/odd",
		ClassNames: []string{`comma, inside`, `quote"inside`},
		Test: []data.Item{
			{Path: "/datasets/odd/images/a.jpg", Label: 1},
			{Path: "/elsewhere/b.jpg", Label: 0},
		},
	}
	logits := []float32{1.0 / 3, -2.5e-7, float32(math.Pi) * 100, 7}
	path := filepath.Join(dir, "logits.csv")
	if err := writeLogits(path, ds, []int{1, 0}, logits); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, path)
	want := [][]string{
		{"path", "label", `comma, inside`, `quote"inside`},
		{"images/a.jpg", "1"},
		{"/elsewhere/b.jpg", "0"},
	}
	if !reflect.DeepEqual(rows[0], want[0]) || len(rows) != 3 {
		t.Fatalf("rows = %q", rows)
	}
	for i := 1; i < 3; i++ {
		if !reflect.DeepEqual(rows[i][:2], want[i]) {
			t.Errorf("row %d starts %q, want %q", i, rows[i][:2], want[i])
		}
		for c, s := range rows[i][2:] {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil || float32(v) != logits[(i-1)*2+c] {
				t.Errorf("row %d class %d: %q reads back as %v, want %v", i, c, s, v, logits[(i-1)*2+c])
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the CSV (no temporary file left)", len(entries))
	}
	if info, _ := os.Stat(path); info.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("logits file mode %v, want it readable by others", info.Mode())
	}

	missing := filepath.Join(dir, "no", "such", "dir", "logits.csv")
	if err := writeLogits(missing, ds, []int{1, 0}, logits); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("write into a missing directory: error %v, want one naming %s", err, missing)
	}
}

// The demo model through Evaluate: the CSV has one row per test image in
// split order, its argmax is the prediction the metrics counted, and the same
// evaluation gives the same bytes.
func TestEvaluateWritesTheLogitsItClassifiedBy(t *testing.T) {
	root, scratch := sharedDemo(t), t.TempDir()
	tr := New(cpu.New())
	tr.CacheDir = filepath.Join(scratch, "cache")
	spec := engine.EvalSpec{
		Model:  filepath.Join(root, demo.ModelDir),
		Data:   engine.DataSpec{Dataset: data.DemoName, Root: filepath.Join(root, demo.DataDir), Classes: study.ClassesAll},
		Prompt: "a photo of a",
	}
	evaluate := func(prompt, name string) (engine.Evaluation, []byte) {
		t.Helper()
		s := spec
		s.Prompt, s.LogitsFile = prompt, filepath.Join(scratch, name)
		ev, err := tr.Evaluate(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.ReadFile(s.LogitsFile)
		if err != nil {
			t.Fatal(err)
		}
		return ev, out
	}
	ev, first := evaluate("a photo of a", "first.csv")
	ev2, second := evaluate("a photo of a", "second.csv")
	if ev != ev2 || !bytes.Equal(first, second) {
		t.Errorf("same evaluation twice: %+v then %+v, logits equal: %v", ev, ev2, bytes.Equal(first, second))
	}
	if _, other := evaluate("a drawing of a", "other.csv"); bytes.Equal(first, other) {
		t.Error("another prompt gave the same logits")
	}
	// A template with {} spelling the same sentence is the same prompt; the
	// name placed elsewhere is another one.
	if _, tmpl := evaluate("a photo of a {}.", "template.csv"); !bytes.Equal(first, tmpl) {
		t.Error(`template "a photo of a {}." and context "a photo of a" gave different logits`)
	}
	if _, moved := evaluate("{}, a photo.", "moved.csv"); bytes.Equal(first, moved) {
		t.Error(`template "{}, a photo." gave the logits of "a photo of a {}."`)
	}

	ds, err := data.Open(spec.Data.Root, data.DemoName)
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(scratch, "first.csv"))
	if want := append([]string{"path", "label"}, ds.ClassNames...); !reflect.DeepEqual(rows[0], want) {
		t.Errorf("header %q, want %q", rows[0], want)
	}
	if len(rows)-1 != len(ds.Test) || ev.Total != len(ds.Test) {
		t.Fatalf("%d rows and total %d for %d test images", len(rows)-1, ev.Total, len(ds.Test))
	}
	correct := 0
	for i, row := range rows[1:] {
		item := ds.Test[i]
		if rel, _ := filepath.Rel(ds.Dir, item.Path); row[0] != filepath.ToSlash(rel) || row[1] != strconv.Itoa(item.Label) {
			t.Fatalf("row %d = %q..., want %s,%d", i, row[:2], rel, item.Label)
		}
		best, bestLogit := 0, math.Inf(-1)
		for c, s := range row[2:] {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
			if v > bestLogit {
				best, bestLogit = c, v
			}
		}
		if best == item.Label {
			correct++
		}
	}
	if correct != ev.Correct {
		t.Errorf("argmax of the CSV gets %d right, the evaluation counted %d", correct, ev.Correct)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}
