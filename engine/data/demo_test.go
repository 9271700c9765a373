package data

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteDemo(t *testing.T) {
	root := t.TempDir()
	if err := WriteDemo(root); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(root, DemoName)
	if err != nil {
		t.Fatal(err)
	}
	if ds.NumClasses() != 8 || !slices.Equal(ds.ClassNames, DemoClassNames()) {
		t.Fatalf("classes %q", ds.ClassNames)
	}
	if len(ds.Train) != 8*20 || len(ds.Val) != 8*4 || len(ds.Test) != 8*50 {
		t.Errorf("splits %d/%d/%d, want 160/32/400", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	first := DemoClassNames()[0]
	want := filepath.Join(root, "demo", "images", first, first+"_0.jpg")
	if ds.Train[0].Path != want {
		t.Errorf("first item %s, want %s", ds.Train[0].Path, want)
	}
	img, err := DecodeFile(ds.Test[len(ds.Test)-1].Path)
	if err != nil || img.Width != 48 || img.Height != 48 {
		t.Fatalf("demo image: %v", err)
	}
	seen := map[string]bool{}
	for _, it := range slices.Concat(ds.Train, ds.Val, ds.Test) {
		if seen[it.Path] {
			t.Fatalf("%s listed twice", it.Path)
		}
		seen[it.Path] = true
	}

	// Idempotent: a second run rewrites nothing.
	info, _ := os.Stat(want)
	old := info.ModTime().Add(-time.Hour)
	if err := os.Chtimes(want, old, old); err != nil {
		t.Fatal(err)
	}
	if err := WriteDemo(root); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(want); !info.ModTime().Equal(old) {
		t.Error("complete dataset was rewritten")
	}
	// A damaged file is repaired; the bytes are the same in another root.
	orig, _ := os.ReadFile(want)
	writeFile(t, want, orig[:100])
	if err := WriteDemo(root); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := WriteDemo(other); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"demo/images/circle/circle_0.jpg", "demo/images/dots/dots_33.jpg", "demo/split_zhou_Demo.json"} {
		a, _ := os.ReadFile(filepath.Join(root, rel))
		b, _ := os.ReadFile(filepath.Join(other, rel))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs (%d vs %d bytes)", rel, len(a), len(b))
		}
	}
}

// TestDemoClassesAreDistinct checks the demo set is learnable: a
// nearest-class-mean classifier on 8×8 thumbnails of the train split must
// classify most test images correctly (two thirds: a sketch's thin lines
// leave little in a thumbnail; chance is one eighth).
func TestDemoClassesAreDistinct(t *testing.T) {
	root := t.TempDir()
	if err := WriteDemo(root); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(root, DemoName)
	if err != nil {
		t.Fatal(err)
	}
	thumb := func(p string) []float64 {
		img, err := DecodeFile(p)
		if err != nil {
			t.Fatal(err)
		}
		small := ResizeBicubic(img, 8, 8)
		v := make([]float64, len(small.Pix))
		for i, b := range small.Pix {
			v[i] = float64(b)
		}
		return v
	}
	means := make([][]float64, ds.NumClasses())
	for _, it := range ds.Train {
		v := thumb(it.Path)
		if means[it.Label] == nil {
			means[it.Label] = make([]float64, len(v))
		}
		for i := range v {
			means[it.Label][i] += v[i] / 20
		}
	}
	correct := 0
	for _, it := range ds.Test {
		v := thumb(it.Path)
		best, bestD := -1, 0.0
		for c, m := range means {
			d := 0.0
			for i := range v {
				d += (v[i] - m[i]) * (v[i] - m[i])
			}
			if best < 0 || d < bestD {
				best, bestD = c, d
			}
		}
		if best == it.Label {
			correct++
		}
	}
	if correct < len(ds.Test)*2/3 {
		t.Errorf("nearest class mean got %d/%d test images", correct, len(ds.Test))
	}
}

// TestDemoShiftedHasTheSameClasses checks the transfer target of the demo
// grid: the same class names in the same label order, but other pixels.
func TestDemoShiftedHasTheSameClasses(t *testing.T) {
	root := t.TempDir()
	if err := WriteDemo(root); err != nil {
		t.Fatal(err)
	}
	a, err := Open(root, DemoName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(root, DemoShiftedName)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.ClassNames, ",") != strings.Join(b.ClassNames, ",") || len(b.Test) != len(a.Test) {
		t.Fatalf("demo_b classes %v (%d test), demo %v (%d test)", b.ClassNames, len(b.Test), a.ClassNames, len(a.Test))
	}
	pa, _ := os.ReadFile(a.Test[0].Path)
	pb, _ := os.ReadFile(b.Test[0].Path)
	if bytes.Equal(pa, pb) {
		t.Fatal("demo_b renders the same image as demo")
	}
}

// The pre-training stream: every batch the same whatever the number of
// threads, with distinct captions made of the caption words, each naming
// one class, sketches and filled shapes both.
func TestDemoPairs(t *testing.T) {
	const n, size = 20, 32 // not a multiple of the 8 classes of a scene
	a := DemoPairs(7, 3, n, size)
	prev := runtime.GOMAXPROCS(1)
	b := DemoPairs(7, 3, n, size)
	runtime.GOMAXPROCS(prev)
	if !slices.Equal(a.Images, b.Images) || !slices.Equal(a.Captions, b.Captions) {
		t.Fatal("a batch differs with the number of threads")
	}
	if len(a.Images) != n*3*size*size || len(a.Captions) != n || a.Size != size {
		t.Fatalf("%d values, %d captions, size %d", len(a.Images), len(a.Captions), a.Size)
	}
	if c := DemoPairs(7, 4, n, size); slices.Equal(c.Captions, a.Captions) {
		t.Error("batches 3 and 4 have the same captions")
	}
	words := map[string]bool{}
	for _, w := range DemoCaptionWords() {
		words[w] = true
	}
	seen, sketches := map[string]bool{}, 0
	for _, batch := range []CaptionedImages{a, DemoPairs(7, 5, 64, size)} {
		clear(seen)
		for _, c := range batch.Captions {
			if seen[c] {
				t.Errorf("caption %q twice in a batch", c)
			}
			seen[c] = true
			classes := 0
			for _, w := range strings.Fields(strings.TrimSuffix(c, ".")) {
				if !words[w] {
					t.Errorf("caption %q: %q is not a caption word", c, w)
				}
				if slices.Contains(DemoClassNames(), w) {
					classes++
				}
			}
			if classes != 1 {
				t.Errorf("caption %q names %d classes", c, classes)
			}
			if strings.HasPrefix(c, "a sketch of") || strings.HasPrefix(c, "an outline of") {
				sketches++
			}
		}
	}
	if sketches == 0 || sketches == n+64 {
		t.Errorf("%d of %d captions are sketches", sketches, n+64)
	}
}
