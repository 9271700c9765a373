// Package demo writes the built-in demo that `make run` uses on any machine
// with no download: a tiny CLIP-shaped model pre-trained here, a BPE
// vocabulary learned from a small corpus, and the synthetic JPEG datasets.
// The model learns contrastively, as CLIP did, from synthetic pictures of
// the demo's shapes and textures in every colour with captions in the
// vocabulary's words (data.DemoPairs), so that its zero-shot accuracy means
// something and prompt tuning has something to improve. The files use the
// real formats (OpenAI-named safetensors, OpenAI's merges-file format,
// CoOp's split json), so the demo goes through exactly the code paths real
// weights and datasets take.
package demo

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/tokenizer"
)

// Layout of a demo directory.
const (
	ModelDir       = "model"
	DataDir        = "data"
	VocabularyFile = "bpe_vocab.txt.gz" // read by the trainer like OpenAI's bpe_simple_vocab_16e6.txt.gz
	// Merges bounds the demo vocabulary's merge list (512 byte symbols +
	// merges + 2 special tokens); training stops earlier, once every corpus
	// word is one token.
	Merges = 4000
	// ModelSeed fixes the demo model's initial weights.
	ModelSeed = 1
)

// corpus is what the demo vocabulary is learned from: the template, the
// demo's class names and a few hundred ordinary caption words, so that DPT
// has real whole words to choose from. With too few words the vocabulary
// would be mostly byte tokens, many of which (the bytes of multi-byte UTF-8
// characters) can never pass Algorithm 1's decode/encode round trip.
func corpus() []string {
	texts := []string{
		ContextTemplate + ".",
		"this is a photo of my favourite, it's nice! #photo :)",
		"conveniently photograph flowering flower beautiful abstract inspirational picture another assuming",
	}
	texts = append(texts, strings.Fields(captionWords)...)
	texts = append(texts, data.DemoCaptionWords()...)
	for _, c := range data.DemoClassNames() {
		texts = append(texts, "a photo of a "+c+".", c, c+"s", "the "+c)
	}
	return texts
}

// captionWords are words of photo captions and of the demo's pictures.
const captionWords = `
a an the this that these those one two three four five many some every each
photo photos photograph picture pictures image images drawing painting sketch
rendering render print poster card icon logo symbol sign pattern texture shape
shapes figure form outline silhouette pixel pixels art artwork graphic graphics
close-up closeup cropped blurry sharp bright dark light pale vivid dull clean
dirty noisy smooth rough good bad nice great beautiful ugly cool weird strange
small tiny little big large huge giant wide narrow thin thick long short tall
round square flat curved straight pointed striped dotted spotted plain solid
hollow filled empty full open closed simple complex centred centered middle
left right top bottom edge corner border background foreground inside outside
red green blue yellow orange purple violet pink brown black white grey gray
teal cyan magenta gold silver colour color colours colors colourful colorful
circle circles square squares triangle triangles cross crosses ring rings
stripe stripes dot dots diamond diamonds star stars heart hearts moon sun
line lines box boxes ball balls disc disk spot spots check checks grid grids
wave waves zigzag spiral arrow arrows block blocks tile tiles frame frames
of in on at by with for from to into over under above below near behind
and or but not no yes very quite really just only also still even
is are was were be been being has have had do does did can could will would
my your his her its our their me you he she it we they them us
looks looking seen shown showing taken made drawn painted printed found
day night morning evening summer winter spring autumn rain snow sky cloud
cat dog bird fish tree leaf flower plant house car road city street table
cup bowl plate bottle chair door window wall floor paper screen book toy
game team kid kids family friend friends love happy fun today new old best
favourite favorite amazing awesome lovely pretty cute perfect classic modern
`

// ContextTemplate is the seed's CTX_INIT.
const ContextTemplate = "a photo of a"

// Write writes <dir>/model (model.safetensors + bpe_vocab.txt.gz) and
// <dir>/data (the demo datasets), pre-training the model on b and writing
// its progress to log (nil: none). The output is the same bytes on every
// run on the same backend (the CPU backend's are the demo's); files already
// right are left alone, and a model file pre-trained with the same recipe,
// vocabulary and data is not trained again.
func Write(dir string, b backend.Backend, log io.Writer) error {
	return write(dir, b, log, pretraining)
}

// write is Write with another recipe (tests train for a few steps).
func write(dir string, b backend.Backend, log io.Writer, r func(vocabSize int) recipe) error {
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
	if err := data.WriteDemo(filepath.Join(dir, DataDir)); err != nil {
		return fmt.Errorf("demo dataset: %w", err)
	}
	if err := writeModel(filepath.Join(modelDir, clip.WeightsFile), vocabPath, b, r(tok.VocabSize()), log); err != nil {
		return fmt.Errorf("demo model: %w", err)
	}
	return nil
}
