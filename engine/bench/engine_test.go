package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/dpt"
)

// The Go side of each measurement. Training steps and evaluation run in a
// child process (this test binary, re-executed with the job in childEnv),
// so that each peak RSS is the job's alone, as on the PyTorch side.

const (
	childEnv = "GRID_BENCH_JOB"
	nCtx     = 2
	sot, eot = 49406, 49407
)

// job is one training-step or evaluation measurement.
type job struct {
	Kind    string `json:"kind"` // "step" or "eval"
	Classes int    `json:"classes"`
	Shared  bool   `json:"shared"` // visual prompts on (step)
	Batch   int    `json:"batch"`
	Reps    int    `json:"reps"`
}

func (j job) String() string {
	if j.Kind == "eval" {
		return fmt.Sprintf("eval/batch%d", j.Batch)
	}
	variant := "noshared"
	if j.Shared {
		variant = "shared"
	}
	return fmt.Sprintf("step/%s/%dclasses", variant, j.Classes)
}

func (j job) unit() string {
	if j.Kind == "eval" {
		return "images/s"
	}
	return "s/step"
}

// measurement is what a job reports: its repetitions (seconds per step, or
// images per second), the best of them, and the process's peak RSS.
type measurement struct {
	Best    float64   `json:"best"`
	All     []float64 `json:"all"`
	PeakRSS int64     `json:"peak_rss"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild runs the job in spec and prints its measurement as JSON.
func runChild(spec string) int {
	var j job
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", childEnv, err)
		return 2
	}
	var m measurement
	switch j.Kind {
	case "step":
		m = measureStep(j)
	case "eval":
		m = measureEval(j)
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown job kind %q\n", childEnv, j.Kind)
		return 2
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		m.PeakRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if err := json.NewEncoder(os.Stdout).Encode(m); err != nil {
		return 1
	}
	return 0
}

// runGoChild runs j in a child process with GOMAXPROCS threads.
func runGoChild(b *testing.B, j job, threads int) measurement {
	b.Helper()
	spec, err := json.Marshal(j)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec), "GOMAXPROCS="+strconv.Itoa(threads))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("Go %s: %v", j, err)
	}
	var m measurement
	if err := json.Unmarshal(out, &m); err != nil {
		b.Fatalf("Go %s printed %q: %v", j, out, err)
	}
	return m
}

// timed runs f once as a warm-up, then reps times, returning the seconds
// of each timed run.
func timed(reps int, f func()) []float64 {
	f()
	var secs []float64
	for range reps {
		start := time.Now()
		f()
		secs = append(secs, time.Since(start).Seconds())
	}
	return secs
}

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
}

// classTokens are the class sequences bench_pytorch.py uses:
// [SOT, n_ctx slots, 4-6 word tokens ("of a <class> ."), EOT, 0...].
func classTokens(classes int) [][]int {
	out := make([][]int, classes)
	for k := range out {
		seq := []int{sot}
		for j := range nCtx {
			seq = append(seq, 1+j)
		}
		for j := range 4 + k%3 {
			seq = append(seq, 1000+7*k+j)
		}
		seq = append(seq, eot)
		for len(seq) < clip.ViTB16.ContextLength {
			seq = append(seq, 0)
		}
		out[k] = seq
	}
	return out
}

// measureStep times the training step the trainer runs for every batch
// (engine/trainer): the selection from the current scores (here the
// argmax, as the reference's), the DPT forward and backward on the CPU
// backend, the straight-through scores gradient and an SGD step on the
// scores and the projection. Every step selects different ids from the
// step before, so the text forward is never reused: each step does the
// full work, as the reference's does.
func measureStep(j job) measurement {
	cfg := clip.ViTB16
	b := cpu.New()
	r := must(clip.NewRandom(cfg, 1).On(b))
	rng := rand.New(rand.NewPCG(1, 2))
	scores := randSlice(rng, nCtx*cfg.VocabSize, 0.02)
	dev := struct{ scores, scoresGrad, projW, projB backend.Buffer }{
		scores:     must(backend.FromHost(b, scores)),
		scoresGrad: must(b.Alloc(backend.Float32, len(scores))),
		projW:      must(backend.FromHost(b, randSlice(rng, cfg.VisionWidth*cfg.TextWidth, 0.02))),
		projB:      must(b.Alloc(backend.Float32, cfg.VisionWidth)),
	}
	in := clip.DPTInput{ClassTokens: classTokens(j.Classes), NCtx: nCtx, Batch: j.Batch,
		Images: randSlice(rng, j.Batch*3*cfg.ImageResolution*cfg.ImageResolution, 1), Labels: make([]int, j.Batch)}
	for i := range in.Labels {
		in.Labels[i] = i % j.Classes
	}
	params := []dpt.Param{{Name: "scores", Value: dev.scores, Grad: dev.scoresGrad}}
	if j.Shared {
		in.ProjW, in.ProjB = dev.projW, dev.projB
		params = append(params, dpt.Param{Name: "proj.weight", Value: dev.projW}, dpt.Param{Name: "proj.bias", Value: dev.projB})
	}
	opt := dpt.NewSGD(b, 0.9, 5e-4)
	steps := 0
	step := func() {
		if err := b.Download(scores, dev.scores); err != nil {
			panic(err)
		}
		in.CtxIDs = argmaxRows(scores, nCtx)
		in.CtxIDs[0] = (in.CtxIDs[0] + steps) % cfg.VocabSize // never the previous step's ids
		steps++
		out := must(r.DPTStep(in, true))
		r.ScoresGrad(dev.scoresGrad, out.DCtx, nCtx)
		if j.Shared {
			params[1].Grad, params[2].Grad = out.DProjW, out.DProjB
		}
		if err := opt.Step(0.002, params); err != nil {
			panic(err)
		}
	}
	secs := timed(j.Reps, step)
	best, _ := bestAndSpread(secs, false)
	return measurement{Best: best, All: secs}
}

// must panics on an error: the child process reports it and the benchmark
// fails with it.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// argmaxRows returns the column of the largest value of each row.
func argmaxRows(x []float32, rows int) []int {
	cols := len(x) / rows
	ids := make([]int, rows)
	for r := range rows {
		row := x[r*cols : (r+1)*cols]
		for c, v := range row {
			if v > row[ids[r]] {
				ids[r] = c
			}
		}
	}
	return ids
}

// measureEval times what evaluation runs for every test batch: the vision
// tower with two visual prompt tokens and no gradients, then the logits
// against the class features (computed once, before the timing).
func measureEval(j job) measurement {
	cfg := clip.ViTB16
	b := cpu.New()
	r := must(clip.NewRandom(cfg, 1).On(b))
	rng := rand.New(rand.NewPCG(3, 4))
	const classes = 10
	features := must(r.ClassFeatures(classTokens(classes), []int{1, 2}, nCtx))
	projW := must(backend.FromHost(b, randSlice(rng, cfg.VisionWidth*cfg.TextWidth, 0.02)))
	projB := must(b.Alloc(backend.Float32, cfg.VisionWidth))
	prompts := must(r.ContextPrompts([]int{1, 2}, projW, projB))
	images := randSlice(rng, j.Batch*3*cfg.ImageResolution*cfg.ImageResolution, 1)
	logits := make([]float32, j.Batch*classes)
	secs := timed(j.Reps, func() {
		if err := r.ImageLogits(logits, images, j.Batch, prompts, features, classes); err != nil {
			panic(err)
		}
	})
	rates := make([]float64, len(secs))
	for i, s := range secs {
		rates[i] = float64(j.Batch) / s
	}
	best, _ := bestAndSpread(rates, true)
	return measurement{Best: best, All: rates}
}

// gemmShape is out[m,n] = x[m,k]·Wᵀ with W [n,k]: a Linear forward.
type gemmShape struct{ m, n, k int }

func (g gemmShape) String() string { return fmt.Sprintf("%dx%dx%d", g.m, g.n, g.k) }

// goGEMM returns the GFLOP/s of reps products of shape g after a warm-up,
// on threads cores.
func goGEMM(g gemmShape, reps, threads int) []float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	rng := rand.New(rand.NewPCG(5, 6))
	x, w := randSlice(rng, g.m*g.k, 1), randSlice(rng, g.n*g.k, 1)
	out := make([]float32, g.m*g.n)
	secs := timed(reps, func() { cpu.MatmulForward(out, x, w, nil, g.m, g.k, g.n) })
	rates := make([]float64, len(secs))
	for i, s := range secs {
		rates[i] = 2 * float64(g.m*g.n*g.k) / s / 1e9
	}
	return rates
}
