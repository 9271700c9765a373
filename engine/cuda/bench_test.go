package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/dpt"
)

// The benchmarks run on the GPU (skipped elsewhere) at ViT-B/16 shapes with
// random weights, the setting of the PyTorch anchors
// (../shared/anchors.md): gpucheck/run.sh runs them beside the PyTorch
// reference engine/reference/bench_pytorch.py on the same GPU and prints
// the ratios.

// benchModel is ViT-B/16 with deterministic random weights, made once.
var benchModel = struct {
	m *clip.Model
}{}

func vitB16(b *testing.B) *clip.Model {
	if benchModel.m == nil {
		benchModel.m = clip.NewRandom(clip.ViTB16, 1)
	}
	return benchModel.m
}

// classTokens are the class sequences of engine/reference/bench_pytorch.py
// (and engine/bench): [SOT, the two context slots, 4-6 word tokens, EOT,
// 0...], SOT and EOT being the vocabulary's last two ids as in CLIP's.
func classTokens(K, length, vocab int) [][]int {
	sot, eot := vocab-2, vocab-1
	out := make([][]int, K)
	for k := range out {
		seq := []int{sot, 1, 2}
		for j := range 4 + k%3 {
			seq = append(seq, 1+(999+7*k+j)%(vocab-3))
		}
		seq = append(seq, eot)
		out[k] = append(seq, make([]int, length-len(seq))...)
	}
	return out
}

func randomValues(rng *rand.Rand, n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
	return x
}

// benchBackend is a Backend at precision p on the GPU, closed after the
// benchmark.
func benchBackend(b *testing.B, p Precision) *Backend {
	rt := realRuntime(b)
	be, err := New(rt, Config{Precision: p})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

// BenchmarkTrainStepCUDA is one DPT training step as the trainer runs it:
// the scores downloaded for the selection, the DPT forward and backward
// with visual prompts (batch 4, n_ctx 2), the score gradient, and SGD on
// the scores and the projection. The context changes every step, so no
// text pass is reused (the PyTorch references recompute it every step).
func BenchmarkTrainStepCUDA(b *testing.B) {
	for _, p := range []Precision{FP16, FP32} {
		for _, classes := range []int{50, 500} {
			b.Run(fmt.Sprintf("%s/classes=%d", p, classes), func(b *testing.B) { benchTrainStep(b, p, classes) })
		}
	}
}

func benchTrainStep(b *testing.B, p Precision, classes int) {
	be := benchBackend(b, p)
	step, done := trainStep(b, be, vitB16(b), classes)
	defer done()
	for i := range 3 { // shapes compiled, graphs captured
		step(i)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		step(i)
	}
	step(-1) // waits for the last update: the time is of whole steps
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/step")
	b.ReportMetric(float64(be.PeakBytes())/(1<<30), "GiB")
}

// trainStep prepares a training step of m on be with the given number of
// classes; step(i) runs step i (step(-1) only waits for the last one), done
// frees the step's state.
func trainStep(tb testing.TB, be backend.Backend, m *clip.Model, classes int) (step func(i int), done func()) {
	r, err := m.On(be)
	if err != nil {
		tb.Fatal(err)
	}
	c := m.Config
	rng := rand.New(rand.NewPCG(2, 3))
	upload := func(x []float32) backend.Buffer {
		buf, err := backend.FromHost(be, x)
		if err != nil {
			tb.Fatal(err)
		}
		return buf
	}
	const nCtx, batch = 2, 4
	R := c.ImageResolution
	scores, scoresGrad := upload(randomValues(rng, nCtx*c.VocabSize, 0.004)), upload(make([]float32, nCtx*c.VocabSize))
	projW, projB := upload(randomValues(rng, c.VisionWidth*c.TextWidth, 0.04)), upload(make([]float32, c.VisionWidth))
	opt := dpt.NewSGD(be, 0.9, 5e-4)
	in := clip.DPTInput{ClassTokens: classTokens(classes, c.ContextLength, c.VocabSize), NCtx: nCtx, CtxIDs: []int{1, 2},
		ProjW: projW, ProjB: projB, Images: randomValues(rng, batch*3*R*R, 1), Batch: batch, Labels: []int{0, 1 % classes, 2 % classes, 3 % classes}}
	hostScores := make([]float32, nCtx*c.VocabSize)
	step = func(i int) {
		if err := be.Download(hostScores, scores); err != nil || i < 0 {
			if err != nil {
				tb.Fatal(err)
			}
			return
		}
		in.CtxIDs[0] = 1 + i%2
		out, err := r.DPTStep(in, true)
		if err != nil {
			tb.Fatal(err)
		}
		r.ScoresGrad(scoresGrad, out.DCtx, nCtx)
		params := []dpt.Param{{Name: "scores", Value: scores, Grad: scoresGrad}, {Name: "proj.weight", Value: projW, Grad: out.DProjW}, {Name: "proj.bias", Value: projB, Grad: out.DProjB}}
		if err := opt.Step(0.0035, params); err != nil {
			tb.Fatal(err)
		}
	}
	done = func() {
		opt.Free()
		for _, buf := range []backend.Buffer{scores, scoresGrad, projW, projB} {
			be.Free(buf)
		}
		r.Release()
	}
	return step, done
}

// TestTrainStepBenchmarkRuns runs the benchmark's training step on the
// emulated GPU with the demo model's shapes, so that the device check does
// not find a broken benchmark.
func TestTrainStepBenchmarkRuns(t *testing.T) {
	be := newEmuBackend(t, emuOptions(t), Config{Precision: FP16})
	step, done := trainStep(t, be, clip.NewRandom(clip.DemoConfig(1000), 1), 5)
	defer done()
	for i := range 3 {
		step(i)
	}
	step(-1)
}

// BenchmarkEvalImagesCUDA is the evaluation's vision forward: batches of 100
// ViT-B/16 images to normalised features, at fp16 and fp32.
func BenchmarkEvalImagesCUDA(b *testing.B) {
	for _, p := range []Precision{FP16, FP32} {
		b.Run(p.String(), func(b *testing.B) {
			be := benchBackend(b, p)
			r, err := vitB16(b).On(be)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Release()
			const batch = 100
			images := randomValues(rand.New(rand.NewPCG(4, 5)), batch*3*224*224, 1)
			if _, err := r.ImageFeatures(images, batch, nil); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := r.ImageFeatures(images, batch, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "images/s")
		})
	}
}
