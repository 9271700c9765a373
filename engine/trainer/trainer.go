// Package trainer is the DPT engine: it implements engine.Engine on the
// pure-Go CPU backend. One Trainer lives for a whole worker process and keeps
// every model it loaded, so a worker reads its weights once and reuses them
// for every job.
package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/dpt"
	"github.com/fomo-grid/grid/engine/safetensors"
	"github.com/fomo-grid/grid/engine/tokenizer"
)

// TestBatchSize is Dassl's DATALOADER.TEST.BATCH_SIZE.
const TestBatchSize = 100

// ContextInit is the seed's CTX_INIT: its first n_ctx words are the slots
// DPT replaces when n_ctx <= 4.
const ContextInit = "a photo of a"

// Trainer implements engine.Engine.
type Trainer struct {
	// CacheDir holds the decoded-image cache and the few-shot samples,
	// shared by every worker on the machine.
	CacheDir string

	mu     sync.Mutex
	models map[string]*loaded
	caches map[string]*data.Cache
}

// loaded is a model directory read once: weights and tokenizer.
type loaded struct {
	model *clip.Model
	tok   *tokenizer.Tokenizer
}

// New returns a Trainer whose caches live in $GRID_CACHE_DIR, else in the
// user cache directory (~/.cache/grid).
func New() *Trainer {
	dir := os.Getenv("GRID_CACHE_DIR")
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "grid")
		} else {
			dir = filepath.Join(os.TempDir(), "grid-cache")
		}
	}
	return &Trainer{CacheDir: dir}
}

// TokenizerFiles are the tokenizer files a model directory may hold, in the
// order they are looked for: OpenAI's merges file, the demo's, or Hugging
// Face's vocab.json + merges.txt.
var TokenizerFiles = []string{"bpe_simple_vocab_16e6.txt.gz", "bpe_vocab.txt.gz", "vocab.json + merges.txt"}

func (t *Trainer) load(dir string) (*loaded, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.models[dir]; ok {
		return m, nil
	}
	model, err := clip.Load(dir)
	if err != nil {
		return nil, err
	}
	tok, err := loadTokenizer(dir)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != model.Config.VocabSize {
		return nil, fmt.Errorf("model %s: tokenizer has %d tokens but token_embedding.weight has %d rows", dir, tok.VocabSize(), model.Config.VocabSize)
	}
	if t.models == nil {
		t.models = map[string]*loaded{}
	}
	l := &loaded{model: model, tok: tok}
	t.models[dir] = l
	return l, nil
}

func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	for _, name := range TokenizerFiles[:2] {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return tokenizer.Load(p)
		}
	}
	vocab, merges := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
	if _, err := os.Stat(vocab); err == nil {
		return tokenizer.LoadHF(vocab, merges)
	}
	return nil, fmt.Errorf("model %s: no tokenizer (looked for %s)", dir, strings.Join(TokenizerFiles, ", "))
}

func (t *Trainer) cache(size int) (*data.Cache, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := strconv.Itoa(size)
	if c, ok := t.caches[key]; ok {
		return c, nil
	}
	c, err := data.NewCache(filepath.Join(t.CacheDir, "images"))
	if err != nil {
		return nil, err
	}
	if t.caches == nil {
		t.caches = map[string]*data.Cache{}
	}
	t.caches[key] = c
	return c, nil
}

// newLoader is Dassl's pipeline at the model's resolution. RandAugment's
// translate and cutout sizes are pixel counts meant for 224-pixel images;
// scaling them with the resolution leaves ViT-B/16 (224) exactly as the
// reference and keeps small models' images from being shifted out of frame.
func newLoader(cache *data.Cache, size int) *data.Loader {
	l := data.NewLoader(cache, size)
	l.Augment.PixelScale = float64(size) / 224
	return l
}

// split opens a dataset and applies the protocol: few-shot training images
// (cached so every job sees the same shots) and the class half.
func (t *Trainer) split(d engine.DataSpec) (*data.Dataset, error) {
	ds, err := data.Open(d.Root, d.Dataset)
	if err != nil {
		return nil, err
	}
	if d.Shots > 0 {
		if ds, err = data.FewShotCached(ds, d.Shots, d.Seed, t.CacheDir); err != nil {
			return nil, err
		}
	}
	return data.SubsampleClasses(ds, d.Classes)
}

// classPrompts tokenises one sentence per class (classSentence). With
// n_ctx <= 4 the context is "a photo of a" and its first n_ctx words are
// the DPT slots; longer contexts are n_ctx placeholder words, as in the seed.
func classPrompts(tok *tokenizer.Tokenizer, classNames []string, prefix string, contextLength int) ([][]int, error) {
	out := make([][]int, len(classNames))
	for i, name := range classNames {
		ids, err := tok.Tokenize(classSentence(prefix, data.PromptName(name)), contextLength)
		if err != nil {
			return nil, fmt.Errorf("class %q: %w", name, err)
		}
		out[i] = ids
	}
	return out, nil
}

// classSentence is the sentence of one class: a template's {} replaced by
// the name (CoOp's zero-shot "a photo of a {}, a type of pet."), or else
// the context words, the name and a full stop ("a photo of a dog.").
func classSentence(prompt, name string) string {
	if before, after, ok := strings.Cut(prompt, "{}"); ok {
		return before + name + after
	}
	return prompt + " " + name + "."
}

// contextPrefix is the text whose first nCtx tokens DPT replaces.
func contextPrefix(nCtx int) string {
	if nCtx <= 4 {
		return ContextInit
	}
	return strings.TrimSpace(strings.Repeat("X ", nCtx))
}

// prompt is the learned state of a DPT run.
type prompt struct {
	nCtx   int
	scores []float32 // nCtx × vocab
	projW  []float32 // visionWidth × textWidth (PyTorch Linear weight)
	projB  []float32 // visionWidth
}

// newPrompt initialises the trained parameters: scores ~ N(0, std) and the
// projection with PyTorch's default Linear init, U(-1/√in, 1/√in) for weight
// and bias alike.
func newPrompt(cfg clip.Config, nCtx int, std float64, rng *rand.Rand) *prompt {
	p := &prompt{
		nCtx:   nCtx,
		scores: make([]float32, nCtx*cfg.VocabSize),
		projW:  make([]float32, cfg.VisionWidth*cfg.TextWidth),
		projB:  make([]float32, cfg.VisionWidth),
	}
	for i := range p.scores {
		p.scores[i] = float32(rng.NormFloat64() * std)
	}
	bound := 1 / math.Sqrt(float64(cfg.TextWidth))
	for i := range p.projW {
		p.projW[i] = float32((2*rng.Float64() - 1) * bound)
	}
	for i := range p.projB {
		p.projB[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return p
}

// Train runs DPT training (Algorithm 1 selection every step, straight-through
// gradient to the scores, SGD with the per-epoch schedule), then tests the
// last-epoch prompt on the test split of the training classes and writes the
// checkpoint.
func (t *Trainer) Train(ctx context.Context, spec engine.TrainSpec, progress func(engine.Progress)) (engine.TrainResult, error) {
	if err := checkTrainSpec(spec); err != nil {
		return engine.TrainResult{}, err
	}
	m, err := t.load(spec.Model)
	if err != nil {
		return engine.TrainResult{}, err
	}
	cfg := m.model.Config
	ds, err := t.split(spec.Data)
	if err != nil {
		return engine.TrainResult{}, err
	}
	if len(ds.Train) == 0 {
		return engine.TrainResult{}, fmt.Errorf("dataset %s (%s classes): no training images", spec.Data.Dataset, spec.Data.Classes)
	}
	tokens, err := classPrompts(m.tok, ds.ClassNames, contextPrefix(spec.NCtx), cfg.ContextLength)
	if err != nil {
		return engine.TrainResult{}, err
	}
	cache, err := t.cache(cfg.ImageResolution)
	if err != nil {
		return engine.TrainResult{}, err
	}
	loader := newLoader(cache, cfg.ImageResolution)
	// Decode every image before the first step, so a missing or corrupt
	// file fails the job at once, naming it, not after an epoch of work.
	if err := loader.Warm(ctx, ds.Train, data.Squash); err != nil {
		return engine.TrainResult{}, err
	}
	if err := loader.Warm(ctx, ds.Test, data.ShorterSideCrop); err != nil {
		return engine.TrainResult{}, err
	}

	// One stream for initialisation, one for the epoch order and
	// augmentation, both from the job's seed.
	seed := uint64(spec.Data.Seed)
	initRNG := rand.New(rand.NewPCG(seed, 0x696e6974)) // "init"
	dataRNG := rand.New(rand.NewPCG(seed, 0x64617461)) // "data"
	p := newPrompt(cfg, spec.NCtx, spec.WeightStd, initRNG)
	opt := dpt.NewSGD(spec.Momentum, spec.WeightDecay)

	perEpoch := len(data.TrainBatches(len(ds.Train), spec.BatchSize, rand.New(rand.NewPCG(0, 0))))
	total := perEpoch * spec.Epochs
	var selected []int
	for epoch := 0; epoch < spec.Epochs; epoch++ {
		lr := dpt.LR(epoch, spec.Epochs, spec.LR, spec.WarmupLR, spec.WarmupEpochs)
		var sum float64
		for b, idx := range data.TrainBatches(len(ds.Train), spec.BatchSize, dataRNG) {
			if err := ctx.Err(); err != nil {
				return engine.TrainResult{}, err
			}
			batch, err := loader.TrainBatch(ds.Train, idx, dataRNG)
			if err != nil {
				return engine.TrainResult{}, err
			}
			if selected, err = selectTokens(p, m, spec.Variant); err != nil {
				return engine.TrainResult{}, err
			}
			in := clip.DPTInput{
				ClassTokens: tokens, NCtx: p.nCtx, Ctx: m.model.TokenEmbeddings(selected),
				Images: batch.Images, Batch: len(batch.Labels), Labels: batch.Labels,
			}
			if !spec.Variant.NoShared {
				in.ProjW, in.ProjB = p.projW, p.projB
			}
			out := m.model.DPTStep(in, true)
			if math.IsNaN(float64(out.Loss)) || math.IsInf(float64(out.Loss), 0) {
				return engine.TrainResult{}, fmt.Errorf("epoch %d step %d: loss is %v", epoch, b, out.Loss)
			}
			params := []dpt.Param{{Name: "scores", Value: p.scores, Grad: m.model.ScoresGrad(out.DCtx, p.nCtx)}}
			if !spec.Variant.NoShared {
				// With no visual prompts the projection gets no
				// gradient, and so no weight decay either.
				params = append(params,
					dpt.Param{Name: "proj.weight", Value: p.projW, Grad: out.DProjW},
					dpt.Param{Name: "proj.bias", Value: p.projB, Grad: out.DProjB})
			}
			if err := opt.Step(lr, params); err != nil {
				return engine.TrainResult{}, err
			}
			sum += float64(out.Loss)
			if progress != nil {
				progress(engine.Progress{
					Epoch: epoch, Epochs: spec.Epochs, Step: epoch*perEpoch + b, Steps: total,
					Loss: sum / float64(b+1), BatchLoss: float64(out.Loss), LR: lr,
					TokenIDs: selected, Prompt: m.tok.Decode(selected),
				})
			}
		}
	}

	// The test forward selects again from the final scores, as the seed's
	// GetToggle does in every forward.
	if selected, err = selectTokens(p, m, spec.Variant); err != nil {
		return engine.TrainResult{}, err
	}
	test, err := t.evaluate(ctx, m, loader, ds, tokens, p, selected, spec.Variant, "")
	if err != nil {
		return engine.TrainResult{}, err
	}
	res := engine.TrainResult{TokenIDs: selected, Prompt: m.tok.Decode(selected), Test: test, Checkpoint: spec.Checkpoint}
	if spec.Checkpoint != "" {
		if err := saveCheckpoint(spec.Checkpoint, p, selected, res.Prompt, spec); err != nil {
			return engine.TrainResult{}, err
		}
	}
	return res, nil
}

// selectTokens runs Algorithm 1 on the prompt's scores. Where the reference
// would crash (a rank runs past the vocabulary, see
// dpt.ErrVocabularyExhausted) it takes what the NOSELECT variant would: the
// BOS/EOS-filtered argmax. Every selection the reference completes is
// unchanged; only runs it would have aborted go on.
func selectTokens(p *prompt, m *loaded, v engine.Variant) ([]int, error) {
	vocab := m.model.Config.VocabSize
	ids, err := dpt.Select(p.scores, p.nCtx, vocab, m.tok, v, nil)
	if errors.Is(err, dpt.ErrVocabularyExhausted) {
		v.NoSelect = true
		return dpt.Select(p.scores, p.nCtx, vocab, m.tok, v, nil)
	}
	return ids, err
}

func checkTrainSpec(s engine.TrainSpec) error {
	switch {
	case s.NCtx < 1:
		return fmt.Errorf("n_ctx must be at least 1, got %d", s.NCtx)
	case s.Epochs < 1:
		return fmt.Errorf("epochs must be at least 1, got %d", s.Epochs)
	case s.BatchSize < 1:
		return fmt.Errorf("batch_size must be at least 1, got %d", s.BatchSize)
	case s.WeightStd < 0 || math.IsNaN(s.WeightStd):
		return fmt.Errorf("weight_std must be >= 0, got %v", s.WeightStd)
	}
	return nil
}

// evaluate classifies the test split: text features once for every class,
// then the images in batches of TestBatchSize. With logitsFile set it also
// writes every image's logits there (see engine.EvalSpec.LogitsFile).
func (t *Trainer) evaluate(ctx context.Context, m *loaded, loader *data.Loader, ds *data.Dataset, tokens [][]int, p *prompt, selected []int, v engine.Variant, logitsFile string) (engine.Evaluation, error) {
	if len(ds.Test) == 0 {
		return engine.Evaluation{}, fmt.Errorf("dataset %s: empty test split", ds.Name)
	}
	var ctxEmb, extra []float32
	nCtx := 0
	if p != nil {
		nCtx = p.nCtx
		ctxEmb = m.model.TokenEmbeddings(selected)
		if !v.NoShared {
			cfg := m.model.Config
			extra = make([]float32, nCtx*cfg.VisionWidth)
			projectContext(extra, ctxEmb, p, cfg)
		}
	}
	text := m.model.TextFeatures(tokens, ctxEmb, nCtx)
	nClasses := len(tokens)
	dim := m.model.Config.EmbedDim
	scale := m.model.LogitScale()
	pred := make([]int, 0, len(ds.Test))
	truth := make([]int, 0, len(ds.Test))
	var logits []float32 // len(ds.Test) × nClasses, kept only for logitsFile
	if logitsFile != "" {
		logits = make([]float32, 0, len(ds.Test)*nClasses)
	}
	for _, idx := range data.TestBatches(len(ds.Test), TestBatchSize) {
		if err := ctx.Err(); err != nil {
			return engine.Evaluation{}, err
		}
		batch, err := loader.TestBatch(ds.Test, idx)
		if err != nil {
			return engine.Evaluation{}, err
		}
		img := m.model.ImageFeatures(batch.Images, len(idx), extra)
		for i := range idx {
			best, bestLogit := 0, float32(math.Inf(-1))
			for c := 0; c < nClasses; c++ {
				var dot float32
				for k := 0; k < dim; k++ {
					dot += img[i*dim+k] * text[c*dim+k]
				}
				l := scale * dot
				if l > bestLogit {
					best, bestLogit = c, l
				}
				if logitsFile != "" {
					logits = append(logits, l)
				}
			}
			pred = append(pred, best)
			truth = append(truth, batch.Labels[i])
		}
	}
	if logitsFile != "" {
		if err := writeLogits(logitsFile, ds, truth, logits); err != nil {
			return engine.Evaluation{}, err
		}
	}
	return classify(pred, truth), nil
}

// projectContext computes the visual prompts: ctx · projWᵀ + projB.
func projectContext(dst, ctxEmb []float32, p *prompt, cfg clip.Config) {
	for r := 0; r < p.nCtx; r++ {
		for o := 0; o < cfg.VisionWidth; o++ {
			s := p.projB[o]
			w := p.projW[o*cfg.TextWidth : (o+1)*cfg.TextWidth]
			x := ctxEmb[r*cfg.TextWidth : (r+1)*cfg.TextWidth]
			for k := range w {
				s += w[k] * x[k]
			}
			dst[r*cfg.VisionWidth+o] = s
		}
	}
}

// Evaluate tests a learned checkpoint (or a hand-written prompt) on the test
// split of a dataset.
func (t *Trainer) Evaluate(ctx context.Context, spec engine.EvalSpec) (engine.Evaluation, error) {
	m, err := t.load(spec.Model)
	if err != nil {
		return engine.Evaluation{}, err
	}
	cfg := m.model.Config
	ds, err := t.split(engine.DataSpec{Dataset: spec.Data.Dataset, Root: spec.Data.Root, Classes: spec.Data.Classes})
	if err != nil {
		return engine.Evaluation{}, err
	}
	cache, err := t.cache(cfg.ImageResolution)
	if err != nil {
		return engine.Evaluation{}, err
	}
	loader := newLoader(cache, cfg.ImageResolution)
	if spec.Checkpoint == "" {
		text := spec.Prompt
		if text == "" {
			text = ContextInit
		}
		tokens, err := classPrompts(m.tok, ds.ClassNames, text, cfg.ContextLength)
		if err != nil {
			return engine.Evaluation{}, err
		}
		return t.evaluate(ctx, m, loader, ds, tokens, nil, nil, spec.Variant, spec.LogitsFile)
	}
	p, err := loadCheckpoint(spec.Checkpoint, cfg)
	if err != nil {
		return engine.Evaluation{}, err
	}
	selected, err := selectTokens(p, m, spec.Variant)
	if err != nil {
		return engine.Evaluation{}, err
	}
	tokens, err := classPrompts(m.tok, ds.ClassNames, contextPrefix(p.nCtx), cfg.ContextLength)
	if err != nil {
		return engine.Evaluation{}, err
	}
	return t.evaluate(ctx, m, loader, ds, tokens, p, selected, spec.Variant, spec.LogitsFile)
}

// Checkpoint tensors and metadata keys.
const (
	ckScores = "scores"
	ckProjW  = "proj.weight"
	ckProjB  = "proj.bias"
)

// saveCheckpoint writes scores, projection, the selected tokens and the
// resolved spec as one safetensors file, atomically.
func saveCheckpoint(path string, p *prompt, selected []int, text string, spec engine.TrainSpec) error {
	ids, _ := json.Marshal(selected)
	cfg, _ := json.Marshal(spec)
	vocab := len(p.scores) / p.nCtx
	return safetensors.Write(path, map[string]safetensors.Tensor{
		ckScores: {Shape: []int{p.nCtx, vocab}, Data: p.scores},
		ckProjW:  {Shape: []int{len(p.projB), len(p.projW) / len(p.projB)}, Data: p.projW},
		ckProjB:  {Shape: []int{len(p.projB)}, Data: p.projB},
	}, map[string]string{"format": "grid-dpt-v1", "token_ids": string(ids), "prompt": text, "spec": string(cfg)})
}

// loadCheckpoint reads a checkpoint and checks it fits the model.
func loadCheckpoint(path string, cfg clip.Config) (*prompt, error) {
	ts, _, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	s, ok := ts[ckScores]
	if !ok || len(s.Shape) != 2 || s.Shape[1] != cfg.VocabSize || s.Shape[0] < 1 {
		return nil, fmt.Errorf("checkpoint %s: %s must be [n_ctx, %d]", path, ckScores, cfg.VocabSize)
	}
	w, okW := ts[ckProjW]
	b, okB := ts[ckProjB]
	if !okW || !okB || len(w.Shape) != 2 || w.Shape[0] != cfg.VisionWidth || w.Shape[1] != cfg.TextWidth || len(b.Data) != cfg.VisionWidth {
		return nil, fmt.Errorf("checkpoint %s: %s must be [%d, %d] and %s [%d]", path, ckProjW, cfg.VisionWidth, cfg.TextWidth, ckProjB, cfg.VisionWidth)
	}
	return &prompt{nCtx: s.Shape[0], scores: s.Data, projW: w.Data, projB: b.Data}, nil
}
