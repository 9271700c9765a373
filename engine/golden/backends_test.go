package golden

import (
	"math"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/backend/registry"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/internal/study"
)

// forEachBackend runs test once per backend of the registry, as a subtest
// named after it. A backend that cannot run on this machine is skipped,
// saying why.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend.Backend)) {
	for _, name := range registry.Backends() {
		t.Run(name, func(t *testing.T) {
			b, err := registry.Open(name)
			if err != nil {
				t.Skip(err)
			}
			test(t, b)
		})
	}
}

// reducedBits is, while a test runs a backend at fp16, fp16's significand:
// compare then allows what fp16 storage makes of the fp32 reference.
var reducedBits int

// withReducedPrecision widens a tolerance to the running precision: 64
// units of fp16's roundoff (3e-2 of the scale) through two 12-layer
// towers stored in fp16, still far below a wrong formula's errors.
func withReducedPrecision(tol float64) float64 {
	if reducedBits == 0 {
		return tol
	}
	return math.Max(tol, 64*math.Ldexp(1, -reducedBits))
}

// forEachBackendAndFP16 is forEachBackend, plus a run at fp16 (the seed's
// precision) on the backends that store 16-bit values, with compare's
// tolerances widened to fp16's rounding.
func forEachBackendAndFP16(t *testing.T, test func(t *testing.T, b backend.Backend)) {
	forEachBackend(t, test)
	for _, name := range registry.Backends() {
		t.Run(name+"/fp16", func(t *testing.T) {
			b, err := registry.Open(name)
			if err != nil {
				t.Skip(err)
			}
			if _, ok := b.(backend.Precisioner); !ok {
				t.Skipf("the %s backend computes in fp32 only", name)
			}
			half, err := backend.AtPrecision(b, study.PrecisionFP16)
			if err != nil {
				t.Fatal(err)
			}
			reducedBits = 11
			defer func() { reducedBits = 0 }()
			test(t, half)
		})
	}
}

func runnerOn(t *testing.T, m *clip.Model, b backend.Backend) *clip.Runner {
	t.Helper()
	r, err := m.On(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func upload(t *testing.T, b backend.Backend, x []float32) backend.Buffer {
	t.Helper()
	buf, err := backend.FromHost(b, x)
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

func download(t *testing.T, b backend.Backend, buf backend.Buffer) []float32 {
	t.Helper()
	x, err := backend.ToHost(b, buf)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func textFeatures(t *testing.T, r *clip.Runner, tokens [][]int, ctx []float32, nCtx int) clip.Features {
	t.Helper()
	f, err := r.TextFeatures(tokens, ctx, nCtx)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func imageFeatures(t *testing.T, r *clip.Runner, images []float32, batch int, extra []float32) clip.Features {
	t.Helper()
	f, err := r.ImageFeatures(images, batch, extra)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// visualPrompts is proj(ctx) = E[ids]·Wᵀ + b, the tokens appended to the
// ViT, computed as the trainer's evaluation computes it.
func visualPrompts(t *testing.T, r *clip.Runner, ids []int, w, b []float32) []float32 {
	t.Helper()
	be := r.Backend()
	wb, bb := upload(t, be, w), upload(t, be, b)
	defer be.Free(wb)
	defer be.Free(bb)
	prompts, err := r.ContextPrompts(ids, wb, bb)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Free(prompts)
	return download(t, be, prompts)
}

// stepResult is what the tests compare of a DPT step, downloaded.
type stepResult struct {
	loss                 float32
	logits               []float32
	dctx, dprojW, dprojB []float32
	gradScores           []float32
}

// dptStep runs one training step and the score gradient, as the trainer
// does.
func dptStep(t *testing.T, r *clip.Runner, in clip.DPTInput) stepResult {
	t.Helper()
	b, c := r.Backend(), r.Model().Config
	out, err := r.DPTStep(in, true)
	if err != nil {
		t.Fatal(err)
	}
	res := stepResult{loss: out.Loss, logits: append([]float32(nil), out.Logits...), dctx: download(t, b, out.DCtx)}
	if out.DProjW != nil {
		res.dprojW, res.dprojB = download(t, b, out.DProjW), download(t, b, out.DProjB)
	}
	scores := upload(t, b, make([]float32, in.NCtx*c.VocabSize))
	defer b.Free(scores)
	r.ScoresGrad(scores, out.DCtx, in.NCtx)
	res.gradScores = download(t, b, scores)
	return res
}
