package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/tokenizer"
)

// shortPretraining is the demo recipe cut to a few small steps, for the
// tests of the files rather than of what the model learns.
func shortPretraining(vocabSize int) recipe {
	r := pretraining(vocabSize)
	r.Steps, r.Batch, r.Warmup = 3, 16, 1
	return r
}

// The demo must be the same bytes on every run: job IDs do not cover the
// model's contents, so a demo that changed would silently change finished
// results. A second write into the same directory trains nothing and
// rewrites nothing.
func TestWriteIsDeterministicAndLoads(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := write(a, cpu.New(), nil, shortPretraining); err != nil {
		t.Fatal(err)
	}
	if err := write(b, cpu.New(), nil, shortPretraining); err != nil {
		t.Fatal(err)
	}
	sketch := data.DemoClassNames()[0]
	for _, rel := range []string{"model/" + clip.WeightsFile, "model/" + VocabularyFile, "data/demo/split_zhou_Demo.json", "data/demo_b/images/" + sketch + "/" + sketch + "_3.jpg"} {
		x, err := os.ReadFile(filepath.Join(a, rel))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, rel))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes", rel)
		}
	}
	weights := filepath.Join(a, ModelDir, clip.WeightsFile)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(weights, old, old); err != nil {
		t.Fatal(err)
	}
	if err := write(a, cpu.New(), nil, shortPretraining); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(weights); err != nil || !info.ModTime().Equal(old) {
		t.Errorf("a second write replaced the pre-trained model (%v)", err)
	}
	longer := func(v int) recipe { r := shortPretraining(v); r.Steps++; return r }
	if err := write(a, cpu.New(), nil, longer); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(weights); err != nil || info.ModTime().Equal(old) {
		t.Errorf("another recipe left the model of the first (%v)", err)
	}
	m, err := clip.Load(filepath.Join(a, ModelDir))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(a, ModelDir, VocabularyFile))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != m.Config.VocabSize {
		t.Fatalf("vocabulary %d tokens, model %d", tok.VocabSize(), m.Config.VocabSize)
	}
	// Every caption word (class names among them) and the template are
	// whole words of the vocabulary, so prompts read as words, not bytes.
	for _, w := range append(data.DemoCaptionWords(), "photo", "a", "of") {
		if ids := tok.Encode(w); len(ids) != 1 {
			t.Errorf("%q encodes to %d tokens", w, len(ids))
		}
	}
	for _, name := range []string{data.DemoName, data.DemoShiftedName} {
		ds, err := data.Open(filepath.Join(a, DataDir), name)
		if err != nil {
			t.Fatal(err)
		}
		if ds.NumClasses() != 8 || len(ds.Test) == 0 {
			t.Errorf("%s: %d classes, %d test images", name, ds.NumClasses(), len(ds.Test))
		}
	}
}
