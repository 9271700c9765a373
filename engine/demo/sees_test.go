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
// the classes it trained on and of the classes it never saw.
func TestPretrainedModelSeesAndDPTImproves(t *testing.T) {
	root := t.TempDir()
	if err := Write(root, cpu.New(), nil); err != nil {
		t.Fatal(err)
	}
	tr := trainer.New(cpu.New())
	tr.CacheDir = filepath.Join(root, "cache")
	model, dataRoot := filepath.Join(root, ModelDir), filepath.Join(root, DataDir)
	evaluate := func(dataset string, classes study.Classes, prompt, checkpoint string) float64 {
		t.Helper()
		ev, err := tr.Evaluate(context.Background(), engine.EvalSpec{Model: model, Prompt: prompt, Checkpoint: checkpoint,
			Data: engine.DataSpec{Dataset: dataset, Root: dataRoot, Classes: classes}})
		if err != nil {
			t.Fatal(err)
		}
		return ev.Accuracy
	}
	const handWritten = "a photo of a {}."
	const chance = 100.0 / 8
	if acc := evaluate(data.DemoName, study.ClassesAll, handWritten, ""); acc < 2*chance {
		t.Errorf("zero-shot on demo (sketches): %.1f%%, want at least twice chance (%.1f%%)", acc, 2*chance)
	}
	if acc := evaluate(data.DemoShiftedName, study.ClassesAll, handWritten, ""); acc < 3*chance {
		t.Errorf("zero-shot on demo_b (filled shapes): %.1f%%, want at least three times chance (%.1f%%)", acc, 3*chance)
	}
	res, err := tr.Train(context.Background(), engine.TrainSpec{
		Model: model, Data: engine.DataSpec{Dataset: data.DemoName, Root: dataRoot, Classes: study.ClassesBase, Shots: 16, Seed: 1},
		NCtx: 2, WeightStd: 0.08, Epochs: 10, LR: 0.003, WarmupLR: 1e-5, WarmupEpochs: 1,
		Momentum: 0.9, WeightDecay: 5e-4, BatchSize: 4, Checkpoint: filepath.Join(root, "dpt.safetensors"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		classes   study.Classes
		dpt, gain float64
	}{
		{study.ClassesBase, res.Test.Accuracy, 15},
		{study.ClassesNew, evaluate(data.DemoName, study.ClassesNew, "", res.Checkpoint), 5},
	} {
		zeroShot := evaluate(data.DemoName, c.classes, handWritten, "")
		t.Logf("%s classes: zero-shot %.1f%%, DPT %.1f%% with the prompt %q", c.classes, zeroShot, c.dpt, res.Prompt)
		if c.dpt < zeroShot+c.gain {
			t.Errorf("DPT reached %.1f%% on the %s classes' test images (prompt %q), zero-shot %.1f%%: want %.0f points more",
				c.dpt, c.classes, res.Prompt, zeroShot, c.gain)
		}
	}
}
