package clip

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/cpu"
)

// The model's tests run on the CPU backend; engine/golden runs the PyTorch
// comparisons on every registered backend.

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
}

// runner puts m on a fresh CPU backend.
func runner(t testing.TB, m *Model) *Runner {
	t.Helper()
	r, err := m.On(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func upload(t testing.TB, r *Runner, x []float32) backend.Buffer {
	t.Helper()
	if x == nil {
		return nil
	}
	buf, err := backend.FromHost(r.b, x)
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

func download(t testing.TB, r *Runner, buf backend.Buffer) []float32 {
	t.Helper()
	if buf == nil {
		return nil
	}
	out, err := backend.ToHost(r.b, buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tinyTokens returns class sequences [SOT][nCtx slots][words][EOT][pad] for
// the tiny vocabulary (SOT 48, EOT 49), of differing lengths.
func tinyTokens(nCtx int) [][]int {
	const sot, eot = 48, 49
	words := [][]int{{5}, {6, 7, 8}, {9, 10}}
	var out [][]int
	for i, w := range words {
		seq := []int{sot}
		for j := range nCtx {
			seq = append(seq, 20+j)
		}
		seq = append(append(seq, w...), eot)
		for len(seq) < 9+i { // unequal, partly padded lengths
			seq = append(seq, 0)
		}
		out = append(out, seq)
	}
	return out
}

// textPass runs the text tower at length T (textLength or more) and
// returns the features.
func textPass(t *testing.T, r *Runner, tokens [][]int, ctx []float32, nCtx, T int, keep bool) []float32 {
	t.Helper()
	w, err := r.textWork(textKey{classes: len(tokens), length: T, nCtx: nCtx, keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	w.setTokens(r.b, tokens)
	r.textForward(w, upload(t, r, ctx))
	return download(t, r, w.head.features)
}

func TestTextTruncationMatchesFullLength(t *testing.T) {
	m := NewRandom(tinyConfig, 11)
	r := runner(t, m)
	rng := rand.New(rand.NewPCG(2, 2))
	nCtx := 2
	ctx := randSlice(rng, nCtx*tinyConfig.TextWidth, 0.02)
	tokens := tinyTokens(nCtx)
	if textLength(tokens) >= tinyConfig.ContextLength {
		t.Fatalf("truncated length %d, full %d: nothing is truncated", textLength(tokens), tinyConfig.ContextLength)
	}
	short := textPass(t, r, tokens, ctx, nCtx, textLength(tokens), false)
	full := textPass(t, r, tokens, ctx, nCtx, tinyConfig.ContextLength, false)
	if !reflect.DeepEqual(short, full) {
		t.Fatalf("truncated features differ from full-length ones:\n%v\n%v", short[:4], full[:4])
	}
	// With activations kept the result is the same too.
	if kept := textPass(t, r, tokens, ctx, nCtx, textLength(tokens), true); !reflect.DeepEqual(kept, short) {
		t.Fatal("the pass that keeps activations and the in-place pass disagree")
	}
}

func textFeatures(t *testing.T, r *Runner, tokens [][]int, ctx []float32, nCtx int) []float32 {
	t.Helper()
	f, err := r.TextFeatures(tokens, ctx, nCtx)
	if err != nil {
		t.Fatal(err)
	}
	return f.Normalized
}

func imageFeatures(t *testing.T, r *Runner, images []float32, batch int, extra []float32) []float32 {
	t.Helper()
	f, err := r.ImageFeatures(images, batch, extra)
	if err != nil {
		t.Fatal(err)
	}
	return f.Normalized
}

func TestEOTIsArgmax(t *testing.T) {
	if got := EOTIndex([]int{48, 3, 49, 7, 49, 0}); got != 2 {
		t.Fatalf("EOTIndex = %d, want the first maximum, 2", got)
	}
	r := runner(t, NewRandom(tinyConfig, 12))
	// Tokens after the argmax do not matter (causal mask, feature read at
	// the argmax) ...
	a := textFeatures(t, r, [][]int{{48, 5, 6, 49}}, nil, 0)
	b := textFeatures(t, r, [][]int{{48, 5, 6, 49, 7, 8, 0}}, nil, 0)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("tokens after the end-of-text token changed the feature")
	}
	// ... tokens before it do, and it is the largest id, not the last one,
	// that is read: [48 5 49 6] is read at position 2, like [48 5 49].
	c := textFeatures(t, r, [][]int{{48, 5, 49, 6}}, nil, 0)
	d := textFeatures(t, r, [][]int{{48, 5, 49}}, nil, 0)
	if !reflect.DeepEqual(c, d) || reflect.DeepEqual(a, c) {
		t.Fatal("the feature is not read at the argmax position")
	}
	// The slots take ctx: putting the embeddings of the slot tokens in ctx
	// reproduces ctx == nil.
	tokens := tinyTokens(2)
	ctx, err := r.ContextEmbeddings([]int{20, 21})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(textFeatures(t, r, tokens, ctx, 2), textFeatures(t, r, tokens, nil, 2)) {
		t.Fatal("ctx equal to the slot embeddings changed the features")
	}
}

func TestImageFeaturesPerImage(t *testing.T) {
	r := runner(t, NewRandom(tinyConfig, 13))
	rng := rand.New(rand.NewPCG(3, 3))
	px := 3 * 16 * 16
	images := randSlice(rng, 3*px, 1)
	extra := randSlice(rng, 2*tinyConfig.VisionWidth, 0.5)
	for _, e := range [][]float32{nil, extra} {
		all := imageFeatures(t, r, images, 3, e)
		for b := range 3 {
			one := imageFeatures(t, r, images[b*px:(b+1)*px], 1, e)
			for i, v := range one {
				if math.Abs(float64(v-all[b*32+i])) > 1e-6 {
					t.Fatalf("image %d alone differs from its batch result", b)
				}
			}
		}
		var n float64
		for _, v := range all[:32] {
			n += float64(v) * float64(v)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Fatalf("image feature norm² %g, want 1", n)
		}
	}
	if reflect.DeepEqual(imageFeatures(t, r, images, 3, nil), imageFeatures(t, r, images, 3, extra)) {
		t.Fatal("extra tokens had no effect")
	}
	if !reflect.DeepEqual(imageFeatures(t, r, images, 3, nil), imageFeatures(t, r, images, 3, []float32{})) {
		t.Fatal("zero extra tokens differ from nil")
	}
}

// dptCase is a DPT batch with its trained tensors on the host, so that
// finite differences can perturb them.
type dptCase struct {
	in           DPTInput
	projW, projB []float32 // nil for NoShared
}

func tinyDPTCase(m *Model, shared bool) dptCase {
	rng := rand.New(rand.NewPCG(5, 5))
	c := m.Config
	nCtx := 2
	cs := dptCase{in: DPTInput{
		ClassTokens: tinyTokens(nCtx),
		NCtx:        nCtx,
		CtxIDs:      []int{31, 17},
		Images:      randSlice(rng, 4*3*16*16, 1),
		Batch:       4,
		Labels:      []int{2, 0, 1, 2},
	}}
	if shared {
		// Like PyTorch's default Linear init: U(±1/sqrt(in)).
		bound := 1 / math.Sqrt(float64(c.TextWidth))
		cs.projW = make([]float32, c.VisionWidth*c.TextWidth)
		cs.projB = make([]float32, c.VisionWidth)
		for i := range cs.projW {
			cs.projW[i] = float32((2*rng.Float64() - 1) * bound)
		}
		for i := range cs.projB {
			cs.projB[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	return cs
}

// input is the case's DPTInput with the projection uploaded to r.
func (cs dptCase) input(t testing.TB, r *Runner) DPTInput {
	in := cs.in
	in.ProjW, in.ProjB = upload(t, r, cs.projW), upload(t, r, cs.projB)
	return in
}

// hostOutput is a DPTOutput with its gradients downloaded.
type hostOutput struct {
	loss                float32
	logits              []float32
	dctx, dprojW, dproj []float32
}

func step(t testing.TB, r *Runner, in DPTInput, wantGrad bool) hostOutput {
	t.Helper()
	out, err := r.DPTStep(in, wantGrad)
	if err != nil {
		t.Fatal(err)
	}
	return hostOutput{out.Loss, slices.Clone(out.Logits), download(t, r, out.DCtx), download(t, r, out.DProjW), download(t, r, out.DProjB)}
}

// lossWith evaluates the loss of cs with the context ctx in place of the
// embeddings of cs.in.CtxIDs.
func lossWith(t *testing.T, r *Runner, cs dptCase, ctx []float32) float64 {
	t.Helper()
	in := cs.input(t, r)
	key := stepKey{classes: len(in.ClassTokens), length: textLength(in.ClassTokens), batch: in.Batch, nCtx: in.NCtx, shared: in.ProjW != nil}
	w, err := r.stepWork(key)
	if err != nil {
		t.Fatal(err)
	}
	r.b.Upload(w.ctx, ctx)
	out, err := r.dptStep(w, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	return float64(out.Loss)
}

// checkGrad compares an analytic gradient with central differences of the
// float32 loss, along random directions and along the largest coordinates.
// loss evaluates the loss with x, a copy of which it is given.
func checkGrad(t *testing.T, what string, x, grad []float32, h float64, loss func(x []float32) float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(99, uint64(len(x))))
	// central returns the difference quotient and its rounding noise: a
	// float32 loss moves in steps of its ulp, some of which the passes'
	// own roundings take.
	central := func(dir []float64) (quotient, noise float64) {
		moved := make([]float32, len(x))
		for i := range x {
			moved[i] = x[i] + float32(h*dir[i])
		}
		up := loss(moved)
		for i := range x {
			moved[i] = x[i] - float32(h*dir[i])
		}
		down := loss(moved)
		ulp := math.Max(math.Abs(up), math.Abs(down)) * 0x1p-23
		return (up - down) / (2 * h), 16 * ulp / (2 * h)
	}
	var gradNorm float64
	for _, g := range grad {
		gradNorm += float64(g) * float64(g)
	}
	gradNorm = math.Sqrt(gradNorm)
	if gradNorm == 0 || math.IsNaN(gradNorm) {
		t.Fatalf("%s: gradient norm %g", what, gradNorm)
	}
	check := func(label string, dir []float64) {
		var analytic float64
		for i, d := range dir {
			analytic += d * float64(grad[i])
		}
		numeric, noise := central(dir)
		if diff := math.Abs(analytic - numeric); diff > 5e-3*math.Abs(numeric)+1e-4*gradNorm+noise {
			t.Errorf("%s %s: analytic %.6g, finite difference %.6g", what, label, analytic, numeric)
		}
	}
	for r := range 3 {
		dir := make([]float64, len(x))
		var n float64
		for i := range dir {
			dir[i] = rng.NormFloat64()
			n += dir[i] * dir[i]
		}
		for i := range dir {
			dir[i] /= math.Sqrt(n)
		}
		check("random direction "+strconv.Itoa(r), dir)
	}
	largest := 0
	for i, g := range grad {
		if math.Abs(float64(g)) > math.Abs(float64(grad[largest])) {
			largest = i
		}
	}
	for _, i := range []int{largest, rng.IntN(len(x))} {
		dir := make([]float64, len(x))
		dir[i] = 1
		check("coordinate "+strconv.Itoa(i), dir)
	}
}

func TestDPTStepGradients(t *testing.T) {
	m := NewRandom(tinyConfig, 21)
	r := runner(t, m)
	for _, shared := range []bool{true, false} {
		cs := tinyDPTCase(m, shared)
		out := step(t, r, cs.input(t, r), true)
		if len(out.logits) != 4*3 || math.IsNaN(float64(out.loss)) || out.loss <= 0 {
			t.Fatalf("shared=%v: loss %g, %d logits", shared, out.loss, len(out.logits))
		}
		if noGrad := step(t, r, cs.input(t, r), false); noGrad.loss != out.loss || noGrad.dctx != nil {
			t.Fatalf("shared=%v: wantGrad changed the loss (%g vs %g) or returned gradients", shared, noGrad.loss, out.loss)
		}
		name := map[bool]string{true: "shared", false: "noshared"}[shared]
		ctx, err := r.ContextEmbeddings(cs.in.CtxIDs)
		if err != nil {
			t.Fatal(err)
		}
		checkGrad(t, name+" DCtx", ctx, out.dctx, 1e-3, func(x []float32) float64 { return lossWith(t, r, cs, x) })
		if !shared {
			if out.dprojW != nil || out.dproj != nil {
				t.Fatal("NoShared returned projection gradients")
			}
			continue
		}
		checkGrad(t, "DProjW", cs.projW, out.dprojW, 1e-2, func(x []float32) float64 {
			moved := cs
			moved.projW = x
			return lossWith(t, r, moved, ctx)
		})
		checkGrad(t, "DProjB", cs.projB, out.dproj, 1e-2, func(x []float32) float64 {
			moved := cs
			moved.projB = x
			return lossWith(t, r, moved, ctx)
		})
	}
	// The visual path contributes to DCtx: with the projection the context
	// gradient differs from the text-only one.
	withProj := step(t, r, tinyDPTCase(m, true).input(t, r), true).dctx
	textOnly := step(t, r, tinyDPTCase(m, false).input(t, r), true).dctx
	if reflect.DeepEqual(withProj, textOnly) {
		t.Fatal("the visual prompts contributed nothing to DCtx")
	}
}

func TestDPTLogitsAndLoss(t *testing.T) {
	m := NewRandom(tinyConfig, 22)
	r := runner(t, m)
	cs := tinyDPTCase(m, true)
	out := step(t, r, cs.input(t, r), false)
	// Recompute from the host-side feature functions.
	ctx, err := r.ContextEmbeddings(cs.in.CtxIDs)
	if err != nil {
		t.Fatal(err)
	}
	tw, vw := tinyConfig.TextWidth, tinyConfig.VisionWidth
	prompts := make([]float32, 2*vw)
	for p := range 2 {
		for o := range vw {
			s := float64(cs.projB[o])
			for i := range tw {
				s += float64(ctx[p*tw+i]) * float64(cs.projW[o*tw+i])
			}
			prompts[p*vw+o] = float32(s)
		}
	}
	img := imageFeatures(t, r, cs.in.Images, cs.in.Batch, prompts)
	txt := textFeatures(t, r, cs.in.ClassTokens, ctx, cs.in.NCtx)
	var loss float64
	for b := range cs.in.Batch {
		logits := make([]float64, 3)
		var sum float64
		for k := range 3 {
			for e := range 32 {
				logits[k] += float64(img[b*32+e]) * float64(txt[k*32+e])
			}
			logits[k] *= 100
			if d := math.Abs(logits[k] - float64(out.logits[b*3+k])); d > 1e-3 {
				t.Fatalf("logit [%d,%d] = %g, want %g", b, k, out.logits[b*3+k], logits[k])
			}
			sum += math.Exp(logits[k])
		}
		loss += math.Log(sum) - logits[cs.in.Labels[b]]
	}
	loss /= float64(cs.in.Batch)
	if math.Abs(loss-float64(out.loss)) > 1e-4*(1+loss) {
		t.Fatalf("loss %g, want %g", out.loss, loss)
	}
}

func TestScoresGrad(t *testing.T) {
	m := NewRandom(tinyConfig, 23)
	r := runner(t, m)
	rng := rand.New(rand.NewPCG(4, 4))
	dctx := randSlice(rng, 2*tinyConfig.TextWidth, 1)
	dst := upload(t, r, make([]float32, 2*tinyConfig.VocabSize))
	r.ScoresGrad(dst, upload(t, r, dctx), 2)
	g := download(t, r, dst)
	for _, probe := range [][2]int{{0, 0}, {1, 49}, {0, 17}} {
		i, v := probe[0], probe[1]
		e := m.tokenEmbedding[v*tinyConfig.TextWidth : (v+1)*tinyConfig.TextWidth]
		var want float64
		for j, x := range e {
			want += float64(x) * float64(dctx[i*tinyConfig.TextWidth+j])
		}
		if got := g[i*tinyConfig.VocabSize+v]; math.Abs(float64(got)-want) > 1e-5 {
			t.Fatalf("ScoresGrad[%d,%d] = %g, want %g", i, v, got, want)
		}
	}
}

func TestCheckDPTInput(t *testing.T) {
	m := NewRandom(tinyConfig, 24)
	r := runner(t, m)
	good := tinyDPTCase(m, true).input(t, r)
	if err := m.CheckDPTInput(good); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*DPTInput){
		"label":        func(in *DPTInput) { in.Labels = []int{0, 1, 2, 3} },
		"labels":       func(in *DPTInput) { in.Labels = in.Labels[:3] },
		"image":        func(in *DPTInput) { in.Images = in.Images[:10] },
		"token ids":    func(in *DPTInput) { in.CtxIDs = in.CtxIDs[:1] },
		"slot 1":       func(in *DPTInput) { in.CtxIDs = []int{3, 50} },
		"bias":         func(in *DPTInput) { in.ProjB = nil },
		"end-of-text":  func(in *DPTInput) { in.NCtx = 5; in.CtxIDs = []int{1, 2, 3, 4, 5} },
		"vocabulary":   func(in *DPTInput) { in.ClassTokens = [][]int{{48, 1, 2, 50}} },
		"tokens, want": func(in *DPTInput) { in.ClassTokens = [][]int{make([]int, 17)} },
	}
	for what, harm := range cases {
		in := tinyDPTCase(m, true).input(t, r)
		harm(&in)
		if err := m.CheckDPTInput(in); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("breaking the %s: error %v", what, err)
		}
		if _, err := r.DPTStep(in, true); err == nil {
			t.Errorf("breaking the %s: DPTStep ran", what)
		}
	}
}
