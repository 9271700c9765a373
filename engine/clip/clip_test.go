package clip

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
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
	if cfg.VisionHeads != 1 || cfg.TextHeads != 1 || cfg.Grid() != 4 {
		t.Fatalf("demo config %+v: want one head per tower and a 4×4 patch grid", cfg)
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
	if !reflect.DeepEqual(imageFeatures(t, runner(t, loaded), images, 2, nil), imageFeatures(t, runner(t, m), images, 2, nil)) {
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
