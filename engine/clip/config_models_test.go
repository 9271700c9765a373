package clip

import (
	"slices"
	"testing"
)

// OpenAI's other released shapes infer the way build_model infers them:
// ViT-B/32 (7×7 patches of 32) and ViT-L/14 (16×16 patches of 14, 24
// vision layers, a 768-wide text tower with 12 heads).
func TestConfigFromShapesOfOtherOpenAIModels(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		known map[string][]int // tensors whose shape the released checkpoint has
	}{
		{"ViT-B/32", Config{EmbedDim: 512, ImageResolution: 224, PatchSize: 32, VisionWidth: 768, VisionLayers: 12, VisionHeads: 12,
			ContextLength: 77, VocabSize: 49408, TextWidth: 512, TextLayers: 12, TextHeads: 8},
			map[string][]int{"visual.conv1.weight": {768, 3, 32, 32}, "visual.positional_embedding": {50, 768}, "visual.proj": {768, 512}}},
		{"ViT-L/14", Config{EmbedDim: 768, ImageResolution: 224, PatchSize: 14, VisionWidth: 1024, VisionLayers: 24, VisionHeads: 16,
			ContextLength: 77, VocabSize: 49408, TextWidth: 768, TextLayers: 12, TextHeads: 12},
			map[string][]int{"visual.conv1.weight": {1024, 3, 14, 14}, "visual.positional_embedding": {257, 1024},
				"text_projection": {768, 768}, "token_embedding.weight": {49408, 768}, "transformer.resblocks.11.attn.in_proj_weight": {2304, 768}}},
	}
	for _, c := range cases {
		shapes := c.cfg.Shapes()
		for name, want := range c.known {
			if got := shapes[name]; !slices.Equal(got, want) {
				t.Errorf("%s: %s has shape %v, the released checkpoint %v", c.name, name, got, want)
			}
		}
		got, err := ConfigFromShapes(shapes)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.cfg {
			t.Errorf("%s: inferred %+v, want %+v", c.name, got, c.cfg)
		}
	}
}
