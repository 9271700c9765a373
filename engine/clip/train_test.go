package clip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/cpu"
)

// tinyContrastBatch is three images and three captions of differing
// lengths (one padded past its end-of-text token) for tinyConfig, with a
// repeated word so that a token embedding collects two rows' gradients,
// and nExtra random tokens appended to the images.
func tinyContrastBatch(nExtra int) ContrastiveBatch {
	const sot, eot = 48, 49
	rng := rand.New(rand.NewPCG(8, 8))
	captions := [][]int{{sot, 5, 6, eot}, {sot, 7, 8, 7, 9, eot}, {sot, 10, eot, 0, 0}}
	return ContrastiveBatch{Images: randSlice(rng, 3*3*16*16, 1), Captions: captions,
		ExtraTokens: randSlice(rng, nExtra*tinyConfig.VisionWidth, 1)}
}

// Every weight gradient of a training pass, and logit_scale's, agrees with
// finite differences of the contrastive loss, with and without extra
// tokens after the patches (which have no position, so pos[T-1] must not
// collect theirs).
func TestTrainingWeightGradients(t *testing.T) {
	for _, nExtra := range []int{0, 2} {
		t.Run(fmt.Sprintf("%d extra tokens", nExtra), func(t *testing.T) { checkTrainingGradients(t, tinyContrastBatch(nExtra)) })
	}
}

func checkTrainingGradients(t *testing.T, batch ContrastiveBatch) {
	m := NewRandom(tinyConfig, 3)
	m.logitScale[0] = 2.5 // off CLIP's clamp, so that its gradient is seen
	tr, err := m.Train(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.gradients(batch); err != nil {
		t.Fatal(err)
	}
	r := tr.r
	w, err := r.contrastWork(batch.key(m.Config))
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		l, err := r.contrastiveForward(w, batch)
		if err != nil {
			t.Fatal(err)
		}
		return float64(l)
	}
	if len(tr.weights) != len(m.params())-1 {
		t.Fatalf("%d trained weights, the model has %d besides logit_scale", len(tr.weights), len(m.params())-1)
	}
	for _, p := range tr.weights {
		x, g := download(t, r, p.value), download(t, r, p.grad)
		// Embeddings are small (std 0.02 for tokens) and meet a LayerNorm
		// at once: a step of 1e-2 would leave the linear regime.
		h := 1e-2
		if strings.Contains(p.name, "embedding") {
			h = 1e-3
		}
		checkGrad(t, p.name, x, g, h, func(moved []float32) float64 {
			r.b.Upload(p.value, moved)
			defer r.b.Upload(p.value, x)
			return loss()
		})
	}
	scale := []float32{m.logitScale[0]}
	checkGrad(t, "logit_scale", scale, download(t, r, tr.dScale), 1e-2, func(moved []float32) float64 {
		m.logitScale[0] = moved[0]
		defer func() { m.logitScale[0] = scale[0] }()
		return loss()
	})
}

// A training step lowers the loss of its batch, reaches the model through
// Finish (the projections back in their OpenAI layout), and keeps
// logit_scale within CLIP's clamp.
func TestTrainingStepsAndFinish(t *testing.T) {
	m := NewRandom(tinyConfig, 3)
	tr, err := m.Train(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	batch := tinyContrastBatch(1)
	opt := AdamW{LR: 3e-3, Beta1: 0.9, Beta2: 0.98, Eps: 1e-6, WeightDecay: 0.1}
	first, err := tr.Step(batch, opt)
	if err != nil {
		t.Fatal(err)
	}
	var last float32
	for range 20 {
		if last, err = tr.Step(batch, opt); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < first/2) {
		t.Errorf("20 steps on one batch took its loss from %g to %g", first, last)
	}
	if m.logitScale[0] > MaxLogitScale {
		t.Errorf("logit_scale %g above the clamp", m.logitScale[0])
	}
	if err := tr.Finish(); err != nil {
		t.Fatal(err)
	}
	// A model loaded from the finished one's tensors computes what the
	// trained weights on the backend compute.
	loaded, err := FromTensors(m.Tensors())
	if err != nil {
		t.Fatal(err)
	}
	want := textFeaturesOf(t, m, batch.Captions)
	got := textFeaturesOf(t, loaded, batch.Captions)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("text feature %d: %g after a save, %g trained", i, got[i], want[i])
		}
	}
}

func textFeaturesOf(t *testing.T, m *Model, tokens [][]int) []float32 {
	t.Helper()
	b := backend.Backend(cpu.New())
	r, err := m.On(b)
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.ClassFeatures(tokens, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(f)
	return download(t, r, f)
}
