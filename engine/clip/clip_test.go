package clip

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/safetensors"
)

// tinyConfig is small enough for finite differences in milliseconds yet has
// two layers per tower, two text heads, and vision/text widths that differ
// (so a transposed projection cannot go unnoticed).
var tinyConfig = Config{EmbedDim: 32, ImageResolution: 16, PatchSize: 8, VisionWidth: 64, VisionLayers: 2, VisionHeads: 1,
	ContextLength: 16, VocabSize: 50, TextWidth: 128, TextLayers: 2, TextHeads: 2}

// vitB16Shapes writes out the tensor shapes of OpenAI's ViT-B/16 state dict
// literally, independent of Config.Shapes.
func vitB16Shapes() map[string][]int {
	s := map[string][]int{
		"positional_embedding": {77, 512}, "text_projection": {512, 512}, "logit_scale": {},
		"visual.class_embedding": {768}, "visual.positional_embedding": {197, 768}, "visual.proj": {768, 512},
		"visual.conv1.weight": {768, 3, 16, 16}, "visual.ln_pre.weight": {768}, "visual.ln_pre.bias": {768},
		"visual.ln_post.weight": {768}, "visual.ln_post.bias": {768},
		"token_embedding.weight": {49408, 512}, "ln_final.weight": {512}, "ln_final.bias": {512},
		"input_resolution": {}, "context_length": {}, "vocab_size": {},
	}
	for i := range 12 {
		for prefix, w := range map[string]int{"transformer.resblocks.": 512, "visual.transformer.resblocks.": 768} {
			p := prefix + strconv.Itoa(i) + "."
			s[p+"attn.in_proj_weight"] = []int{3 * w, w}
			s[p+"attn.in_proj_bias"] = []int{3 * w}
			s[p+"attn.out_proj.weight"] = []int{w, w}
			s[p+"attn.out_proj.bias"] = []int{w}
			s[p+"ln_1.weight"], s[p+"ln_1.bias"] = []int{w}, []int{w}
			s[p+"ln_2.weight"], s[p+"ln_2.bias"] = []int{w}, []int{w}
			s[p+"mlp.c_fc.weight"], s[p+"mlp.c_fc.bias"] = []int{4 * w, w}, []int{4 * w}
			s[p+"mlp.c_proj.weight"], s[p+"mlp.c_proj.bias"] = []int{w, 4 * w}, []int{w}
		}
	}
	return s
}

func TestConfigFromShapesViTB16(t *testing.T) {
	shapes := vitB16Shapes()
	cfg, err := ConfigFromShapes(shapes)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{EmbedDim: 512, ImageResolution: 224, PatchSize: 16, VisionWidth: 768, VisionLayers: 12, VisionHeads: 12,
		ContextLength: 77, VocabSize: 49408, TextWidth: 512, TextLayers: 12, TextHeads: 8}
	if cfg != want || ViTB16 != want {
		t.Fatalf("inferred %+v (ViTB16 = %+v), want %+v", cfg, ViTB16, want)
	}
	// The expected-tensor list matches the real state dict exactly.
	for name := range ignoredTensors {
		delete(shapes, name)
	}
	if got := want.Shapes(); !reflect.DeepEqual(got, shapes) {
		for n, s := range shapes {
			if !reflect.DeepEqual(got[n], s) {
				t.Errorf("%s: Shapes() gives %v, state dict has %v", n, got[n], s)
			}
		}
		t.Fatalf("Shapes() has %d tensors, the state dict %d", len(got), len(shapes))
	}
}

func TestConfigFromShapesDemo(t *testing.T) {
	cfg := DemoConfig(1000)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := NewRandom(cfg, 1)
	shapes := map[string][]int{}
	for n, tensor := range m.Tensors() {
		shapes[n] = tensor.Shape
	}
	got, err := ConfigFromShapes(shapes)
	if err != nil {
		t.Fatal(err)
	}
	if got != cfg {
		t.Fatalf("inferred %+v, want %+v", got, cfg)
	}
	if cfg.VisionHeads != 2 || cfg.TextHeads != 2 || cfg.Grid() != 4 {
		t.Fatalf("demo config %+v: want 2 heads per tower and a 4×4 patch grid", cfg)
	}
}

func TestConfigErrorsNameTheTensor(t *testing.T) {
	cases := map[string]func(map[string][]int){
		"visual.conv1.weight":         func(s map[string][]int) { s["visual.conv1.weight"] = []int{768, 3, 16} },
		"visual.positional_embedding": func(s map[string][]int) { s["visual.positional_embedding"] = []int{198, 768} },
		"ln_final.weight":             func(s map[string][]int) { delete(s, "ln_final.weight") },
		"transformer.resblocks.x.ln_1.weight": func(s map[string][]int) {
			s["transformer.resblocks.x.ln_1.weight"] = []int{512}
		},
	}
	for name, breakIt := range cases {
		s := vitB16Shapes()
		breakIt(s)
		if _, err := ConfigFromShapes(s); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("breaking %s: error %v does not name it", name, err)
		}
	}
	bad := vitB16Shapes()
	bad["ln_final.weight"] = []int{500} // not a multiple of 64
	if _, err := ConfigFromShapes(bad); err == nil || !strings.Contains(err.Error(), "TextWidth") {
		t.Errorf("width 500: error %v", err)
	}
	if err := (Config{EmbedDim: 8, ImageResolution: 16, PatchSize: 8, VisionWidth: 64, VisionLayers: 1, VisionHeads: 2,
		ContextLength: 4, VocabSize: 5, TextWidth: 64, TextLayers: 1, TextHeads: 1}).Validate(); err == nil || !strings.Contains(err.Error(), "VisionHeads") {
		t.Errorf("2 heads of width 32: error %v", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := NewRandom(tinyConfig, 7)
	dir := t.TempDir()
	if err := m.Save(filepath.Join(dir, WeightsFile)); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Config != tinyConfig {
		t.Fatalf("loaded config %+v, want %+v", loaded.Config, tinyConfig)
	}
	if !reflect.DeepEqual(loaded.Tensors(), m.Tensors()) {
		t.Fatal("tensors differ after Save and Load")
	}
	if l := loaded.LogitScale(); math.Abs(float64(l)-100) > 1e-4 {
		t.Fatalf("logit scale %g, want 100", l)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	images := randSlice(rng, 2*3*16*16, 1)
	if !reflect.DeepEqual(loaded.ImageFeatures(images, 2, nil), m.ImageFeatures(images, 2, nil)) {
		t.Fatal("image features differ after Save and Load")
	}
	// NewRandom is deterministic in its seed.
	if !reflect.DeepEqual(NewRandom(tinyConfig, 7).Tensors(), m.Tensors()) {
		t.Fatal("NewRandom with the same seed gave different weights")
	}
	if reflect.DeepEqual(NewRandom(tinyConfig, 8).Tensors()["visual.proj"], m.Tensors()["visual.proj"]) {
		t.Fatal("NewRandom with another seed gave the same weights")
	}
}

func TestFromTensorsRejectsBadSets(t *testing.T) {
	// A fresh set per case, so that one case's damage does not leak.
	fresh := func() map[string]Tensor { return NewRandom(tinyConfig, 3).Tensors() }
	cases := []struct {
		name  string
		harm  func(map[string]Tensor)
		wants []string
	}{
		{"missing", func(ts map[string]Tensor) { delete(ts, "visual.transformer.resblocks.1.attn.out_proj.bias") },
			[]string{"visual.transformer.resblocks.1.attn.out_proj.bias", "missing"}},
		{"extra", func(ts map[string]Tensor) { ts["visual.bogus"] = Tensor{Shape: []int{1}, Data: []float32{0}} },
			[]string{"visual.bogus"}},
		{"misshaped", func(ts map[string]Tensor) {
			ts["transformer.resblocks.1.mlp.c_fc.bias"] = Tensor{Shape: []int{5}, Data: make([]float32, 5)}
		}, []string{"transformer.resblocks.1.mlp.c_fc.bias", "[5]", "[512]"}},
		{"short data", func(ts map[string]Tensor) {
			ts["ln_final.bias"] = Tensor{Shape: []int{128}, Data: make([]float32, 3)}
		}, []string{"ln_final.bias"}},
		{"gap in blocks", func(ts map[string]Tensor) {
			for n, v := range ts {
				if rest, ok := strings.CutPrefix(n, "transformer.resblocks.1."); ok {
					delete(ts, n)
					ts["transformer.resblocks.2."+rest] = v
				}
			}
		}, []string{"transformer.resblocks."}},
	}
	for _, c := range cases {
		ts := fresh()
		c.harm(ts)
		m, err := FromTensors(ts)
		if err == nil || m != nil {
			t.Errorf("%s: loaded without error", c.name)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	// OpenAI's non-parameter entries are ignored, and logit_scale may be [1].
	ts := fresh()
	ts["input_resolution"] = Tensor{Shape: []int{}, Data: []float32{16}}
	ts["logit_scale"] = Tensor{Shape: []int{1}, Data: []float32{1}}
	if m, err := FromTensors(ts); err != nil || math.Abs(float64(m.LogitScale())-math.E) > 1e-5 {
		t.Fatalf("with input_resolution and a [1] logit_scale: %v", err)
	}
	// Load names the file, and the tensor.
	dir := t.TempDir()
	path := filepath.Join(dir, WeightsFile)
	ts = fresh()
	delete(ts, "ln_final.weight")
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "ln_final.weight") {
		t.Fatalf("loading a file without ln_final.weight: %v", err)
	}
	if err := os.WriteFile(path, []byte("not safetensors"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("loading a corrupt file: %v", err)
	}
}

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
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

func TestTextTruncationMatchesFullLength(t *testing.T) {
	m := NewRandom(tinyConfig, 11)
	rng := rand.New(rand.NewPCG(2, 2))
	nCtx := 2
	ctx := randSlice(rng, nCtx*tinyConfig.TextWidth, 0.02)
	tokens := tinyTokens(nCtx)
	short := m.textForward(tokens, ctx, nCtx, false, false)
	full := m.textForward(tokens, ctx, nCtx, false, true)
	if short.length >= full.length {
		t.Fatalf("truncated length %d, full %d: nothing was truncated", short.length, full.length)
	}
	if !reflect.DeepEqual(short.Features, full.Features) {
		t.Fatalf("truncated features differ from full-length ones:\n%v\n%v", short.Features[:4], full.Features[:4])
	}
	// With activations kept the result is the same too.
	if kept := m.TextForward(tokens, ctx, nCtx); !reflect.DeepEqual(kept.Features, short.Features) {
		t.Fatal("TextForward and the in-place forward disagree")
	}
}

func TestEOTIsArgmax(t *testing.T) {
	if got := EOTIndex([]int{48, 3, 49, 7, 49, 0}); got != 2 {
		t.Fatalf("EOTIndex = %d, want the first maximum, 2", got)
	}
	m := NewRandom(tinyConfig, 12)
	// Tokens after the argmax do not matter (causal mask, feature read at
	// the argmax) ...
	a := m.TextFeatures([][]int{{48, 5, 6, 49}}, nil, 0)
	b := m.TextFeatures([][]int{{48, 5, 6, 49, 7, 8, 0}}, nil, 0)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("tokens after the end-of-text token changed the feature")
	}
	// ... tokens before it do, and it is the largest id, not the last one,
	// that is read: [48 5 49 6] is read at position 2, like [48 5 49].
	c := m.TextFeatures([][]int{{48, 5, 49, 6}}, nil, 0)
	d := m.TextFeatures([][]int{{48, 5, 49}}, nil, 0)
	if !reflect.DeepEqual(c, d) || reflect.DeepEqual(a, c) {
		t.Fatal("the feature is not read at the argmax position")
	}
	// The slots take ctx: putting the embeddings of the slot tokens in ctx
	// reproduces ctx == nil.
	tokens := tinyTokens(2)
	ctx := m.TokenEmbeddings([]int{20, 21})
	if !reflect.DeepEqual(m.TextFeatures(tokens, ctx, 2), m.TextFeatures(tokens, nil, 2)) {
		t.Fatal("ctx equal to the slot embeddings changed the features")
	}
}

func TestImageFeaturesPerImage(t *testing.T) {
	m := NewRandom(tinyConfig, 13)
	rng := rand.New(rand.NewPCG(3, 3))
	px := 3 * 16 * 16
	images := randSlice(rng, 3*px, 1)
	extra := randSlice(rng, 2*tinyConfig.VisionWidth, 0.5)
	for _, e := range [][]float32{nil, extra} {
		all := m.ImageFeatures(images, 3, e)
		for b := range 3 {
			one := m.ImageFeatures(images[b*px:(b+1)*px], 1, e)
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
	if reflect.DeepEqual(m.ImageFeatures(images, 3, nil), m.ImageFeatures(images, 3, extra)) {
		t.Fatal("extra tokens had no effect")
	}
	if !reflect.DeepEqual(m.ImageFeatures(images, 3, nil), m.ImageFeatures(images, 3, []float32{})) {
		t.Fatal("zero extra tokens differ from nil")
	}
}

// dptLoss evaluates the loss of in in float64 for finite differences.
func dptLoss(m *Model, in DPTInput) float64 {
	return float64(m.DPTStep(in, false).Loss)
}

// checkGrad compares an analytic gradient with central differences of the
// float32 loss, along random directions and along the largest coordinates.
func checkGrad(t *testing.T, what string, m *Model, in DPTInput, x, grad []float32, h float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(99, uint64(len(x))))
	central := func(dir []float64) float64 {
		orig := append([]float32(nil), x...)
		for i := range x {
			x[i] = orig[i] + float32(h*dir[i])
		}
		up := dptLoss(m, in)
		for i := range x {
			x[i] = orig[i] - float32(h*dir[i])
		}
		down := dptLoss(m, in)
		copy(x, orig)
		return (up - down) / (2 * h)
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
		numeric := central(dir)
		if diff := math.Abs(analytic - numeric); diff > 5e-3*math.Abs(numeric)+1e-4*gradNorm {
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

func tinyDPTInput(m *Model, shared bool) DPTInput {
	rng := rand.New(rand.NewPCG(5, 5))
	c := m.Config
	nCtx := 2
	in := DPTInput{
		ClassTokens: tinyTokens(nCtx),
		NCtx:        nCtx,
		Ctx:         m.TokenEmbeddings([]int{31, 17}),
		Images:      randSlice(rng, 4*3*16*16, 1),
		Batch:       4,
		Labels:      []int{2, 0, 1, 2},
	}
	if shared {
		// Like PyTorch's default Linear init: U(±1/sqrt(in)).
		bound := 1 / math.Sqrt(float64(c.TextWidth))
		in.ProjW = make([]float32, c.VisionWidth*c.TextWidth)
		in.ProjB = make([]float32, c.VisionWidth)
		for i := range in.ProjW {
			in.ProjW[i] = float32((2*rng.Float64() - 1) * bound)
		}
		for i := range in.ProjB {
			in.ProjB[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	return in
}

func TestDPTStepGradients(t *testing.T) {
	m := NewRandom(tinyConfig, 21)
	for _, shared := range []bool{true, false} {
		in := tinyDPTInput(m, shared)
		out := m.DPTStep(in, true)
		if len(out.Logits) != 4*3 || math.IsNaN(float64(out.Loss)) || out.Loss <= 0 {
			t.Fatalf("shared=%v: loss %g, %d logits", shared, out.Loss, len(out.Logits))
		}
		if noGrad := m.DPTStep(in, false); noGrad.Loss != out.Loss || noGrad.DCtx != nil {
			t.Fatalf("shared=%v: wantGrad changed the loss (%g vs %g) or returned gradients", shared, noGrad.Loss, out.Loss)
		}
		name := map[bool]string{true: "shared", false: "noshared"}[shared]
		checkGrad(t, name+" DCtx", m, in, in.Ctx, out.DCtx, 1e-3)
		if !shared {
			if out.DProjW != nil || out.DProjB != nil {
				t.Fatal("NoShared returned projection gradients")
			}
			continue
		}
		checkGrad(t, "DProjW", m, in, in.ProjW, out.DProjW, 1e-2)
		checkGrad(t, "DProjB", m, in, in.ProjB, out.DProjB, 1e-2)
	}
	// The visual path contributes to DCtx: with the projection the context
	// gradient differs from the text-only one.
	withProj := m.DPTStep(tinyDPTInput(m, true), true).DCtx
	textOnly := m.DPTStep(tinyDPTInput(m, false), true).DCtx
	if reflect.DeepEqual(withProj, textOnly) {
		t.Fatal("the visual prompts contributed nothing to DCtx")
	}
}

func TestDPTLogitsAndLoss(t *testing.T) {
	m := NewRandom(tinyConfig, 22)
	in := tinyDPTInput(m, true)
	out := m.DPTStep(in, false)
	// Recompute from the public feature functions.
	prompts := make([]float32, 2*tinyConfig.VisionWidth)
	for p := range 2 {
		for o := range tinyConfig.VisionWidth {
			s := float64(in.ProjB[o])
			for i := range tinyConfig.TextWidth {
				s += float64(in.Ctx[p*tinyConfig.TextWidth+i]) * float64(in.ProjW[o*tinyConfig.TextWidth+i])
			}
			prompts[p*tinyConfig.VisionWidth+o] = float32(s)
		}
	}
	img := m.ImageFeatures(in.Images, in.Batch, prompts)
	txt := m.TextFeatures(in.ClassTokens, in.Ctx, in.NCtx)
	var loss float64
	for b := range in.Batch {
		logits := make([]float64, 3)
		var sum float64
		for k := range 3 {
			for e := range 32 {
				logits[k] += float64(img[b*32+e]) * float64(txt[k*32+e])
			}
			logits[k] *= 100
			if d := math.Abs(logits[k] - float64(out.Logits[b*3+k])); d > 1e-3 {
				t.Fatalf("logit [%d,%d] = %g, want %g", b, k, out.Logits[b*3+k], logits[k])
			}
			sum += math.Exp(logits[k])
		}
		loss += math.Log(sum) - logits[in.Labels[b]]
	}
	loss /= float64(in.Batch)
	if math.Abs(loss-float64(out.Loss)) > 1e-4*(1+loss) {
		t.Fatalf("loss %g, want %g", out.Loss, loss)
	}
}

func TestScoresGrad(t *testing.T) {
	m := NewRandom(tinyConfig, 23)
	rng := rand.New(rand.NewPCG(4, 4))
	dctx := randSlice(rng, 2*tinyConfig.TextWidth, 1)
	g := m.ScoresGrad(dctx, 2)
	for _, probe := range [][2]int{{0, 0}, {1, 49}, {0, 17}} {
		i, v := probe[0], probe[1]
		e := m.TokenEmbeddings([]int{v})
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
	good := tinyDPTInput(m, true)
	if err := m.CheckDPTInput(good); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*DPTInput){
		"label":        func(in *DPTInput) { in.Labels = []int{0, 1, 2, 3} },
		"labels":       func(in *DPTInput) { in.Labels = in.Labels[:3] },
		"image":        func(in *DPTInput) { in.Images = in.Images[:10] },
		"context":      func(in *DPTInput) { in.Ctx = in.Ctx[:5] },
		"bias":         func(in *DPTInput) { in.ProjB = nil },
		"end-of-text":  func(in *DPTInput) { in.NCtx = 5; in.Ctx = make([]float32, 5*128) },
		"vocabulary":   func(in *DPTInput) { in.ClassTokens = [][]int{{48, 1, 2, 50}} },
		"tokens, want": func(in *DPTInput) { in.ClassTokens = [][]int{make([]int, 17)} },
	}
	for what, harm := range cases {
		in := tinyDPTInput(m, true)
		harm(&in)
		if err := m.CheckDPTInput(in); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("breaking the %s: error %v", what, err)
		}
	}
}

// observedStream is one call of an Observer, with the residual copied.
type observedStream struct {
	tower                string
	depth                int
	batch, length, width int
	residual             []float32
}

func recordStreams(m *Model) (*Model, *[]observedStream) {
	var got []observedStream
	o := *m
	o.Observe = func(tower string, depth int, residual []float32, batch, length, width int) {
		got = append(got, observedStream{tower, depth, batch, length, width, slices.Clone(residual)})
	}
	return &o, &got
}

func TestObserverSeesEveryBlock(t *testing.T) {
	m := NewRandom(tinyConfig, 14)
	c := tinyConfig
	rng := rand.New(rand.NewPCG(4, 4))
	nCtx := 2
	ctx := randSlice(rng, nCtx*c.TextWidth, 0.02)
	tokens := tinyTokens(nCtx)
	length := 0
	for _, seq := range tokens {
		length = max(length, EOTIndex(seq)+1)
	}
	images := randSlice(rng, 2*3*16*16, 1)
	extra := randSlice(rng, 3*c.VisionWidth, 0.5)
	visionLength := 1 + c.Grid()*c.Grid() + 3

	check := func(what string, got []observedStream, tower string, layers, batch, length, width int) {
		t.Helper()
		if len(got) != layers+1 {
			t.Fatalf("%s: %d observer calls, want %d (entering block 0 and after each of %d blocks)", what, len(got), layers+1, layers)
		}
		for k, s := range got {
			if s.tower != tower || s.depth != k || s.batch != batch || s.length != length || s.width != width || len(s.residual) != batch*length*width {
				t.Fatalf("%s: call %d is %s depth %d, %d×%d×%d with %d values; want %s depth %d, %d×%d×%d",
					what, k, s.tower, s.depth, s.batch, s.length, s.width, len(s.residual), tower, k, batch, length, width)
			}
		}
		for k := 1; k < len(got); k++ {
			if reflect.DeepEqual(got[k].residual, got[k-1].residual) {
				t.Fatalf("%s: the stream at depth %d equals the one at depth %d: a block was not applied", what, k, k-1)
			}
		}
	}

	// The pass that keeps activations and the in-place inference pass must
	// report the same streams: in place, the buffer is observed after each
	// block has overwritten it.
	o, got := recordStreams(m)
	kept := o.TextForward(tokens, ctx, nCtx)
	check("TextForward", *got, TextTower, c.TextLayers, len(tokens), length, c.TextWidth)
	textStreams := *got
	*got = nil
	o.TextFeatures(tokens, ctx, nCtx)
	check("TextFeatures", *got, TextTower, c.TextLayers, len(tokens), length, c.TextWidth)
	if !reflect.DeepEqual(*got, textStreams) {
		t.Fatal("TextFeatures (in place) observed other streams than TextForward")
	}
	// Depth 0 is the embedded prompt: ctx in slot 1, positional embedding
	// added. The last depth feeds ln_final at the EOT rows.
	w := c.TextWidth
	for j := range w {
		if want := ctx[j] + m.positionalEmbedding[w+j]; textStreams[0].residual[w+j] != want {
			t.Fatalf("text depth 0, class 0, position 1 [%d] = %v, want ctx + positional embedding %v", j, textStreams[0].residual[w+j], want)
		}
	}
	last := textStreams[c.TextLayers].residual
	for i, e := range kept.eot {
		if !slices.Equal(last[(i*length+e)*w:(i*length+e+1)*w], kept.lnIn[i*w:(i+1)*w]) {
			t.Fatalf("class %d: the last observed text stream at EOT %d is not ln_final's input", i, e)
		}
	}

	*got = nil
	vkept := o.VisionForward(images, 2, extra)
	check("VisionForward", *got, VisionTower, c.VisionLayers, 2, visionLength, c.VisionWidth)
	visionStreams := *got
	*got = nil
	o.ImageFeatures(images, 2, extra)
	if !reflect.DeepEqual(*got, visionStreams) {
		t.Fatal("ImageFeatures (in place) observed other streams than VisionForward")
	}
	vw := c.VisionWidth
	for b := range 2 {
		row := visionStreams[c.VisionLayers].residual[b*visionLength*vw : (b*visionLength+1)*vw]
		if !slices.Equal(row, vkept.postIn[b*vw:(b+1)*vw]) {
			t.Fatalf("image %d: the last observed vision stream's class token is not ln_post's input", b)
		}
	}

	// DPTStep runs both towers, text first.
	*got = nil
	in := tinyDPTInput(m, true)
	o.DPTStep(in, false)
	if n := len(*got); n != c.TextLayers+c.VisionLayers+2 || (*got)[0].tower != TextTower || (*got)[n-1].tower != VisionTower {
		t.Fatalf("DPTStep: %d observer calls, want %d, text then vision", n, c.TextLayers+c.VisionLayers+2)
	}

	// The observer was set on a copy: the original model reports nothing.
	*got = nil
	m.TextFeatures(tokens, ctx, nCtx)
	m.ImageFeatures(images, 2, extra)
	if m.Observe != nil || len(*got) != 0 {
		t.Fatal("setting Observe on a copy changed the original model")
	}
}
