// Package clip is OpenAI's ViT CLIP in fp32 on any engine/backend, with the
// two additions DPT needs: learned embeddings in the first n_ctx slots of
// the text prompt, and extra prompt tokens appended to the ViT sequence.
// In DPT both towers are frozen: its backward passes return gradients with
// respect to those prompt inputs only. A Training (train.go) is the other
// use: it trains every weight with CLIP's own contrastive objective, through
// the same blocks' forward and backward passes (the built-in demo model is
// pre-trained so).
//
// A Model holds the weights on the host, under OpenAI's state-dict names and
// layouts (text_projection and visual.proj are [width,embed] matrices
// applied as x@P). Model.On puts them on a backend, once per backend, and
// returns a Runner: the passes, the DPT objective, the visual prompts and
// the logits, over buffers of that backend, in workspaces reused from step
// to step.
package clip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/fomo-grid/grid/engine/safetensors"
)

// Tensor is a named parameter's shape and row-major float32 data.
type Tensor = safetensors.Tensor

// WeightsFile is the file Load reads inside a model directory.
const WeightsFile = "model.safetensors"

// block is one residual attention block: x += attn(ln_1(x)); x += mlp(ln_2(x)).
type block struct {
	ln1W, ln1B       []float32 // [w]
	inProjW, inProjB []float32 // [3w,w], [3w]: q, k, v stacked
	outW, outB       []float32 // [w,w], [w]
	ln2W, ln2B       []float32 // [w]
	fcW, fcB         []float32 // [4w,w], [4w]
	projW, projB     []float32 // [w,4w], [w]
}

// transformer is a stack of blocks of one width.
type transformer struct {
	width, heads int
	blocks       []block
}

// Model is a CLIP model. Only a Training changes its weights.
type Model struct {
	Config Config

	// Observe, when not nil, is called with the residual stream entering
	// each tower's first block and after every block, by every forward pass
	// of the Runners of this model (a DPT step then never reuses a text
	// pass). It is called on the goroutine running the pass. To observe
	// without affecting other users of a model, set it on a copy: o := *m;
	// o.Observe = f; o.On(b) (the copy shares the weights, on the host and
	// on every backend).
	Observe Observer

	tokenEmbedding      []float32 // [vocab, textWidth]
	positionalEmbedding []float32 // [context, textWidth]
	text                transformer
	lnFinalW, lnFinalB  []float32
	textProjection      []float32 // [textWidth, embed], x@P

	conv1          []float32 // [visionWidth, 3·p·p]: a Linear weight over flattened patches
	classEmbedding []float32 // [visionWidth]
	visionPos      []float32 // [grid²+1, visionWidth]
	lnPreW, lnPreB []float32
	vision         transformer
	lnPostW        []float32
	lnPostB        []float32
	visualProj     []float32 // [visionWidth, embed], x@P

	logitScale []float32 // [1]: ln of the logit multiplier

	devices *deviceCache // the weights on each backend, shared by copies
}

// param ties a state-dict name to the field holding it.
type param struct {
	name  string
	shape []int
	data  *[]float32
}

// params lists every parameter in a fixed order (the order NewRandom draws
// them in). It allocates the block slices for the configured layer counts.
func (m *Model) params() []param {
	c := m.Config
	ps := []param{
		{"token_embedding.weight", []int{c.VocabSize, c.TextWidth}, &m.tokenEmbedding},
		{"positional_embedding", []int{c.ContextLength, c.TextWidth}, &m.positionalEmbedding},
	}
	blockParams := func(prefix string, t *transformer, layers, w int) {
		t.width, t.heads = w, w/headWidth
		if len(t.blocks) != layers {
			t.blocks = make([]block, layers)
		}
		for i := range t.blocks {
			b := &t.blocks[i]
			p := prefix + strconv.Itoa(i) + "."
			ps = append(ps,
				param{p + "ln_1.weight", []int{w}, &b.ln1W},
				param{p + "ln_1.bias", []int{w}, &b.ln1B},
				param{p + "attn.in_proj_weight", []int{3 * w, w}, &b.inProjW},
				param{p + "attn.in_proj_bias", []int{3 * w}, &b.inProjB},
				param{p + "attn.out_proj.weight", []int{w, w}, &b.outW},
				param{p + "attn.out_proj.bias", []int{w}, &b.outB},
				param{p + "ln_2.weight", []int{w}, &b.ln2W},
				param{p + "ln_2.bias", []int{w}, &b.ln2B},
				param{p + "mlp.c_fc.weight", []int{4 * w, w}, &b.fcW},
				param{p + "mlp.c_fc.bias", []int{4 * w}, &b.fcB},
				param{p + "mlp.c_proj.weight", []int{w, 4 * w}, &b.projW},
				param{p + "mlp.c_proj.bias", []int{w}, &b.projB},
			)
		}
	}
	blockParams(textBlockPrefix, &m.text, c.TextLayers, c.TextWidth)
	ps = append(ps,
		param{"ln_final.weight", []int{c.TextWidth}, &m.lnFinalW},
		param{"ln_final.bias", []int{c.TextWidth}, &m.lnFinalB},
		param{"text_projection", []int{c.TextWidth, c.EmbedDim}, &m.textProjection},
		param{"visual.conv1.weight", []int{c.VisionWidth, 3, c.PatchSize, c.PatchSize}, &m.conv1},
		param{"visual.class_embedding", []int{c.VisionWidth}, &m.classEmbedding},
		param{"visual.positional_embedding", []int{c.Grid()*c.Grid() + 1, c.VisionWidth}, &m.visionPos},
		param{"visual.ln_pre.weight", []int{c.VisionWidth}, &m.lnPreW},
		param{"visual.ln_pre.bias", []int{c.VisionWidth}, &m.lnPreB},
	)
	blockParams(visionBlockPrefix, &m.vision, c.VisionLayers, c.VisionWidth)
	ps = append(ps,
		param{"visual.ln_post.weight", []int{c.VisionWidth}, &m.lnPostW},
		param{"visual.ln_post.bias", []int{c.VisionWidth}, &m.lnPostB},
		param{"visual.proj", []int{c.VisionWidth, c.EmbedDim}, &m.visualProj},
		param{"logit_scale", []int{}, &m.logitScale},
	)
	return ps
}

// FromTensors builds a model from OpenAI-named tensors (any source format
// maps into this). The configuration is inferred from the shapes; every
// expected tensor must be present with its exact shape, and no other names
// are allowed except input_resolution, context_length and vocab_size. The
// model takes ownership of the tensors' Data. On error nothing is built and
// the error names the offending tensor.
func FromTensors(tensors map[string]Tensor) (*Model, error) {
	shapes := make(map[string][]int, len(tensors))
	for name, t := range tensors {
		shapes[name] = t.Shape
	}
	cfg, err := ConfigFromShapes(shapes)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, devices: &deviceCache{}}
	ps := m.params()
	expected := make(map[string]bool, len(ps))
	var problems []string
	for _, p := range ps {
		expected[p.name] = true
		t, ok := tensors[p.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("tensor %q is missing", p.name))
		case !sameShape(t.Shape, p.shape):
			problems = append(problems, fmt.Sprintf("tensor %q has shape %v, want %v", p.name, t.Shape, p.shape))
		case len(t.Data) != t.Numel():
			problems = append(problems, fmt.Sprintf("tensor %q has %d values for shape %v", p.name, len(t.Data), t.Shape))
		}
	}
	for name := range tensors {
		if !expected[name] && !ignoredTensors[name] {
			problems = append(problems, fmt.Sprintf("tensor %q is not a parameter of CLIP %s", name, describe(cfg)))
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
	for _, p := range ps {
		*p.data = tensors[p.name].Data
	}
	return m, nil
}

// sameShape compares shapes, treating a 1-element vector like a scalar
// (logit_scale is stored both ways).
func sameShape(got, want []int) bool {
	if len(want) == 0 && len(got) == 1 && got[0] == 1 {
		return true
	}
	return slices.Equal(got, want)
}

func describe(c Config) string {
	return fmt.Sprintf("ViT width %d, %d layers, patch %d, %dpx; text width %d, %d layers", c.VisionWidth, c.VisionLayers, c.PatchSize, c.ImageResolution, c.TextWidth, c.TextLayers)
}

// Load reads the model at path: a weights file, or a model directory
// whose weights file ResolveWeights picks (model.safetensors, else the only
// *.pt or *.pth); ReadTensors lists the formats.
func Load(path string) (*Model, error) {
	file, err := ResolveWeights(path)
	if err != nil {
		return nil, err
	}
	return LoadFile(file)
}

// Tensors returns the parameters by OpenAI name. The Data slices are the
// model's own: do not modify them.
func (m *Model) Tensors() map[string]Tensor {
	out := map[string]Tensor{}
	for _, p := range m.params() {
		out[p.name] = Tensor{Shape: slices.Clone(p.shape), Data: *p.data}
	}
	return out
}

// Save writes the parameters as an OpenAI-named F32 safetensors file,
// atomically.
func (m *Model) Save(path string) error {
	return safetensors.Write(path, m.Tensors(), map[string]string{"format": "pt"})
}

// NewRandom returns a model with deterministic random weights drawn like
// CLIP's initialize_parameters: token embedding N(0,.02), positional
// N(0,.01), attention input N(0,w^-½), attention output and MLP output
// N(0,w^-½·(2L)^-½), MLP input N(0,(2w)^-½), projections and the ViT's
// class/positional embeddings N(0,w^-½), conv1 and MLP biases U(±fan_in^-½),
// other biases 0, LayerNorms identity. Both towers use the same scheme, and
// logit_scale is ln 100, the pretrained model's value. It panics if cfg is
// invalid.
func NewRandom(cfg Config, seed uint64) *Model {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x636c6970))
	normal := func(s []float32, std float64) {
		for i := range s {
			s[i] = float32(rng.NormFloat64() * std)
		}
	}
	uniform := func(s []float32, bound float64) {
		for i := range s {
			s[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	m := &Model{Config: cfg, devices: &deviceCache{}}
	ps := m.params()
	for _, p := range ps {
		n := 1
		for _, d := range p.shape {
			n *= d
		}
		*p.data = make([]float32, n)
	}
	initTower := func(t *transformer) {
		w, layers := float64(t.width), float64(len(t.blocks))
		attnStd := math.Pow(w, -0.5)
		projStd := attnStd * math.Pow(2*layers, -0.5)
		fcStd := math.Pow(2*w, -0.5)
		for i := range t.blocks {
			b := &t.blocks[i]
			fill(b.ln1W, 1)
			fill(b.ln2W, 1)
			normal(b.inProjW, attnStd)
			normal(b.outW, projStd)
			normal(b.fcW, fcStd)
			uniform(b.fcB, math.Pow(w, -0.5))
			normal(b.projW, projStd)
			uniform(b.projB, math.Pow(4*w, -0.5))
		}
	}
	normal(m.tokenEmbedding, 0.02)
	normal(m.positionalEmbedding, 0.01)
	initTower(&m.text)
	fill(m.lnFinalW, 1)
	normal(m.textProjection, math.Pow(float64(cfg.TextWidth), -0.5))
	vScale := math.Pow(float64(cfg.VisionWidth), -0.5)
	uniform(m.conv1, math.Pow(float64(3*cfg.PatchSize*cfg.PatchSize), -0.5))
	normal(m.classEmbedding, vScale)
	normal(m.visionPos, vScale)
	fill(m.lnPreW, 1)
	initTower(&m.vision)
	fill(m.lnPostW, 1)
	normal(m.visualProj, vScale)
	m.logitScale[0] = float32(math.Log(100))
	return m
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}
