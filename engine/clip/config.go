package clip

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Config holds the hyper-parameters of a ViT CLIP model, named after the
// arguments of OpenAI's CLIP constructor.
type Config struct {
	EmbedDim        int // joint embedding size (ViT-B/16: 512)
	ImageResolution int // input side in pixels (224)
	PatchSize       int // conv1 kernel and stride (16)
	VisionWidth     int // ViT residual width (768)
	VisionLayers    int // ViT blocks (12)
	VisionHeads     int // VisionWidth/64 (12)
	ContextLength   int // text positions (77)
	VocabSize       int // token embedding rows (49408)
	TextWidth       int // text residual width (512)
	TextLayers      int // text blocks (12)
	TextHeads       int // TextWidth/64 (8)
}

// headWidth is the per-head width OpenAI's build_model assumes when it
// derives the head counts from a checkpoint.
const headWidth = 64

// ViTB16 is the configuration of OpenAI's ViT-B/16 checkpoint.
var ViTB16 = Config{EmbedDim: 512, ImageResolution: 224, PatchSize: 16, VisionWidth: 768, VisionLayers: 12, VisionHeads: 12,
	ContextLength: 77, VocabSize: 49408, TextWidth: 512, TextLayers: 12, TextHeads: 8}

// DemoConfig is the small built-in model's configuration for a tokenizer of
// vocabSize tokens: the same architecture as ViT-B/16, shrunk (one 64-wide
// head, two layers per tower, 32-pixel images in a 4×4 grid of patches) so
// that pre-training it takes seconds on a CPU and a DPT step milliseconds.
func DemoConfig(vocabSize int) Config {
	return Config{EmbedDim: 64, ImageResolution: 32, PatchSize: 8, VisionWidth: 64, VisionLayers: 2, VisionHeads: 1,
		ContextLength: 77, VocabSize: vocabSize, TextWidth: 64, TextLayers: 2, TextHeads: 1}
}

// Grid is the number of patches along each image side.
func (c Config) Grid() int { return c.ImageResolution / c.PatchSize }

// Validate reports the first inconsistent field. Head counts must be
// width/64, because that is what ConfigFromShapes infers back from the
// tensors: any other count would not survive Save and Load.
func (c Config) Validate() error {
	fields := []struct {
		name string
		v    int
	}{{"EmbedDim", c.EmbedDim}, {"ImageResolution", c.ImageResolution}, {"PatchSize", c.PatchSize},
		{"VisionWidth", c.VisionWidth}, {"VisionLayers", c.VisionLayers}, {"VisionHeads", c.VisionHeads},
		{"ContextLength", c.ContextLength}, {"VocabSize", c.VocabSize}, {"TextWidth", c.TextWidth},
		{"TextLayers", c.TextLayers}, {"TextHeads", c.TextHeads}}
	for _, f := range fields {
		if f.v <= 0 {
			return fmt.Errorf("clip: config %s = %d, must be positive", f.name, f.v)
		}
	}
	if c.ImageResolution%c.PatchSize != 0 {
		return fmt.Errorf("clip: config ImageResolution %d is not a multiple of PatchSize %d", c.ImageResolution, c.PatchSize)
	}
	for _, w := range []struct {
		name          string
		width, heads  int
		wName, hField string
	}{{"vision", c.VisionWidth, c.VisionHeads, "VisionWidth", "VisionHeads"}, {"text", c.TextWidth, c.TextHeads, "TextWidth", "TextHeads"}} {
		if w.width%headWidth != 0 {
			return fmt.Errorf("clip: config %s %d is not a multiple of the head width %d", w.wName, w.width, headWidth)
		}
		if w.heads != w.width/headWidth {
			return fmt.Errorf("clip: config %s %d, must be %s/%d = %d", w.hField, w.heads, w.wName, headWidth, w.width/headWidth)
		}
	}
	return nil
}

// Shapes lists every tensor of a model with this configuration, by its
// OpenAI name.
func (c Config) Shapes() map[string][]int {
	s := map[string][]int{
		"token_embedding.weight":      {c.VocabSize, c.TextWidth},
		"positional_embedding":        {c.ContextLength, c.TextWidth},
		"ln_final.weight":             {c.TextWidth},
		"ln_final.bias":               {c.TextWidth},
		"text_projection":             {c.TextWidth, c.EmbedDim},
		"visual.conv1.weight":         {c.VisionWidth, 3, c.PatchSize, c.PatchSize},
		"visual.class_embedding":      {c.VisionWidth},
		"visual.positional_embedding": {c.Grid()*c.Grid() + 1, c.VisionWidth},
		"visual.ln_pre.weight":        {c.VisionWidth},
		"visual.ln_pre.bias":          {c.VisionWidth},
		"visual.ln_post.weight":       {c.VisionWidth},
		"visual.ln_post.bias":         {c.VisionWidth},
		"visual.proj":                 {c.VisionWidth, c.EmbedDim},
		"logit_scale":                 {},
	}
	addBlocks := func(prefix string, layers, w int) {
		for i := range layers {
			p := prefix + strconv.Itoa(i) + "."
			s[p+"ln_1.weight"] = []int{w}
			s[p+"ln_1.bias"] = []int{w}
			s[p+"attn.in_proj_weight"] = []int{3 * w, w}
			s[p+"attn.in_proj_bias"] = []int{3 * w}
			s[p+"attn.out_proj.weight"] = []int{w, w}
			s[p+"attn.out_proj.bias"] = []int{w}
			s[p+"ln_2.weight"] = []int{w}
			s[p+"ln_2.bias"] = []int{w}
			s[p+"mlp.c_fc.weight"] = []int{4 * w, w}
			s[p+"mlp.c_fc.bias"] = []int{4 * w}
			s[p+"mlp.c_proj.weight"] = []int{w, 4 * w}
			s[p+"mlp.c_proj.bias"] = []int{w}
		}
	}
	addBlocks(textBlockPrefix, c.TextLayers, c.TextWidth)
	addBlocks(visionBlockPrefix, c.VisionLayers, c.VisionWidth)
	return s
}

const (
	textBlockPrefix   = "transformer.resblocks."
	visionBlockPrefix = "visual.transformer.resblocks."
)

// ignoredTensors are entries of OpenAI's state dict that are not parameters.
var ignoredTensors = map[string]bool{"input_resolution": true, "context_length": true, "vocab_size": true}

// ConfigFromShapes infers the configuration from tensor shapes the way
// OpenAI's build_model does: widths from the LayerNorm/conv shapes, heads as
// width/64, layer counts from the block indices present, the patch grid from
// the rows of visual.positional_embedding. Only ViT models are supported.
func ConfigFromShapes(shapes map[string][]int) (Config, error) {
	get := func(name string, dims int) ([]int, error) {
		s, ok := shapes[name]
		if !ok {
			return nil, fmt.Errorf("clip: tensor %q is missing", name)
		}
		if len(s) != dims {
			return nil, fmt.Errorf("clip: tensor %q has shape %v, want %d dimensions", name, s, dims)
		}
		for _, d := range s {
			if d <= 0 {
				return nil, fmt.Errorf("clip: tensor %q has shape %v with a non-positive dimension", name, s)
			}
		}
		return s, nil
	}
	if _, ok := shapes["visual.proj"]; !ok {
		if _, resnet := shapes["visual.attnpool.c_proj.weight"]; resnet {
			return Config{}, fmt.Errorf("clip: tensor %q is missing: this is a ResNet CLIP, only ViT models are supported", "visual.proj")
		}
	}
	var c Config
	conv, err := get("visual.conv1.weight", 4)
	if err != nil {
		return Config{}, err
	}
	if conv[1] != 3 || conv[2] != conv[3] {
		return Config{}, fmt.Errorf("clip: tensor %q has shape %v, want [width,3,patch,patch]", "visual.conv1.weight", conv)
	}
	c.VisionWidth, c.PatchSize = conv[0], conv[3]
	vpos, err := get("visual.positional_embedding", 2)
	if err != nil {
		return Config{}, err
	}
	grid := int(math.Round(math.Sqrt(float64(vpos[0] - 1))))
	if grid*grid+1 != vpos[0] {
		return Config{}, fmt.Errorf("clip: tensor %q has %d rows, not grid²+1 for a square patch grid", "visual.positional_embedding", vpos[0])
	}
	c.ImageResolution = grid * c.PatchSize
	proj, err := get("text_projection", 2)
	if err != nil {
		return Config{}, err
	}
	c.EmbedDim = proj[1]
	pos, err := get("positional_embedding", 2)
	if err != nil {
		return Config{}, err
	}
	c.ContextLength = pos[0]
	tok, err := get("token_embedding.weight", 2)
	if err != nil {
		return Config{}, err
	}
	c.VocabSize = tok[0]
	lnf, err := get("ln_final.weight", 1)
	if err != nil {
		return Config{}, err
	}
	c.TextWidth = lnf[0]
	c.TextHeads = c.TextWidth / headWidth
	c.VisionHeads = c.VisionWidth / headWidth
	if c.TextLayers, err = countBlocks(shapes, textBlockPrefix); err != nil {
		return Config{}, err
	}
	if c.VisionLayers, err = countBlocks(shapes, visionBlockPrefix); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (inferred from the tensor shapes)", err)
	}
	return c, nil
}

// countBlocks counts the distinct block indices under prefix. Gaps are not
// detected here; the shape check of FromTensors reports them by name.
func countBlocks(shapes map[string][]int, prefix string) (int, error) {
	seen := map[int]bool{}
	names := make([]string, 0, len(shapes))
	for name := range shapes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 {
			return 0, fmt.Errorf("clip: tensor %q: block index %q is not a non-negative integer", name, idx)
		}
		seen[i] = true
	}
	if len(seen) == 0 {
		return 0, fmt.Errorf("clip: no tensors named %s{i}.* (no transformer blocks)", prefix)
	}
	return len(seen), nil
}
