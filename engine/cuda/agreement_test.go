package cuda

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/demo"
	"github.com/fomo-grid/grid/engine/trainer"
	"github.com/fomo-grid/grid/internal/study"
)

// agreementSteps is how many training steps must select the same tokens.
const agreementSteps = 20

// checkSelectionAgreement trains the demo model for agreementSteps steps on
// the CPU and on gpu (fp32 both) and requires every step to select the same
// tokens. The learning rate is large enough that the selection moves, so
// the comparison is not of one initial argmax twenty times.
func checkSelectionAgreement(t *testing.T, gpu backend.Backend) {
	root := t.TempDir()
	if err := demo.Write(root, cpu.New(), nil); err != nil {
		t.Fatal(err)
	}
	spec := engine.TrainSpec{
		Model: filepath.Join(root, demo.ModelDir),
		Data:  engine.DataSpec{Dataset: data.DemoName, Root: filepath.Join(root, demo.DataDir), Classes: study.ClassesAll, Shots: 2, Seed: 3},
		NCtx:  2, WeightStd: 0.004, Epochs: 5, LR: 2, WarmupLR: 2, WarmupEpochs: 0,
		Momentum: 0.9, WeightDecay: 5e-4, BatchSize: 4,
	}
	run := func(b backend.Backend) [][]int {
		tr := trainer.New(b)
		tr.CacheDir = filepath.Join(root, "cache")
		var steps [][]int
		if _, err := tr.Train(context.Background(), spec, func(p engine.Progress) {
			steps = append(steps, slices.Clone(p.TokenIDs))
		}); err != nil {
			t.Fatalf("training on %s: %v", b.Name(), err)
		}
		return steps
	}
	want, got := run(cpu.New()), run(gpu)
	if len(want) < agreementSteps || len(got) < agreementSteps {
		t.Fatalf("%d CPU and %d GPU steps, want at least %d", len(want), len(got), agreementSteps)
	}
	for i := range agreementSteps {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("step %d selected %v on %s, %v on the CPU", i, got[i], gpu.Name(), want[i])
		}
	}
	changes := 0
	for i := 1; i < agreementSteps; i++ {
		if !slices.Equal(want[i], want[i-1]) {
			changes++
		}
	}
	if changes == 0 {
		t.Fatalf("the selection never moved in %d steps (%v): the comparison shows nothing", agreementSteps, want[0])
	}
	t.Logf("%d steps agree; the selection changed %d times", agreementSteps, changes)
}

func TestCPUAndEmulatedGPUSelectTheSameTokens(t *testing.T) {
	checkSelectionAgreement(t, newEmuBackend(t, emuOptions(t), Config{}))
}
