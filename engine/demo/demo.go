// Package demo writes the built-in demo that `make run` uses on any machine
// with no download: a tiny CLIP-shaped model with deterministic random
// weights, a BPE vocabulary learned from a small corpus, and the synthetic
// JPEG datasets. The files use the real formats (OpenAI-named safetensors,
// OpenAI's merges-file format, CoOp's split json), so the demo goes through
// exactly the code paths real weights and datasets take.
package demo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/tokenizer"
)

// Layout of a demo directory.
const (
	ModelDir       = "model"
	DataDir        = "data"
	VocabularyFile = "bpe_vocab.txt.gz" // read by the trainer like OpenAI's bpe_simple_vocab_16e6.txt.gz
	// Merges is the size of the demo vocabulary's merge list: 512 byte
	// symbols + Merges + 2 special tokens.
	Merges = 480
	// ModelSeed fixes the demo weights.
	ModelSeed = 1
)

// corpus is what the demo vocabulary is learned from: the template, the
// demo's class names and ordinary photo-caption words, so that DPT has real
// whole words to choose from and the decode/encode round trip of Algorithm 1
// has merges that can fail it.
func corpus() []string {
	words := []string{
		ContextTemplate,
		"a photo of a", "a picture of the", "an image of a small", "a drawing of a big",
		"a bright photo of a", "a dark photo of the", "a close-up photo of a", "a blurry photo of a",
		"a good photo of a", "a bad photo of the", "a rendering of a", "a sketch of the",
		"a painting of a", "a pattern of", "a shape of", "a texture of", "a colourful photograph",
		"red green blue orange purple teal brown pink yellow black white grey",
		"round square sharp pointed striped dotted flat shiny soft hard large tiny",
		"conveniently photograph flowering flower beautiful abstract inspirational picture another assuming",
		"this is a photo of my favourite, it's nice! #photo :)",
	}
	for _, c := range data.DemoClassNames() {
		words = append(words, "a photo of a "+c+".", c, c+"s")
	}
	return words
}

// ContextTemplate is the seed's CTX_INIT.
const ContextTemplate = "a photo of a"

// Write writes <dir>/model (model.safetensors + bpe_vocab.txt.gz) and
// <dir>/data (the demo datasets). The output is the same bytes on every run;
// files already right are left alone.
func Write(dir string) error {
	modelDir := filepath.Join(dir, ModelDir)
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	vocabPath := filepath.Join(modelDir, VocabularyFile)
	if err := tokenizer.WriteBPE(vocabPath, tokenizer.TrainBPE(corpus(), Merges)); err != nil {
		return fmt.Errorf("demo vocabulary: %w", err)
	}
	tok, err := tokenizer.Load(vocabPath)
	if err != nil {
		return fmt.Errorf("demo vocabulary: %w", err)
	}
	model := clip.NewRandom(clip.DemoConfig(tok.VocabSize()), ModelSeed)
	if err := model.Save(filepath.Join(modelDir, clip.WeightsFile)); err != nil {
		return fmt.Errorf("demo model: %w", err)
	}
	if err := data.WriteDemo(filepath.Join(dir, DataDir)); err != nil {
		return fmt.Errorf("demo dataset: %w", err)
	}
	return nil
}
