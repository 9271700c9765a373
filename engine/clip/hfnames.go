package clip

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Hugging Face's CLIPModel stores the same weights as OpenAI's checkpoints
// under other names, with three layout differences: each attention's
// in_proj is split into q_proj, k_proj and v_proj (rows in that order), and
// the two projections are nn.Linear weights, i.e. the transposes of OpenAI's
// x@P matrices. The table is that of transformers'
// convert_clip_original_pytorch_to_hf.py.

const (
	hfTextBlockPrefix   = "text_model.encoder.layers."
	hfVisionBlockPrefix = "vision_model.encoder.layers."
)

// hfRenames maps OpenAI names outside the blocks to HF names, and
// hfBlockRenames the names inside a block (after the block prefix).
var (
	hfRenames = map[string]string{
		"token_embedding.weight":      "text_model.embeddings.token_embedding.weight",
		"positional_embedding":        "text_model.embeddings.position_embedding.weight",
		"ln_final.weight":             "text_model.final_layer_norm.weight",
		"ln_final.bias":               "text_model.final_layer_norm.bias",
		"text_projection":             "text_projection.weight", // transposed
		"visual.conv1.weight":         "vision_model.embeddings.patch_embedding.weight",
		"visual.class_embedding":      "vision_model.embeddings.class_embedding",
		"visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
		"visual.ln_pre.weight":        "vision_model.pre_layrnorm.weight", // sic
		"visual.ln_pre.bias":          "vision_model.pre_layrnorm.bias",
		"visual.ln_post.weight":       "vision_model.post_layernorm.weight",
		"visual.ln_post.bias":         "vision_model.post_layernorm.bias",
		"visual.proj":                 "visual_projection.weight", // transposed
		"logit_scale":                 "logit_scale",
	}
	hfBlockRenames = map[string]string{
		"ln_1.weight":          "layer_norm1.weight",
		"ln_1.bias":            "layer_norm1.bias",
		"attn.out_proj.weight": "self_attn.out_proj.weight",
		"attn.out_proj.bias":   "self_attn.out_proj.bias",
		"ln_2.weight":          "layer_norm2.weight",
		"ln_2.bias":            "layer_norm2.bias",
		"mlp.c_fc.weight":      "mlp.fc1.weight",
		"mlp.c_fc.bias":        "mlp.fc1.bias",
		"mlp.c_proj.weight":    "mlp.fc2.weight",
		"mlp.c_proj.bias":      "mlp.fc2.bias",
	}
	// hfTransposed are the OpenAI names whose HF tensor is the transpose.
	hfTransposed = map[string]bool{"text_projection": true, "visual.proj": true}
)

// hfSource says which HF tensors one OpenAI tensor is made of: one renamed
// (possibly transposed) tensor, or the q, k, v parts stacked by rows.
type hfSource struct {
	names     []string
	transpose bool
}

// hfSources lists, for every tensor of a model with configuration c, the HF
// tensors it comes from.
func hfSources(c Config) map[string]hfSource {
	out := map[string]hfSource{}
	for oa, hf := range hfRenames {
		out[oa] = hfSource{names: []string{hf}, transpose: hfTransposed[oa]}
	}
	for _, tower := range []struct {
		oaPrefix, hfPrefix string
		layers             int
	}{{textBlockPrefix, hfTextBlockPrefix, c.TextLayers}, {visionBlockPrefix, hfVisionBlockPrefix, c.VisionLayers}} {
		for i := range tower.layers {
			oa, hf := tower.oaPrefix+strconv.Itoa(i)+".", tower.hfPrefix+strconv.Itoa(i)+"."
			for oaName, hfName := range hfBlockRenames {
				out[oa+oaName] = hfSource{names: []string{hf + hfName}}
			}
			for _, kind := range []string{"weight", "bias"} {
				var parts []string
				for _, qkv := range []string{"q", "k", "v"} {
					parts = append(parts, hf+"self_attn."+qkv+"_proj."+kind)
				}
				out[oa+"attn.in_proj_"+kind] = hfSource{names: parts}
			}
		}
	}
	return out
}

// hfIgnored reports HF tensors that are not weights: the position_ids
// buffers (0…n-1) that older transformers versions saved.
func hfIgnored(name string) bool {
	return name == "text_model.embeddings.position_ids" || name == "vision_model.embeddings.position_ids"
}

// IsHFNaming reports whether tensor names follow Hugging Face's CLIPModel
// (text_model.*, vision_model.*, *_projection.weight) rather than OpenAI's.
func IsHFNaming(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, "text_model.") || strings.HasPrefix(n, "vision_model.") ||
			n == "text_projection.weight" || n == "visual_projection.weight" {
			return true
		}
	}
	return false
}

// hfConfig infers the configuration from HF tensors by renaming those that
// map one to one and applying OpenAI's rule (ConfigFromShapes) to them, so
// that both namings are read by the same rule.
func hfConfig(tensors map[string]Tensor) (Config, error) {
	reverse := map[string]string{}
	for oa, hf := range hfRenames {
		reverse[hf] = oa
	}
	// Name the HF tensor when one the rule needs is absent.
	for _, oa := range []string{"visual.conv1.weight", "visual.positional_embedding", "text_projection",
		"positional_embedding", "token_embedding.weight", "ln_final.weight"} {
		if _, ok := tensors[hfRenames[oa]]; !ok {
			return Config{}, fmt.Errorf("clip: tensor %q is missing (Hugging Face CLIPModel naming)", hfRenames[oa])
		}
	}
	shapes := map[string][]int{}
	for name, t := range tensors {
		if oa, ok := reverse[name]; ok {
			s := t.Shape
			if hfTransposed[oa] && len(s) == 2 {
				s = []int{s[1], s[0]}
			}
			shapes[oa] = s
			continue
		}
		// Block tensors only tell the layer count: keep their index.
		for _, p := range [][2]string{{hfTextBlockPrefix, textBlockPrefix}, {hfVisionBlockPrefix, visionBlockPrefix}} {
			if rest, ok := strings.CutPrefix(name, p[0]); ok {
				shapes[p[1]+rest] = t.Shape
			}
		}
	}
	c, err := ConfigFromShapes(shapes)
	if err != nil {
		return Config{}, fmt.Errorf("%w (Hugging Face CLIPModel tensors, read under their OpenAI names)", err)
	}
	return c, nil
}

// FromHFNames maps the tensors of a Hugging Face CLIPModel state dict to
// OpenAI's names and layouts: q/k/v projections are stacked into in_proj
// (rows q, k, v), text_projection.weight and visual_projection.weight are
// transposed into text_projection and visual.proj, everything else is
// renamed. position_ids are dropped. Every tensor of the inferred
// configuration must be present with its exact shape and no other tensor
// may be: otherwise nothing is returned and the error names the first
// offending tensor by its HF name. Renamed tensors share their Data with
// the input.
func FromHFNames(tensors map[string]Tensor) (map[string]Tensor, error) {
	cfg, err := hfConfig(tensors)
	if err != nil {
		return nil, err
	}
	oaShapes := cfg.Shapes()
	sources := hfSources(cfg)
	expected := map[string]bool{}
	var problems []string
	for oa, src := range sources {
		want := oaShapes[oa]
		if len(src.names) == 3 { // a q, k or v part is a third of in_proj's rows
			want = slices.Clone(want)
			want[0] /= 3
		} else if src.transpose {
			want = []int{want[1], want[0]}
		}
		for _, hf := range src.names {
			expected[hf] = true
			t, ok := tensors[hf]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("tensor %q is missing", hf))
			case !sameShape(t.Shape, want):
				problems = append(problems, fmt.Sprintf("tensor %q has shape %v, want %v", hf, t.Shape, want))
			case len(t.Data) != t.Numel():
				problems = append(problems, fmt.Sprintf("tensor %q has %d values for shape %v", hf, len(t.Data), t.Shape))
			}
		}
	}
	for name := range tensors {
		if !expected[name] && !hfIgnored(name) {
			problems = append(problems, fmt.Sprintf("tensor %q is not a parameter of Hugging Face CLIPModel %s", name, describe(cfg)))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		msg := "clip: " + problems[0]
		if len(problems) > 1 {
			msg += fmt.Sprintf(" (and %d more problems)", len(problems)-1)
		}
		return nil, fmt.Errorf("%s", msg)
	}
	out := make(map[string]Tensor, len(sources))
	for oa, src := range sources {
		shape := slices.Clone(oaShapes[oa])
		switch {
		case len(src.names) == 3:
			data := make([]float32, 0, Tensor{Shape: shape}.Numel())
			for _, hf := range src.names {
				data = append(data, tensors[hf].Data...)
			}
			out[oa] = Tensor{Shape: shape, Data: data}
		case src.transpose:
			hf := tensors[src.names[0]]
			out[oa] = Tensor{Shape: shape, Data: transposed(hf.Data, hf.Shape[0], hf.Shape[1])}
		default:
			t := tensors[src.names[0]]
			if len(t.Shape) == 1 && len(shape) == 0 { // keep a [1] logit_scale as stored
				shape = slices.Clone(t.Shape)
			}
			out[oa] = Tensor{Shape: shape, Data: t.Data}
		}
	}
	return out, nil
}
