package demo

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/trainer"
	"github.com/fomo-grid/grid/internal/study"
)

// The pre-trained demo model sees: CLIP's hand-written prompt classifies
// both demo datasets well above chance, and a short DPT run (the demo
// grid's best cell, seed 1) improves on it on the held-out test images of
// the classes it trained on.
func TestPretrainedModelSeesAndDPTImproves(t *testing.T) {
	root := t.TempDir()
	if err := Write(root, cpu.New(), nil); err != nil {
		t.Fatal(err)
	}
	tr := trainer.New(cpu.New())
	tr.CacheDir = filepath.Join(root, "cache")
	model, dataRoot := filepath.Join(root, ModelDir), filepath.Join(root, DataDir)
	zeroShot := func(dataset string, classes study.Classes) float64 {
		t.Helper()
		ev, err := tr.Evaluate(context.Background(), engine.EvalSpec{Model: model, Prompt: "a photo of a {}.",
			Data: engine.DataSpec{Dataset: dataset, Root: dataRoot, Classes: classes}})
		if err != nil {
			t.Fatal(err)
		}
		return ev.Accuracy
	}
	const chance = 100.0 / 8
	if acc := zeroShot(data.DemoName, study.ClassesAll); acc < 2*chance {
		t.Errorf("zero-shot on demo (sketches): %.1f%%, want at least twice chance (%.1f%%)", acc, 2*chance)
	}
	if acc := zeroShot(data.DemoShiftedName, study.ClassesAll); acc < 3*chance {
		t.Errorf("zero-shot on demo_b (filled shapes): %.1f%%, want at least three times chance (%.1f%%)", acc, 3*chance)
	}
	base := zeroShot(data.DemoName, study.ClassesBase)
	res, err := tr.Train(context.Background(), engine.TrainSpec{
		Model: model, Data: engine.DataSpec{Dataset: data.DemoName, Root: dataRoot, Classes: study.ClassesBase, Shots: 16, Seed: 1},
		NCtx: 2, WeightStd: 0.001, Epochs: 10, LR: 0.01, WarmupLR: 1e-5, WarmupEpochs: 1,
		Momentum: 0.9, WeightDecay: 5e-4, BatchSize: 4,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base classes: zero-shot %.1f%%, DPT %.1f%% with the prompt %q", base, res.Test.Accuracy, res.Prompt)
	if res.Test.Accuracy < base+15 {
		t.Errorf("DPT reached %.1f%% on the base classes' test images (prompt %q), zero-shot %.1f%%: want 15 points more",
			res.Test.Accuracy, res.Prompt, base)
	}
}
