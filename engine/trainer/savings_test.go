package trainer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend/backendtest"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/demo"
	"github.com/fomo-grid/grid/internal/study"
)

// TestEvaluationComputesClassFeaturesOnce: an evaluation runs the text tower
// once for all classes and the vision tower once per chunk of a test batch.
func TestEvaluationComputesClassFeaturesOnce(t *testing.T) {
	root, scratch := sharedDemo(t), t.TempDir()
	counter := &backendtest.Counter{Backend: cpu.New()}
	tr := New(counter)
	tr.CacheDir = filepath.Join(scratch, "cache")
	spec := engine.EvalSpec{
		Model:  filepath.Join(root, demo.ModelDir),
		Data:   engine.DataSpec{Dataset: data.DemoName, Root: filepath.Join(root, demo.DataDir), Classes: study.ClassesAll},
		Prompt: ContextInit,
	}
	ev, err := tr.Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := clip.Load(spec.Model)
	if err != nil {
		t.Fatal(err)
	}
	passes := 0
	for left := ev.Total; left > 0; left -= TestBatchSize {
		passes += (min(left, TestBatchSize) + clip.DefaultImageChunk - 1) / clip.DefaultImageChunk
	}
	if counter.CausalForward != m.Config.TextLayers || counter.FullForward != m.Config.VisionLayers*passes {
		t.Fatalf("%d test images: %d text and %d vision attention passes, want %d (one text pass) and %d (%d vision passes)",
			ev.Total, counter.CausalForward, counter.FullForward, m.Config.TextLayers, m.Config.VisionLayers*passes, passes)
	}
	if name, device := tr.Placement(); name != "cpu" || device == "" {
		t.Errorf("Placement() = %q, %q", name, device)
	}
}
