package demo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/tokenizer"
)

// The demo must be the same bytes on every machine and every run: job IDs
// do not cover the model's contents, so a demo that changed would silently
// change finished results.
func TestWriteIsDeterministicAndLoads(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := Write(a); err != nil {
		t.Fatal(err)
	}
	if err := Write(b); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"model/" + clip.WeightsFile, "model/" + VocabularyFile, "data/demo/split_zhou_Demo.json", "data/demo_b/images/ring/ring_3.jpg"} {
		x, err := os.ReadFile(filepath.Join(a, rel))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, rel))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes", rel)
		}
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
	// Every class name and the template are whole words of the vocabulary,
	// so prompts read as words, not bytes.
	for _, w := range append(data.DemoClassNames(), "photo", "a", "of") {
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
