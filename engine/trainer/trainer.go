// Package trainer is the DPT engine: it implements engine.Engine on the
// backend it is given (engine/backend). One Trainer lives for a whole worker
// process and keeps every model it loaded, so a worker reads its weights
// once, uploads them to the backend once, and reuses them for every job.
// The trainer does no arithmetic of its own: the model's Runner computes on
// the backend, and the optimiser updates the parameters there.
package trainer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/tokenizer"
	"github.com/fomo-grid/grid/internal/study"
)

// TestBatchSize is Dassl's DATALOADER.TEST.BATCH_SIZE.
const TestBatchSize = 100

// ContextInit is the seed's CTX_INIT: its first n_ctx words are the slots
// DPT replaces when n_ctx <= 4.
const ContextInit = "a photo of a"

// Trainer implements engine.Engine. It runs one job at a time (a second
// waits for the first).
type Trainer struct {
	// CacheDir holds the decoded-image cache and the few-shot samples,
	// shared by every worker on the machine.
	CacheDir string

	// base is the backend the trainer was made with; backend is base at
	// the running job's precision (atPrecision).
	base      backend.Backend
	backend   backend.Backend
	precision study.Precision
	job       sync.Mutex // held for the whole of a Train or Evaluate
	mu        sync.Mutex
	hosts     map[string]*hostModel // by model directory
	models    map[string]*loaded    // by model directory and precision
	caches    map[string]*data.Cache
}

// hostModel is a model directory read once: weights and tokenizer.
type hostModel struct {
	model *clip.Model
	tok   *tokenizer.Tokenizer
}

// loaded is a model directory on the backend at one precision: its host
// weights and tokenizer (shared by every precision) and the model's runner.
type loaded struct {
	model  *clip.Model
	tok    *tokenizer.Tokenizer
	runner *clip.Runner
}

// New returns a Trainer computing on b whose caches live in
// $GRID_CACHE_DIR, else in the user cache directory (~/.cache/grid).
func New(b backend.Backend) *Trainer {
	dir := os.Getenv("GRID_CACHE_DIR")
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "grid")
		} else {
			dir = filepath.Join(os.TempDir(), "grid-cache")
		}
	}
	return &Trainer{CacheDir: dir, base: b, backend: b}
}

// atPrecision makes the running job's backend the base backend at
// precision p (the CPU backend refuses anything but fp32). It is called
// with the job lock held.
func (t *Trainer) atPrecision(p study.Precision) error {
	if t.base == nil {
		return errors.New("trainer: no backend (make the Trainer with New)")
	}
	b, err := backend.AtPrecision(t.base, p)
	if err != nil {
		return err
	}
	if m, ok := b.(backend.MemoryMeter); ok {
		m.ResetPeak() // each job's memory is measured from its start
	}
	t.mu.Lock()
	t.backend, t.precision = b, p
	t.mu.Unlock()
	return nil
}

// ResetUsage implements engine.UsageMeter: device memory is measured from
// what the backend holds now (every job also starts a new measurement).
func (t *Trainer) ResetUsage() {
	if m, ok := t.backend.(backend.MemoryMeter); ok {
		m.ResetPeak()
	}
}

// Usage is what the last job used of its device, when its backend
// measures it.
func (t *Trainer) Usage() engine.Usage {
	m, ok := t.backend.(backend.MemoryMeter)
	if !ok {
		return engine.Usage{}
	}
	return engine.Usage{Device: m.DeviceName(), PeakMemory: m.PeakBytes()}
}

// Placement names the backend and the device the trainer computes on, for
// the worker's Info.
func (t *Trainer) Placement() (backendName, device string) {
	return t.base.Name(), t.base.Device()
}

// TokenizerFiles are the tokenizer files a model directory may hold, in the
// order they are looked for: OpenAI's merges file, the demo's, or Hugging
// Face's vocab.json + merges.txt.
var TokenizerFiles = []string{"bpe_simple_vocab_16e6.txt.gz", "bpe_vocab.txt.gz", "vocab.json + merges.txt"}

func (t *Trainer) load(dir string) (*loaded, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.backend == nil {
		return nil, errors.New("trainer: no backend (make the Trainer with New)")
	}
	key := dir + "\x00" + string(t.precision)
	if m, ok := t.models[key]; ok {
		return m, nil
	}
	host, err := t.loadHost(dir)
	if err != nil {
		return nil, err
	}
	runner, err := host.model.On(t.backend)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if t.models == nil {
		t.models = map[string]*loaded{}
	}
	l := &loaded{model: host.model, tok: host.tok, runner: runner}
	t.models[key] = l
	return l, nil
}

// loadHost reads a model directory's weights and tokenizer once, for every
// precision; t.mu is held.
func (t *Trainer) loadHost(dir string) (*hostModel, error) {
	if h, ok := t.hosts[dir]; ok {
		return h, nil
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
	if t.hosts == nil {
		t.hosts = map[string]*hostModel{}
	}
	h := &hostModel{model: model, tok: tok}
	t.hosts[dir] = h
	return h, nil
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
