package sweeps

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

// The IDs of every stored job are hashes of encoding/json's bytes; the fast
// encoder must write exactly those.
func TestConfigJSONMatches(t *testing.T) {
	cases := []Config{
		{},
		{Kind: study.KindTrain, Model: "models/ViT-B-16", DataRoot: "data", Dataset: "eurosat", Classes: study.ClassesBase,
			Variant: study.VariantFull, Seed: 1, NCtx: 4, Shots: 16, WeightStd: 0.004, Epochs: 8, LR: 0.0035,
			WarmupLR: 1e-5, WarmupEpochs: 1, Momentum: 0.9, WeightDecay: 5e-4, BatchSize: 4},
		{Kind: study.KindEval, Model: `m <&> "q" \ é ` + "\t\u2028", Source: "abc", Template: "a photo of a {}, a type of pet."},
		{Kind: study.KindTrain, Seed: 2, NCtx: 2, Precision: study.PrecisionFP16},
		{WeightStd: 1e-7, LR: 1e21, WarmupLR: -2.5e-9, Momentum: 123456789012345678901.0, WeightDecay: math.SmallestNonzeroFloat64},
		{Seed: -3, NCtx: -1, WeightStd: math.Copysign(0, -1), LR: 1e-6, WarmupLR: 9.999999e20},
	}
	for _, c := range cases {
		checkConfigJSON(t, c)
	}
}

func FuzzConfigJSON(f *testing.F) {
	f.Add("train", "models/m", "data", 1.5e-7, 0.0035, int64(3), 4)
	f.Add("eval", "é<>&\"\\\x01", "", 1e21, -0.0, int64(-1), 0)
	f.Fuzz(func(t *testing.T, kind, model, source string, std, lr float64, seed int64, nctx int) {
		if math.IsNaN(std) || math.IsInf(std, 0) || math.IsNaN(lr) || math.IsInf(lr, 0) {
			return // the decoder refuses them; encoding/json too
		}
		checkConfigJSON(t, Config{Kind: study.Kind(kind), Model: model, Source: source, WeightStd: std, LR: lr, Seed: seed, NCtx: nctx})
	})
}

func checkConfigJSON(t *testing.T, c Config) {
	t.Helper()
	want, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendConfigJSON(nil, c); string(got) != string(want) {
		t.Fatalf("config %+v:\n got %s\nwant %s", c, got, want)
	}
}
