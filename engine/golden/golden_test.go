package golden

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/dpt"
	"github.com/fomo-grid/grid/engine/safetensors"
	"github.com/fomo-grid/grid/engine/tokenizer"
	"github.com/fomo-grid/grid/engine/trainer"
	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/internal/testvocab"
)

// fixtures is where engine/reference/dpt_reference.py writes, relative to
// this package.
const fixtures = "../reference/fixtures"

var (
	modelDir = filepath.Join(fixtures, "model")

	loadModel = sync.OnceValues(func() (*clip.Model, error) { return clip.Load(modelDir) })
	loadSmall = sync.OnceValues(func() (*tokenizer.Tokenizer, error) {
		return tokenizer.Load(filepath.Join(modelDir, "bpe_vocab.txt.gz"))
	})
	loadReal = sync.OnceValues(func() (*tokenizer.Tokenizer, error) {
		path, looked := testvocab.Find()
		if path == "" {
			return nil, fmt.Errorf("%s not found in %v", testvocab.FileName, looked)
		}
		return tokenizer.Load(path)
	})
)

func model(t *testing.T) *clip.Model {
	t.Helper()
	m, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func smallTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := loadSmall()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// realTokenizer is OpenAI's vocabulary, wherever the user or CI keeps it
// (internal/testvocab: CI has it in ../shared/clip; it is never committed).
// Without it the test is skipped, saying how to get it (failed under CI).
func realTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	testvocab.Path(t)
	tok, err := loadReal()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// tensorFile is a fixture's tensors with lookups that fail the test by name.
type tensorFile struct {
	t    *testing.T
	name string
	m    map[string]safetensors.Tensor
}

func readTensors(t *testing.T, name string) tensorFile {
	t.Helper()
	m, _, err := safetensors.Read(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return tensorFile{t, name, m}
}

func (f tensorFile) get(key string) []float32 {
	f.t.Helper()
	x, ok := f.m[key]
	if !ok {
		f.t.Fatalf("%s: no tensor %q", f.name, key)
	}
	return x.Data
}

func (f tensorFile) has(key string) bool { _, ok := f.m[key]; return ok }

func (f tensorFile) tensor(key string) safetensors.Tensor {
	f.t.Helper()
	x, ok := f.m[key]
	if !ok {
		f.t.Fatalf("%s: no tensor %q", f.name, key)
	}
	return x
}

// Tolerances, as a bound on max|got-want| / max|want| over a tensor.
// float32 has a 6e-8 unit roundoff; the Go engine sums in a different order
// than PyTorch's kernels, and the errors grow through layers, softmax and the
// backward pass. Every bound is far below what a wrong formula produces (a
// dropped bias, a transposed weight, a missing scale give errors of order 1).
const (
	exact       = 0.0
	tolForward  = 2e-5 // features, logits, visual prompts
	tolBackward = 1e-4 // gradients through both towers
	tolUpdate   = 1e-4 // SGD updates (param after - param before)
	tolJPEG     = 5e-2 // logits from Go's JPEG decoder vs PIL's (a few levels per pixel)
)

// compare logs the max absolute and max relative error of got against want
// (relative per element, with |want| floored at 1e-3·max|want| so that
// near-zero elements do not dominate) and fails when
// max|got-want| > tol·max|want| (tol 0: bit-identical).
func compare(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, reference has %d", name, len(got), len(want))
		return
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	floor := math.Max(1e-3*scale, math.SmallestNonzeroFloat32)
	var maxAbs, maxRel float64
	worst := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > maxAbs {
			maxAbs, worst = d, i
		}
		maxRel = math.Max(maxRel, d/math.Max(math.Abs(float64(want[i])), floor))
	}
	t.Logf("%-38s n=%-6d max|ref| %-9.3g max abs %-9.3g max rel %-9.3g", name, len(want), scale, maxAbs, maxRel)
	tol = withReducedPrecision(tol)
	if tol == exact && maxAbs != 0 || maxAbs > tol*scale {
		t.Errorf("%s: max abs error %.3g at [%d] (got %v, reference %v) exceeds %.0e·max|ref| = %.3g",
			name, maxAbs, worst, got[worst], want[worst], tol, tol*scale)
	}
}

func compareScalar(t *testing.T, name string, got, want float64, tol float64) {
	t.Helper()
	compare(t, name, []float32{float32(got)}, []float32{float32(want)}, tol)
}

// --- Model and prompts.

func TestModelAndTokenizerLoad(t *testing.T) {
	m, tok := model(t), smallTokenizer(t)
	want := clip.Config{EmbedDim: 32, ImageResolution: 32, PatchSize: 8, VisionWidth: 128, VisionLayers: 2, VisionHeads: 2,
		ContextLength: 77, VocabSize: 914, TextWidth: 64, TextLayers: 2, TextHeads: 1}
	if m.Config != want {
		t.Fatalf("config %+v, want %+v", m.Config, want)
	}
	if tok.VocabSize() != 914 || tok.SOT() != 912 || tok.EOT() != 913 {
		t.Fatalf("small tokenizer: %d tokens, SOT %d, EOT %d; want 914, 912, 913", tok.VocabSize(), tok.SOT(), tok.EOT())
	}
	// The logit scale is CLIP's initial 1/0.07 (rounded through fp16), not
	// the pretrained 100.
	var fx forwardFixture
	readJSON(t, "forward.json", &fx)
	compareScalar(t, "exp(logit_scale)", float64(m.LogitScale()), fx.LogitScaleExp, 1e-6)
	if math.Abs(fx.LogitScaleExp-1/0.07) > 0.05 {
		t.Errorf("reference logit scale %v, want about 1/0.07", fx.LogitScaleExp)
	}
}

type forwardCase struct {
	NCtx     int      `json:"n_ctx"`
	Variant  string   `json:"variant"`
	Selected []int    `json:"selected"`
	Trace    []string `json:"trace"`
	Decoded  string   `json:"decoded"`
}

type forwardFixture struct {
	LogitScaleExp float64                `json:"logit_scale_exp"`
	Classes       []string               `json:"classes"`
	Prompts       []string               `json:"prompts"`
	Tokens        [][]int                `json:"tokens"`
	Labels        []int                  `json:"labels"`
	Cases         map[string]forwardCase `json:"cases"`
}

func TestPromptTokens(t *testing.T) {
	var fx forwardFixture
	readJSON(t, "forward.json", &fx)
	tok := smallTokenizer(t)
	for i, class := range fx.Classes {
		text := trainer.ContextInit + " " + data.PromptName(class) + "."
		if text != fx.Prompts[i] {
			t.Errorf("class %q: prompt %q, reference %q", class, text, fx.Prompts[i])
		}
		ids, err := tok.Tokenize(text, model(t).Config.ContextLength)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, fx.Tokens[i]) {
			t.Errorf("%q: tokens %v, reference %v", text, ids, fx.Tokens[i])
		}
	}
}

// --- The DPT forward and backward pass.

// truncated is the model with only the first textBlocks / visionBlocks
// blocks of each tower: its features are the reference's per-layer streams
// put through ln_final/ln_post and the projections.
func truncated(t *testing.T, m *clip.Model, textBlocks, visionBlocks int) *clip.Model {
	t.Helper()
	keep := map[string]clip.Tensor{}
	for name, x := range m.Tensors() {
		if i, ok := blockIndex(name, "transformer.resblocks."); ok && i >= textBlocks {
			continue
		}
		if i, ok := blockIndex(name, "visual.transformer.resblocks."); ok && i >= visionBlocks {
			continue
		}
		keep[name] = x
	}
	out, err := clip.FromTensors(keep)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func blockIndex(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	idx, _, _ := strings.Cut(rest, ".")
	i, err := strconv.Atoi(idx)
	return i, err == nil
}

func TestForward(t *testing.T) {
	var fx forwardFixture
	readJSON(t, "forward.json", &fx)
	ts := readTensors(t, "forward.safetensors")
	forEachBackendAndFP16(t, func(t *testing.T, b backend.Backend) {
		r := runnerOn(t, model(t), b)
		compare(t, "image_features_plain", imageFeatures(t, r, ts.get("images"), len(fx.Labels), nil).Raw, ts.get("image_features_plain"), tolForward)
		names := make([]string, 0, len(fx.Cases))
		for name := range fx.Cases {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			t.Run(name, func(t *testing.T) { checkForwardCase(t, r, fx, ts, name) })
		}
	})
}

// checkForwardCase checks one case of forward.json: Algorithm 1, the
// context, both towers' features, the visual prompts, the DPT step and its
// gradients, and the features of the towers cut after each block.
func checkForwardCase(t *testing.T, r *clip.Runner, fx forwardFixture, ts tensorFile, name string) {
	m, tok, cs, p := r.Model(), smallTokenizer(t), fx.Cases[name], name+"/"
	images, batch := ts.get("images"), len(fx.Labels)
	v, ok := engine.ParseVariant(study.Variant(cs.Variant))
	if !ok {
		t.Fatalf("unknown variant %q", cs.Variant)
	}
	var trace []string
	ids, err := dpt.Select(ts.get(p+"scores"), cs.NCtx, m.Config.VocabSize, tok, v, func(s string) { trace = append(trace, s) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, cs.Selected) || !slices.Equal(trace, cs.Trace) {
		t.Fatalf("Algorithm 1: ids %v trace %q; reference ids %v trace %q", ids, trace, cs.Selected, cs.Trace)
	}
	if got := tok.Decode(ids); got != cs.Decoded {
		t.Errorf("decoded %q, reference %q", got, cs.Decoded)
	}
	ctx, err := r.ContextEmbeddings(ids)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, p+"ctx", ctx, ts.get(p+"ctx"), exact)
	text := textFeatures(t, r, fx.Tokens, ctx, cs.NCtx)
	compare(t, p+"text_features", text.Raw, ts.get(p+"text_features"), tolForward)
	compare(t, p+"text_features_norm", text.Normalized, ts.get(p+"text_features_norm"), tolForward)

	in := clip.DPTInput{ClassTokens: fx.Tokens, NCtx: cs.NCtx, CtxIDs: ids, Images: images, Batch: batch, Labels: fx.Labels}
	var prompts []float32
	if !v.NoShared {
		prompts = visualPrompts(t, r, ids, ts.get("proj_w"), ts.get("proj_b"))
		compare(t, p+"visual_prompts", prompts, ts.get(p+"visual_prompts"), tolForward)
		in.ProjW, in.ProjB = upload(t, r.Backend(), ts.get("proj_w")), upload(t, r.Backend(), ts.get("proj_b"))
	}
	img := imageFeatures(t, r, images, batch, prompts)
	compare(t, p+"image_features", img.Raw, ts.get(p+"image_features"), tolForward)
	compare(t, p+"image_features_norm", img.Normalized, ts.get(p+"image_features_norm"), tolForward)

	out := dptStep(t, r, in)
	compare(t, p+"logits", out.logits, ts.get(p+"logits"), tolForward)
	compare(t, p+"loss", []float32{out.loss}, ts.get(p+"loss"), tolForward)
	compare(t, p+"grad_ctx", out.dctx, ts.get(p+"grad_ctx"), tolBackward)
	compare(t, p+"grad_scores", out.gradScores, ts.get(p+"grad_scores"), tolBackward)
	if v.NoShared {
		if out.dprojW != nil || ts.has(p+"grad_proj_w") {
			t.Errorf("NoShared: the projection got a gradient (Go %v, reference %v); it must get none",
				out.dprojW != nil, ts.has(p+"grad_proj_w"))
		}
	} else {
		compare(t, p+"grad_proj_w", out.dprojW, ts.get(p+"grad_proj_w"), tolBackward)
		compare(t, p+"grad_proj_b", out.dprojB, ts.get(p+"grad_proj_b"), tolBackward)
	}
	without, err := r.DPTStep(in, false)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, p+"loss (no grad pass)", []float32{without.Loss}, ts.get(p+"loss"), tolForward)

	// Per-layer: the towers cut after block k.
	c := m.Config
	for k := 1; ts.has(fmt.Sprintf("%stext_features_depth%d", p, k)); k++ {
		cut := runnerOn(t, truncated(t, m, k, c.VisionLayers), r.Backend())
		compare(t, fmt.Sprintf("%stext_features_depth%d", p, k), textFeatures(t, cut, fx.Tokens, ctx, cs.NCtx).Raw,
			ts.get(fmt.Sprintf("%stext_features_depth%d", p, k)), tolForward)
	}
	for k := 1; ts.has(fmt.Sprintf("%simage_features_depth%d", p, k)); k++ {
		cut := runnerOn(t, truncated(t, m, c.TextLayers, k), r.Backend())
		compare(t, fmt.Sprintf("%simage_features_depth%d", p, k), imageFeatures(t, cut, images, batch, prompts).Raw,
			ts.get(fmt.Sprintf("%simage_features_depth%d", p, k)), tolForward)
	}
}

// streamCase is the forward.json case whose residual streams the reference
// stores (nctx2/text_stream{k}, nctx2/vision_stream{k}).
const streamCase = "nctx2"

// TestResidualStreams compares each tower's residual stream entering block 0
// and after every block, as clip.Model.Observe reports it, with the
// reference's, so that a mismatch points at the block that causes it. Both
// sides are [batch, positions, width], batch first. The reference cuts the
// text rows after the last EOT, which is also where the Go text pass stops
// (the mask is causal and the feature is read at EOT); only the positions Go
// computes are compared.
func TestResidualStreams(t *testing.T) {
	var fx forwardFixture
	readJSON(t, "forward.json", &fx)
	ts := readTensors(t, "forward.safetensors")
	cs, ok := fx.Cases[streamCase]
	if !ok {
		t.Fatalf("forward.json has no case %q", streamCase)
	}
	v, ok := engine.ParseVariant(study.Variant(cs.Variant))
	if !ok || v.NoShared {
		t.Fatalf("case %q: variant %q, want one with visual prompts", streamCase, cs.Variant)
	}
	forEachBackendAndFP16(t, func(t *testing.T, b backend.Backend) {
		streams := map[string][]observedStream{}
		observed := *model(t) // a copy: the shared model stays unobserved
		observed.Observe = func(tower string, depth int, residual []float32, batch, length, width int) {
			streams[tower] = append(streams[tower], observedStream{depth, batch, length, width, residual})
		}
		r := runnerOn(t, &observed, b)
		// The selection itself is TestForward's concern: use the reference's.
		ctx, err := r.ContextEmbeddings(cs.Selected)
		if err != nil {
			t.Fatal(err)
		}
		textFeatures(t, r, fx.Tokens, ctx, cs.NCtx)
		imageFeatures(t, r, ts.get("images"), len(fx.Labels), visualPrompts(t, r, cs.Selected, ts.get("proj_w"), ts.get("proj_b")))
		compareStreams(t, streams, ts, observed.Config)
	})
}

// observedStream is one call of the model's Observer.
type observedStream struct {
	depth, batch, length, width int
	residual                    []float32
}

// compareStreams compares the observed streams of both towers with the
// reference's, block by block.
func compareStreams(t *testing.T, streams map[string][]observedStream, ts tensorFile, c clip.Config) {
	for _, tower := range []struct {
		name, key string
		layers    int
	}{{clip.TextTower, "text_stream", c.TextLayers}, {clip.VisionTower, "vision_stream", c.VisionLayers}} {
		got := streams[tower.name]
		if len(got) != tower.layers+1 {
			t.Fatalf("%s tower: %d observed streams, want %d (entering block 0 and after each block)", tower.name, len(got), tower.layers+1)
		}
		for k, s := range got {
			key := fmt.Sprintf("%s/%s%d", streamCase, tower.key, k)
			if s.depth != k {
				t.Fatalf("%s tower: stream %d observed at depth %d", tower.name, k, s.depth)
			}
			ref := ts.tensor(key)
			if len(ref.Shape) != 3 || ref.Shape[0] != s.batch || ref.Shape[2] != s.width || ref.Shape[1] < s.length {
				t.Fatalf("%s: reference shape %v, want [%d, ≥%d, %d] ([batch, positions, width])", key, ref.Shape, s.batch, s.length, s.width)
			}
			if tower.name == clip.VisionTower && ref.Shape[1] != s.length {
				t.Fatalf("%s: reference has %d positions, Go %d", key, ref.Shape[1], s.length)
			}
			// The reference's first s.length positions of each sequence.
			want := make([]float32, 0, len(s.residual))
			for b := range s.batch {
				row := b * ref.Shape[1] * s.width
				want = append(want, ref.Data[row:row+s.length*s.width]...)
			}
			compare(t, key, s.residual, want, tolForward)
		}
		if key := fmt.Sprintf("%s/%s%d", streamCase, tower.key, len(got)); ts.has(key) {
			t.Errorf("forward.safetensors has %s, but the Go %s tower has only %d blocks", key, tower.name, tower.layers)
		}
	}
}

// --- Two SGD steps, wired as trainer.Train wires them.

type sgdFixture struct {
	NCtx         int       `json:"n_ctx"`
	Tokens       [][]int   `json:"tokens"`
	Epochs       int       `json:"epochs"`
	LR           float64   `json:"lr"`
	WarmupLR     float64   `json:"warmup_lr"`
	WarmupEpochs int       `json:"warmup_epochs"`
	Momentum     float64   `json:"momentum"`
	WeightDecay  float64   `json:"weight_decay"`
	LRs          []float64 `json:"lrs"`
	Steps        []struct {
		Epoch    int     `json:"epoch"`
		LR       float64 `json:"lr"`
		Labels   []int   `json:"labels"`
		Selected []int   `json:"selected"`
		Loss     float64 `json:"loss"`
	} `json:"steps"`
}

func TestSGDSteps(t *testing.T) {
	var fx sgdFixture
	readJSON(t, "sgd.json", &fx)
	ts := readTensors(t, "sgd.safetensors")
	for e, want := range fx.LRs {
		got := dpt.LR(e, fx.Epochs, fx.LR, fx.WarmupLR, fx.WarmupEpochs)
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("LR(epoch %d of %d) = %.17g, torch's scheduler gives %.17g", e, fx.Epochs, got, want)
		}
	}
	forEachBackend(t, func(t *testing.T, b backend.Backend) { checkSGDSteps(t, runnerOn(t, model(t), b), fx, ts) })
}

// checkSGDSteps runs the fixture's steps on r: selection from the scores,
// the DPT step, the score gradient and the optimiser, all on r's backend.
func checkSGDSteps(t *testing.T, r *clip.Runner, fx sgdFixture, ts tensorFile) {
	b, tok := r.Backend(), smallTokenizer(t)
	params := []dpt.Param{
		{Name: "scores", Value: upload(t, b, ts.get("scores0"))},
		{Name: "proj.weight", Value: upload(t, b, ts.get("proj_w0"))},
		{Name: "proj.bias", Value: upload(t, b, ts.get("proj_b0"))},
	}
	gradScores := upload(t, b, make([]float32, params[0].Value.Len()))
	opt := dpt.NewSGD(b, fx.Momentum, fx.WeightDecay)
	for i, st := range fx.Steps {
		step := strconv.Itoa(i + 1)
		before := [][]float32{download(t, b, params[0].Value), download(t, b, params[1].Value), download(t, b, params[2].Value)}
		ids, err := dpt.Select(before[0], fx.NCtx, r.Model().Config.VocabSize, tok, engine.Variant{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, st.Selected) {
			t.Fatalf("step %s: selected %v, reference %v", step, ids, st.Selected)
		}
		out, err := r.DPTStep(clip.DPTInput{ClassTokens: fx.Tokens, NCtx: fx.NCtx, CtxIDs: ids, ProjW: params[1].Value, ProjB: params[2].Value,
			Images: ts.get("images" + step), Batch: len(st.Labels), Labels: st.Labels}, true)
		if err != nil {
			t.Fatal(err)
		}
		compareScalar(t, "step"+step+"/loss", float64(out.Loss), st.Loss, tolForward)
		r.ScoresGrad(gradScores, out.DCtx, fx.NCtx)
		compare(t, "step"+step+"/grad_scores", download(t, b, gradScores), ts.get("grad_scores"+step), tolBackward)
		params[0].Grad, params[1].Grad, params[2].Grad = gradScores, out.DProjW, out.DProjB
		if err := opt.Step(dpt.LR(st.Epoch, fx.Epochs, fx.LR, fx.WarmupLR, fx.WarmupEpochs), params); err != nil {
			t.Fatal(err)
		}
		for j, name := range []string{"scores", "proj_w", "proj_b"} {
			refAfter, refBefore := ts.get(name+step), ts.get(name+strconv.Itoa(i))
			compareUpdate(t, "step"+step+"/"+name, before[j], download(t, b, params[j].Value), refBefore, refAfter)
		}
	}
}

// compareUpdate checks one SGD step. The update lr·(g + wd·p + momentum) is
// small against the parameter (for proj.weight about 1e-6 against 0.1, a
// hundred float32 spacings of the value), so the check is on the parameter
// after the step, per element: within 2 float32 spacings of the reference
// value (torch fuses p − lr·g into one FMA, Go rounds twice; the gradients
// differ by rounding) plus tolUpdate of the largest reference update. A
// missing weight decay term alone is some 30 spacings on proj.weight.
func compareUpdate(t *testing.T, name string, before, after, refBefore, refAfter []float32) {
	t.Helper()
	var maxUpdate, maxAbs, maxUpdateErr float64
	for i := range refAfter {
		maxUpdate = math.Max(maxUpdate, math.Abs(float64(refAfter[i])-float64(refBefore[i])))
	}
	worst, bad := 0, false
	for i := range refAfter {
		d := math.Abs(float64(after[i]) - float64(refAfter[i]))
		spacing := float64(math.Nextafter32(float32(math.Abs(float64(refAfter[i]))), float32(math.Inf(1)))) - math.Abs(float64(refAfter[i]))
		upd := math.Abs((float64(after[i]) - float64(before[i])) - (float64(refAfter[i]) - float64(refBefore[i])))
		if d > maxAbs || math.IsNaN(d) {
			maxAbs, worst = d, i
		}
		maxUpdateErr = math.Max(maxUpdateErr, upd)
		if !(d <= 2*spacing+tolUpdate*maxUpdate) {
			bad = true
		}
	}
	t.Logf("%-38s n=%-6d max|update| %-9.3g max abs %-9.3g max update error %.3g of max|update|",
		name, len(refAfter), maxUpdate, maxAbs, maxUpdateErr/maxUpdate)
	if bad {
		t.Errorf("%s: after the SGD step [%d] is %v, reference %v (before: Go %v, reference %v)",
			name, worst, after[worst], refAfter[worst], before[worst], refBefore[worst])
	}
}

// --- Algorithm 1 on seeded score matrices.

type selectOutcome struct {
	IDs         []int    `json:"ids"`
	Error       string   `json:"error"`
	TraceLines  int      `json:"trace_lines"`
	TraceHead   []string `json:"trace_head"`
	TraceSHA256 string   `json:"trace_sha256"`
	// Stats counts the reference's steps (special_bumps,
	// single_bump_fixes, fallback_bumps); QuirkMatters says whether reading
	// the ranked tokens' scores in step 6, instead of the rank-indexed
	// columns, would have selected differently. Both only report coverage.
	Stats        map[string]int `json:"stats"`
	QuirkMatters bool           `json:"quirk_matters"`
}

type selectCase struct {
	Kind      string        `json:"kind"`
	Vocab     string        `json:"vocab"`
	Seed      uint64        `json:"seed"`
	NCtx      int           `json:"n_ctx"`
	ScaleExp  int           `json:"scale_exp"`
	Overrides [][3]float64  `json:"overrides"`
	Full      selectOutcome `json:"full"`
	NoSelect  selectOutcome `json:"noselect"`
	NoFilter  selectOutcome `json:"nofilter"`
}

// seededMatrix rebuilds the reference's score matrix (seeded_matrix in
// dpt_reference.py): row r reads the splitmix64 stream starting at state
// seed*8+r; the top 24 bits k of each output give (k-2^23)·2^(scaleExp-23),
// skipping a k already used in the row; then the overrides are applied.
func seededMatrix(seed uint64, nCtx, vocab, scaleExp int, overrides [][3]float64) []float32 {
	out := make([]float32, nCtx*vocab)
	for r := range nCtx {
		state := seed*8 + uint64(r)
		seen := make(map[uint64]bool, vocab)
		row := out[r*vocab : (r+1)*vocab]
		for c := 0; c < vocab; {
			state += 0x9E3779B97F4A7C15
			z := state
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			z ^= z >> 31
			k := z >> 40
			if seen[k] {
				continue
			}
			seen[k] = true
			row[c] = float32(math.Ldexp(float64(int64(k)-1<<23), scaleExp-23))
			c++
		}
	}
	for _, o := range overrides {
		out[int(o[0])*vocab+int(o[1])] = float32(o[2])
	}
	return out
}

func TestAlgorithm1(t *testing.T) {
	var fx struct {
		Cases []selectCase `json:"cases"`
	}
	readJSON(t, "select.json", &fx)
	if len(fx.Cases) < 300 {
		t.Fatalf("select.json has %d cases, want at least 300", len(fx.Cases))
	}
	toks := map[string]dpt.Codec{"small": smallTokenizer(t)}
	if _, err := loadReal(); err == nil {
		toks["real"] = realTokenizer(t)
	}
	counts, steps := map[string]int{}, map[string]int{}
	var traced, errs, quirk, withoutVocab int
	for n, cs := range fx.Cases {
		tok := toks[cs.Vocab]
		if tok == nil && cs.Vocab == "real" {
			withoutVocab++ // checked after the small vocabulary's cases
			continue
		}
		if tok == nil {
			t.Fatalf("case %d: unknown vocabulary %q", n, cs.Vocab)
		}
		vocab := smallTokenizer(t).VocabSize()
		if cs.Vocab == "real" {
			vocab = realTokenizer(t).VocabSize()
		}
		scores := seededMatrix(cs.Seed, cs.NCtx, vocab, cs.ScaleExp, cs.Overrides)
		label := fmt.Sprintf("case %d (%s, %s vocabulary, seed %d, n_ctx %d)", n, cs.Kind, cs.Vocab, cs.Seed, cs.NCtx)
		for _, run := range []struct {
			name string
			v    engine.Variant
			want selectOutcome
		}{{"full", engine.Variant{}, cs.Full}, {"noselect", engine.Variant{NoSelect: true}, cs.NoSelect}, {"nofilter", engine.Variant{NoFilter: true}, cs.NoFilter}} {
			var trace []string
			ids, err := dpt.Select(scores, cs.NCtx, vocab, tok, run.v, func(s string) { trace = append(trace, s) })
			switch {
			case run.want.Error != "":
				if !errors.Is(err, dpt.ErrVocabularyExhausted) {
					t.Errorf("%s %s: got ids %v err %v; the reference fails (%s)", label, run.name, ids, err, run.want.Error)
				}
				errs++
			case err != nil:
				t.Errorf("%s %s: %v; reference selects %v", label, run.name, err, run.want.IDs)
			case !slices.Equal(ids, run.want.IDs):
				t.Errorf("%s %s: selected %v, reference %v", label, run.name, ids, run.want.IDs)
			}
			if run.name != "full" {
				continue
			}
			sum := sha256.Sum256([]byte(strings.Join(trace, "\n")))
			if len(trace) != run.want.TraceLines || hex.EncodeToString(sum[:]) != run.want.TraceSHA256 {
				t.Errorf("%s: trace of %d lines starting %q; reference %d lines starting %q", label, len(trace),
					trace[:min(len(trace), len(run.want.TraceHead))], run.want.TraceLines, run.want.TraceHead)
			}
			if len(trace) > 0 {
				traced++
			}
			for k, c := range run.want.Stats {
				if c > 0 {
					steps[k]++
				}
			}
			if run.want.QuirkMatters {
				quirk++
			}
		}
		counts[cs.Kind+"/"+cs.Vocab]++
	}
	t.Logf("Algorithm 1: %d matrices %v; %d with round-trip failures, matrices per step taken %v, %d where the rank-index quirk changes the result, %d reference errors (over 3 variants); all agree exactly unless reported above",
		len(fx.Cases), counts, traced, steps, quirk, errs)
	if withoutVocab > 0 {
		t.Logf("%d cases need OpenAI's vocabulary", withoutVocab)
		realTokenizer(t) // skips, saying how to get it (fails under CI=true)
	}
}

// --- Tokenizer pairs.

type encodePair struct {
	Text string
	IDs  []int
}

func (p *encodePair) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &p.Text); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &p.IDs)
}

type decodePair struct {
	IDs  []int
	Text string
}

func (p *decodePair) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &p.IDs); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &p.Text)
}

func TestTokenizerPairs(t *testing.T) {
	var fx map[string]json.RawMessage
	readJSON(t, "tokenizer.json", &fx)
	for _, name := range []string{"real", "small"} {
		t.Run(name, func(t *testing.T) {
			tok := smallTokenizer(t)
			if name == "real" {
				tok = realTokenizer(t)
			}
			var encode, mojibake []encodePair
			var decode []decodePair
			for key, dst := range map[string]any{"_encode": &encode, "_decode": &decode, "_mojibake": &mojibake} {
				if err := json.Unmarshal(fx[name+key], dst); err != nil {
					t.Fatalf("tokenizer.json %s%s: %v", name, key, err)
				}
			}
			if len(encode) < 300 || len(decode) < 200 {
				t.Fatalf("only %d encode and %d decode pairs", len(encode), len(decode))
			}
			bad := 0
			for _, p := range encode {
				if got := tok.Encode(p.Text); !slices.Equal(got, p.IDs) {
					bad++
					t.Errorf("Encode(%q) = %v, reference %v", p.Text, got, p.IDs)
				}
			}
			for _, p := range decode {
				if got := tok.Decode(p.IDs); got != p.Text {
					bad++
					t.Errorf("Decode(%v) = %q, reference %q", p.IDs, got, p.Text)
				}
			}
			t.Logf("%s vocabulary: %d encode and %d decode pairs, %d differ", name, len(encode), len(decode), bad)
			// ftfy's mojibake repair (fix_encoding) is documented as not
			// replicated by the Go tokenizer: reported, not failed.
			for _, p := range mojibake {
				if got := tok.Encode(p.Text); !slices.Equal(got, p.IDs) {
					t.Logf("known deviation (ftfy fix_encoding): Encode(%q) = %v, reference %v (%q)", p.Text, got, p.IDs, tok.Decode(p.IDs))
				}
			}
		})
	}
}

// --- Evaluation on the committed CoOp-layout set.

type evalResult struct {
	Pred      []int   `json:"pred"`
	Correct   int     `json:"correct"`
	Accuracy  float64 `json:"accuracy"`
	MacroF1   float64 `json:"macro_f1"`
	MinMargin float64 `json:"min_margin"`
}

type evalFixture struct {
	Dataset     string                `json:"dataset"`
	Root        string                `json:"root"`
	Checkpoint  string                `json:"checkpoint"`
	Classes     []string              `json:"classes"`
	Prompt      string                `json:"prompt"`
	Items       [][3]json.RawMessage  `json:"items"`
	Labels      []int                 `json:"labels"`
	DPTSelected []int                 `json:"dpt_selected"`
	Results     map[string]evalResult `json:"results"`
}

func TestEvaluation(t *testing.T) {
	var fx evalFixture
	readJSON(t, "eval.json", &fx)
	ts := readTensors(t, "eval.safetensors")
	m, tok := model(t), smallTokenizer(t)
	fromPIL, fromGoJPEG := evalImages(t, fx, ts, m.Config.ImageResolution)
	tokens := make([][]int, len(fx.Classes))
	for i, class := range fx.Classes {
		var err error
		if tokens[i], err = tok.Tokenize(fx.Prompt+" "+data.PromptName(class)+".", m.Config.ContextLength); err != nil {
			t.Fatal(err)
		}
	}
	ck, _, err := safetensors.Read(filepath.Join(fixtures, fx.Checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	nCtx := ck["scores"].Shape[0]
	ids, err := dpt.Select(ck["scores"].Data, nCtx, m.Config.VocabSize, tok, engine.Variant{}, nil)
	if err != nil || !slices.Equal(ids, fx.DPTSelected) {
		t.Fatalf("checkpoint selection %v (%v), reference %v", ids, err, fx.DPTSelected)
	}
	checkpoint := filepath.Join(fixtures, fx.Checkpoint)
	runs := []evalRun{
		{"prompt", nil, 0, false, engine.EvalSpec{Prompt: fx.Prompt}},
		{"dpt", ids, nCtx, true, engine.EvalSpec{Checkpoint: checkpoint}},
		{"dpt_noshared", ids, nCtx, false, engine.EvalSpec{Checkpoint: checkpoint, Variant: engine.Variant{NoShared: true}}},
	}
	forEachBackend(t, func(t *testing.T, b backend.Backend) {
		r := runnerOn(t, m, b)
		tr := trainer.New(b)
		tr.CacheDir = t.TempDir()
		for _, run := range runs {
			want, ok := fx.Results[run.name]
			if !ok {
				t.Fatalf("eval.json has no result %q", run.name)
			}
			var prompts backend.Buffer
			if run.shared {
				w, bias := upload(t, b, ck["proj.weight"].Data), upload(t, b, ck["proj.bias"].Data)
				if prompts, err = r.ContextPrompts(ids, w, bias); err != nil {
					t.Fatal(err)
				}
			}
			classes, err := r.ClassFeatures(tokens, run.ids, run.nCtx)
			if err != nil {
				t.Fatal(err)
			}
			logits := imageLogits(t, r, fromPIL, prompts, classes, len(tokens))
			compare(t, "logits_"+run.name+" (PIL pixels)", logits, ts.get("logits_"+run.name), tolForward)
			goLogits := imageLogits(t, r, fromGoJPEG, prompts, classes, len(tokens))
			compare(t, "logits_"+run.name+" (Go JPEG decoder)", goLogits, ts.get("logits_"+run.name), tolJPEG)
			if pred := argmaxRows(goLogits, len(tokens)); !slices.Equal(pred, want.Pred) {
				t.Errorf("%s: predictions %v, reference %v", run.name, pred, want.Pred)
			}
			checkEvaluate(t, tr, run, fx, want)
		}
	})
}

// evalRun is one evaluation of eval.json: a hand-written prompt, or the
// checkpoint's selected ids with or without its visual prompts.
type evalRun struct {
	name   string
	ids    []int
	nCtx   int
	shared bool
	spec   engine.EvalSpec
}

// evalImages decodes the fixture's test images twice: from PIL's decoded
// pixels and from the JPEG files with Go's decoder.
func evalImages(t *testing.T, fx evalFixture, ts tensorFile, size int) (fromPIL, fromGoJPEG []float32) {
	t.Helper()
	per := 3 * size * size
	n := len(fx.Items)
	// Preprocessing: from PIL's decoded pixels (stored losslessly as PNG),
	// the Go test pipeline must give PyTorch's tensor bit for bit.
	fromPIL = make([]float32, n*per)
	fromGoJPEG = make([]float32, n*per)
	maxLevel, differing, total := 0, 0, 0
	for k, item := range fx.Items {
		var rel string
		if err := json.Unmarshal(item[0], &rel); err != nil {
			t.Fatal(err)
		}
		pil, err := data.DecodeFile(filepath.Join(fixtures, "evalpixels", strconv.Itoa(k)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		data.ToCHW(data.Prepare(pil, data.ShorterSideCrop, size), fromPIL[k*per:(k+1)*per])
		jpg, err := data.DecodeFile(filepath.Join(fixtures, fx.Root, fx.Dataset, "images", filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if jpg.Width != pil.Width || jpg.Height != pil.Height {
			t.Fatalf("%s: Go decodes %dx%d, PIL %dx%d", rel, jpg.Width, jpg.Height, pil.Width, pil.Height)
		}
		for i := range jpg.Pix {
			d := int(jpg.Pix[i]) - int(pil.Pix[i])
			maxLevel = max(maxLevel, d, -d)
			if d != 0 {
				differing++
			}
		}
		total += len(jpg.Pix)
		data.ToCHW(data.Prepare(jpg, data.ShorterSideCrop, size), fromGoJPEG[k*per:(k+1)*per])
	}
	compare(t, "test pipeline (PIL pixels)", fromPIL, ts.get("images"), exact)
	t.Logf("JPEG decoding, Go vs PIL: %d of %d values differ, by at most %d levels", differing, total, maxLevel)
	if maxLevel > 4 {
		t.Errorf("Go's JPEG decoding differs from PIL's by %d levels; the data package documents at most 3", maxLevel)
	}

	return fromPIL, fromGoJPEG
}

func imageLogits(t *testing.T, r *clip.Runner, images []float32, prompts, classes backend.Buffer, nClasses int) []float32 {
	t.Helper()
	batch := len(images) / (3 * r.Model().Config.ImageResolution * r.Model().Config.ImageResolution)
	out := make([]float32, batch*nClasses)
	if err := r.ImageLogits(out, images, batch, prompts, classes, nClasses); err != nil {
		t.Fatal(err)
	}
	return out
}

func argmaxRows(x []float32, cols int) []int {
	out := make([]int, len(x)/cols)
	for r := range out {
		out[r] = 0
		for c := 1; c < cols; c++ {
			if x[r*cols+c] > x[r*cols+out[r]] {
				out[r] = c
			}
		}
	}
	return out
}

// checkEvaluate runs the trainer's Evaluate on the fixture's dataset and
// compares its counts with the reference's.
func checkEvaluate(t *testing.T, tr *trainer.Trainer, run evalRun, fx evalFixture, want evalResult) {
	t.Helper()
	spec := run.spec
	spec.Model = modelDir
	spec.Data = engine.DataSpec{Dataset: fx.Dataset, Root: filepath.Join(fixtures, fx.Root), Classes: study.ClassesAll}
	ev, err := tr.Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	n := len(fx.Items)
	t.Logf("Evaluate %-13s total %d correct %d accuracy %.4f%% macro-F1 %.4f%% (reference %d, %.4f%%, %.4f%%)",
		run.name, ev.Total, ev.Correct, ev.Accuracy, ev.MacroF1, want.Correct, want.Accuracy, want.MacroF1)
	if ev.Total != n || ev.Correct != want.Correct || math.Abs(ev.Accuracy-want.Accuracy) > 1e-9 || math.Abs(ev.MacroF1-want.MacroF1) > 1e-9 {
		t.Errorf("%s: Evaluate = %+v, reference total %d correct %d accuracy %v macro-F1 %v",
			run.name, ev, n, want.Correct, want.Accuracy, want.MacroF1)
	}
}
