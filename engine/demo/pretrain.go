package demo

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/safetensors"
	"github.com/fomo-grid/grid/engine/tokenizer"
)

// recipe is how the demo model is pre-trained: CLIP's contrastive objective
// on Steps batches of Batch synthetic image-caption pairs
// (data.DemoPairs), AdamW with a linear warm-up over Warmup steps and a
// cosine decay to zero.
//
// Step s also appends s mod (ExtraTokens+1) random tokens to every
// image's ViT input, where DPT appends its visual prompts. The demo ViT
// sees 16 patches, not ViT-B/16's 196, so two untrained prompt tokens are
// a large part of what its class token attends to and change its features
// before DPT has learned anything: pre-trained without them, the demo
// model's full DPT fell below zero-shot on the new classes in every
// configuration of a six-seed sweep, while DPT without the visual prompts
// gained. Pre-trained with such tokens present, it sees past them, as a
// large ViT does, and DPT's visual prompts start harmless.
type recipe struct {
	Config      clip.Config
	ModelSeed   uint64 // of the initial weights (clip.NewRandom)
	PairSeed    uint64 // of the pair stream
	Steps       int
	Batch       int
	Warmup      int
	LR          float32
	Beta1       float32
	Beta2       float32
	Eps         float32
	Decay       float32 // AdamW weight decay of the matrices
	LogitScale  float32 // initial logit_scale: ln(1/0.07), CLIP's
	ExtraTokens int     // at most this many random tokens after the patches
}

// pretraining is the demo model's recipe: 96 000 pairs, some forty seconds
// of two busy CPU cores, by which the model tells the textures and most
// shapes apart, filled or sketched.
func pretraining(vocabSize int) recipe {
	return recipe{
		Config: clip.DemoConfig(vocabSize), ModelSeed: ModelSeed, PairSeed: 7,
		Steps: 1500, Batch: 64, Warmup: 20,
		LR: 1e-3, Beta1: 0.9, Beta2: 0.98, Eps: 1e-6, Decay: 0.1,
		LogitScale: float32(math.Log(1 / 0.07)), ExtraTokens: 2,
	}
}

// lr is the learning rate of step (from 0).
func (r recipe) lr(step int) float32 {
	if step < r.Warmup {
		return r.LR * float32(step+1) / float32(r.Warmup)
	}
	progress := float64(step-r.Warmup) / float64(r.Steps-r.Warmup)
	return r.LR * float32(0.5*(1+math.Cos(math.Pi*progress)))
}

// pretrain trains m on b with r, writing a line of progress to log (nil:
// none) every tenth of the way.
func pretrain(m *clip.Model, tok *tokenizer.Tokenizer, b backend.Backend, r recipe, log io.Writer) error {
	training, err := m.Train(b)
	if err != nil {
		return err
	}
	batches, stop := prefetch(r, tok)
	defer stop()
	opt := clip.AdamW{Beta1: r.Beta1, Beta2: r.Beta2, Eps: r.Eps, WeightDecay: r.Decay}
	var recent float64 // loss, averaged over the last steps
	for step := range r.Steps {
		next := <-batches
		if next.err != nil {
			return next.err
		}
		opt.LR = r.lr(step)
		loss, err := training.Step(next.ContrastiveBatch, opt)
		if err != nil {
			return err
		}
		if math.IsNaN(float64(loss)) {
			return fmt.Errorf("pre-training step %d: the loss is NaN", step)
		}
		recent = 0.9*recent + 0.1*float64(loss)
		if log != nil && (step+1)%max(1, r.Steps/10) == 0 {
			fmt.Fprintf(log, "pre-training the demo model: step %d/%d, loss %.3f\n", step+1, r.Steps, recent)
		}
	}
	return training.Finish()
}

// batch is one pre-training batch, made ahead of its step.
type batch struct {
	clip.ContrastiveBatch
	err error
}

// prefetch makes r's batches in order on a goroutine, one step ahead of
// the training, which draws them from the channel. stop ends it.
func prefetch(r recipe, tok *tokenizer.Tokenizer) (<-chan batch, func()) {
	out, done := make(chan batch, 1), make(chan struct{})
	go func() {
		defer close(out)
		for step := range r.Steps {
			var next batch
			next.ContrastiveBatch, next.err = pretrainingBatch(r, tok, step)
			select {
			case out <- next:
			case <-done:
				return
			}
		}
	}()
	return out, func() { close(done) }
}

// pretrainingBatch is batch number step of r's pair stream, with its
// captions tokenised and its extra tokens drawn.
func pretrainingBatch(r recipe, tok *tokenizer.Tokenizer, step int) (clip.ContrastiveBatch, error) {
	pairs := data.DemoPairs(r.PairSeed, step, r.Batch, r.Config.ImageResolution)
	cb := clip.ContrastiveBatch{Images: pairs.Images, Captions: make([][]int, len(pairs.Captions))}
	for i, c := range pairs.Captions {
		ids, err := tok.Tokenize(c, r.Config.ContextLength)
		if err != nil {
			return cb, fmt.Errorf("caption %q: %w", c, err)
		}
		cb.Captions[i] = ids
	}
	// Standard normal values: ln_pre normalises each token, so only their
	// direction matters, and that is uniformly random. The stream is apart
	// from the pairs' (seeded by PairSeed itself).
	rng := rand.New(rand.NewPCG(^r.PairSeed, uint64(step)))
	cb.ExtraTokens = make([]float32, step%(r.ExtraTokens+1)*r.Config.VisionWidth)
	for i := range cb.ExtraTokens {
		cb.ExtraTokens[i] = float32(rng.NormFloat64())
	}
	return cb, nil
}

// recipeKey names what a pre-trained model was made from: the recipe, the
// vocabulary's bytes, and the first batch of the pair stream (so that a
// change of the data generator is a new key too). It is stored in the
// model file's metadata, and a model file holding the key is not trained
// again.
func recipeKey(r recipe, vocabulary []byte, tok *tokenizer.Tokenizer) (string, error) {
	h := sha256.New()
	spec, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	h.Write(spec)
	h.Write(vocabulary)
	first, err := pretrainingBatch(r, tok, 0)
	if err != nil {
		return "", err
	}
	var sample []byte // every 97th value is plenty to notice a change
	for i := 0; i < len(first.Images); i += 97 {
		sample = binary.LittleEndian.AppendUint32(sample, math.Float32bits(first.Images[i]))
	}
	h.Write(sample)
	fmt.Fprint(h, first.Captions)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// recipeMetadata is the model file's metadata key that holds recipeKey.
const recipeMetadata = "grid_demo_recipe"

// pretrained reports whether the model file at path exists and was
// pre-trained with key.
func pretrained(path, key string) bool {
	f, err := safetensors.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Metadata[recipeMetadata] == key
}

// writeModel pre-trains the demo model with r on b and saves it at path,
// unless path holds it already.
func writeModel(path, vocabPath string, b backend.Backend, r recipe, log io.Writer) error {
	vocabulary, err := os.ReadFile(vocabPath)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(vocabPath)
	if err != nil {
		return err
	}
	key, err := recipeKey(r, vocabulary, tok)
	if err != nil {
		return err
	}
	if pretrained(path, key) {
		return nil
	}
	m := clip.NewRandom(r.Config, r.ModelSeed)
	m.SetLogitScale(r.LogitScale)
	if err := pretrain(m, tok, b, r, log); err != nil {
		return fmt.Errorf("pre-training: %w", err)
	}
	return safetensors.Write(path, m.Tensors(), map[string]string{"format": "pt", recipeMetadata: key})
}
