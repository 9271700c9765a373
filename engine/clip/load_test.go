package clip

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/safetensors"
	"github.com/fomo-grid/grid/engine/torchscript"
)

// The fixtures in testdata were written by testdata/make_fixtures.py from
// one tiny CLIP with OpenAI's parameter names and OpenAI's fp16 conversion.

func fixture(name string) string { return filepath.Join("testdata", name) }

// referenceTensors is PyTorch's state_dict of the fixture model, as float32.
func referenceTensors(t *testing.T) map[string]Tensor {
	t.Helper()
	ref, _, err := safetensors.Read(fixture("tiny_reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// withoutBuffers drops the non-parameter entries of OpenAI's state dict.
func withoutBuffers(m map[string]Tensor) map[string]Tensor {
	out := map[string]Tensor{}
	for n, t := range m {
		if !ignoredTensors[n] {
			out[n] = t
		}
	}
	return out
}

// equalTensors compares names, shapes and values bit for bit.
func equalTensors(t *testing.T, what string, got, want map[string]Tensor) {
	t.Helper()
	var gn, wn []string
	for n := range got {
		gn = append(gn, n)
	}
	for n := range want {
		wn = append(wn, n)
	}
	slices.Sort(gn)
	slices.Sort(wn)
	if !slices.Equal(gn, wn) {
		t.Fatalf("%s: tensor names\n got %v\nwant %v", what, gn, wn)
	}
	bad := 0
	for _, n := range wn {
		g, w := got[n], want[n]
		if !sameShape(g.Shape, w.Shape) && !sameShape(w.Shape, g.Shape) {
			t.Errorf("%s: %s has shape %v, want %v", what, n, g.Shape, w.Shape)
			bad++
			continue
		}
		for i := range w.Data {
			if i >= len(g.Data) || math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Errorf("%s: %s differs at element %d", what, n, i)
				bad++
				break
			}
		}
		if bad > 5 {
			t.FailNow()
		}
	}
}

// fp16Exact reports whether v survives a round trip through IEEE fp16.
func fp16Exact(v float32) bool {
	if v == 0 {
		return true
	}
	bits := math.Float32bits(v)
	exp := int(bits>>23&0xff) - 127
	switch {
	case exp > 15:
		return false
	case exp >= -14: // normal half: 10 fraction bits of float32's 23
		return bits&(1<<13-1) == 0
	}
	scaled := math.Abs(float64(v)) * (1 << 24) // subnormal half: multiples of 2⁻²⁴
	return scaled == math.Trunc(scaled)
}

// halvedByOpenAI follows convert_weights: Linear, Conv and attention
// weights and biases, text_projection and proj.
func halvedByOpenAI(name string) bool {
	for _, s := range []string{"attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
		"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return name == "visual.conv1.weight" || name == "text_projection" || name == "visual.proj"
}

func TestFixtureCarriesOpenAIHalves(t *testing.T) {
	// The fixtures must exercise fp16 decoding: OpenAI's halved tensors hold
	// fp16 values only, while the others (kept fp32) do not.
	ref := referenceTensors(t)
	halves := 0
	for name, tensor := range ref {
		exact := true
		for _, v := range tensor.Data {
			exact = exact && fp16Exact(v)
		}
		if halvedByOpenAI(name) {
			halves++
			if !exact {
				t.Errorf("%s should hold fp16 values only", name)
			}
		} else if exact && len(tensor.Data) > 1 && !ignoredTensors[name] {
			t.Errorf("%s is fp32 in the checkpoint, yet all its values are fp16-exact", name)
		}
	}
	if halves < 10 {
		t.Fatalf("only %d fp16 tensors in the fixture", halves)
	}
}

func TestReadTorchScriptAndStateDict(t *testing.T) {
	ref := referenceTensors(t)
	for _, file := range []string{"tiny_openai.pt", "tiny_state_dict.pt"} {
		got, err := torchscript.Read(fixture(file))
		if err != nil {
			t.Fatal(err)
		}
		// Every tensor of PyTorch's state_dict, buffers included, by the
		// same dotted name, fp16 ones widened exactly.
		equalTensors(t, file, got, ref)
	}
}

func TestLoadAllFormatsAgree(t *testing.T) {
	want := withoutBuffers(referenceTensors(t))
	for _, file := range []string{"tiny_openai.pt", "tiny_state_dict.pt", "tiny_hf.safetensors"} {
		t.Run(file, func(t *testing.T) {
			tensors, err := ReadTensors(fixture(file))
			if err != nil {
				t.Fatal(err)
			}
			equalTensors(t, "ReadTensors", withoutBuffers(tensors), want)

			// As a model directory holding only this file (a safetensors
			// file must be called model.safetensors there).
			dir := t.TempDir()
			name := file
			if strings.HasSuffix(file, ".safetensors") {
				name = WeightsFile
			}
			copyFile(t, fixture(file), filepath.Join(dir, name))
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			equalTensors(t, "Load", m.Tensors(), want)
			want := Config{EmbedDim: 32, ImageResolution: 16, PatchSize: 8, VisionWidth: 64, VisionLayers: 2, VisionHeads: 1,
				ContextLength: 16, VocabSize: 100, TextWidth: 64, TextLayers: 1, TextHeads: 1}
			if m.Config != want {
				t.Fatalf("config %+v, want %+v", m.Config, want)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadedFixtureMatchesPyTorchFeatures(t *testing.T) {
	// PyTorch's fp32 forward of the same weights (make_fixtures.py): the
	// loaded tensors are not only equal by name but used as PyTorch uses them.
	raw, err := os.ReadFile(fixture("tiny_features.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Images        []float32 `json:"images"`
		Batch         int       `json:"batch"`
		Tokens        [][]int   `json:"tokens"`
		ImageFeatures []float32 `json:"image_features"`
		TextFeatures  []float32 `json:"text_features"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(fixture("tiny_openai.pt"))
	if err != nil {
		t.Fatal(err)
	}
	closeTo := func(what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4+1e-4*math.Abs(float64(want[i])) {
				t.Fatalf("%s[%d] = %g, PyTorch %g", what, i, got[i], want[i])
			}
		}
	}
	// Compared before L2 normalisation, so that a scale error shows too.
	r := runner(t, m)
	img, err := r.ImageFeatures(f.Images, f.Batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := r.TextFeatures(f.Tokens, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeTo("image features", img.Raw, f.ImageFeatures)
	closeTo("text features", txt.Raw, f.TextFeatures)
}

// toHFNames is the inverse mapping, written out separately from
// FromHFNames so that the round trip checks one against the other.
func toHFNames(oa map[string]Tensor) map[string]Tensor {
	hf := map[string]Tensor{}
	transpose := func(t Tensor) Tensor {
		r, c := t.Shape[0], t.Shape[1]
		out := make([]float32, len(t.Data))
		cpu.Transpose(out, t.Data, r, c)
		return Tensor{Shape: []int{c, r}, Data: out}
	}
	for name, t := range oa {
		switch name {
		case "text_projection":
			hf["text_projection.weight"] = transpose(t)
			continue
		case "visual.proj":
			hf["visual_projection.weight"] = transpose(t)
			continue
		case "input_resolution", "context_length", "vocab_size":
			continue
		}
		if hfName, ok := hfRenames[name]; ok {
			hf[hfName] = t
			continue
		}
		prefix, hfPrefix := textBlockPrefix, hfTextBlockPrefix
		if strings.HasPrefix(name, visionBlockPrefix) {
			prefix, hfPrefix = visionBlockPrefix, hfVisionBlockPrefix
		}
		rest := strings.TrimPrefix(name, prefix)
		idx, field, _ := strings.Cut(rest, ".")
		p := hfPrefix + idx + "."
		switch field {
		case "attn.in_proj_weight", "attn.in_proj_bias":
			kind := strings.TrimPrefix(field, "attn.in_proj_")
			third := len(t.Data) / 3
			shape := slices.Clone(t.Shape)
			shape[0] /= 3
			for i, qkv := range []string{"q", "k", "v"} {
				hf[p+"self_attn."+qkv+"_proj."+kind] = Tensor{Shape: shape, Data: t.Data[i*third : (i+1)*third]}
			}
		default:
			hf[p+hfBlockRenames[field]] = t
		}
	}
	return hf
}

func TestHFNamesRoundTrip(t *testing.T) {
	m := NewRandom(tinyConfig, 5)
	hf := toHFNames(m.Tensors())
	if !IsHFNaming(slices.Collect(mapKeys(hf))) || IsHFNaming(slices.Collect(mapKeys(m.Tensors()))) {
		t.Fatal("IsHFNaming does not tell the two namings apart")
	}
	hf["vision_model.embeddings.position_ids"] = Tensor{Shape: []int{1, 5}, Data: []float32{0, 1, 2, 3, 4}}
	back, err := FromHFNames(hf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m.Tensors()) {
		equalTensors(t, "OpenAI → HF → OpenAI", back, m.Tensors())
		t.Fatal("round trip changed the tensors")
	}
}

func mapKeys(m map[string]Tensor) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestHFWriterMatchesPythonMapping(t *testing.T) {
	// The Go inverse of the round-trip test agrees with the Python mapping
	// that wrote tiny_hf.safetensors, so the round trip is anchored to an
	// independent reading of the HF layout.
	if _, _, err := safetensors.Read(fixture("tiny_hf.safetensors")); err == nil {
		t.Fatal("tiny_hf.safetensors holds int64 position_ids, which safetensors.Read cannot decode: the fixture lacks them")
	}
	got, err := readSafetensors(fixture("tiny_hf.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	equalTensors(t, "Go toHFNames vs Python", toHFNames(referenceTensors(t)), got)
}

func TestFromHFNamesErrorsNameTheTensor(t *testing.T) {
	fresh := func() map[string]Tensor { return toHFNames(NewRandom(tinyConfig, 3).Tensors()) }
	cases := []struct {
		name   string
		damage func(map[string]Tensor)
		want   string
	}{
		{"missing k bias", func(m map[string]Tensor) { delete(m, "vision_model.encoder.layers.1.self_attn.k_proj.bias") },
			`"vision_model.encoder.layers.1.self_attn.k_proj.bias" is missing`},
		{"missing final layer norm", func(m map[string]Tensor) { delete(m, "text_model.final_layer_norm.weight") },
			`"text_model.final_layer_norm.weight" is missing`},
		{"extra tensor", func(m map[string]Tensor) {
			m["vision_model.embeddings.patch_embedding.bias"] = Tensor{Shape: []int{64}, Data: make([]float32, 64)}
		}, `"vision_model.embeddings.patch_embedding.bias" is not a parameter`},
		{"mis-shaped q weight", func(m map[string]Tensor) {
			m["text_model.encoder.layers.0.self_attn.q_proj.weight"] = Tensor{Shape: []int{128, 64}, Data: make([]float32, 128*64)}
		}, `"text_model.encoder.layers.0.self_attn.q_proj.weight" has shape [128 64], want [128 128]`},
		{"untransposed projection", func(m map[string]Tensor) {
			p := m["text_projection.weight"] // [embed 32, text width 128]
			m["text_projection.weight"] = Tensor{Shape: []int{p.Shape[1], p.Shape[0]}, Data: p.Data}
		}, `"text_projection.weight" has shape [128 32], want [128 128]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := fresh()
			c.damage(m)
			out, err := FromHFNames(m)
			if err == nil {
				t.Fatal("no error")
			}
			if out != nil {
				t.Error("a partial result came back with the error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestResolveWeights(t *testing.T) {
	mk := func(files ...string) string {
		dir := t.TempDir()
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	cases := []struct {
		name    string
		dir     string
		want    string   // file picked, or "" for an error
		errWant []string // substrings of the error
	}{
		{"safetensors first", mk("ViT-B-16.pt", WeightsFile, "notes.txt"), WeightsFile, nil},
		{"single checkpoint", mk("ViT-B-16.pt", "tokenizer.json"), "ViT-B-16.pt", nil},
		{"pth", mk("weights.PTH"), "weights.PTH", nil},
		{"two checkpoints", mk("a.pt", "b.pth"), "", []string{"a.pt, b.pth", "keep one"}},
		{"nothing", mk("vocab.json"), "", []string{WeightsFile, "*.pt", "*.pth", "holds no weights"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveWeights(c.dir)
			if c.want != "" {
				if err != nil || got != filepath.Join(c.dir, c.want) {
					t.Fatalf("ResolveWeights = %q, %v; want %s", got, err, c.want)
				}
				// A file path is its own weights file.
				if again, err := ResolveWeights(got); err != nil || again != got {
					t.Fatalf("ResolveWeights(%s) = %q, %v", got, again, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("picked %s, want an error", got)
			}
			for _, w := range append(c.errWant, c.dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := ResolveWeights(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("a missing path resolved")
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	pt, err := os.ReadFile(fixture("tiny_openai.pt"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "ViT-B-16.pt")
	if err := os.WriteFile(truncated, pt[:len(pt)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), truncated) {
		t.Errorf("truncated checkpoint: error %v does not name %s", err, truncated)
	}

	// An HF file with a tensor missing: the file and the HF name.
	hf := toHFNames(NewRandom(tinyConfig, 3).Tensors())
	delete(hf, "vision_model.encoder.layers.0.mlp.fc2.bias")
	hfPath := filepath.Join(dir, "hf.safetensors")
	if err := safetensors.Write(hfPath, hf, nil); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(hfPath)
	if err == nil || !strings.Contains(err.Error(), hfPath) || !strings.Contains(err.Error(), "vision_model.encoder.layers.0.mlp.fc2.bias") {
		t.Errorf("HF file missing a tensor: error %v names neither the file nor the tensor", err)
	}

	// A state dict with an extra tensor: the file and the OpenAI name.
	oa := NewRandom(tinyConfig, 3).Tensors()
	oa["visual.conv1.bias"] = Tensor{Shape: []int{64}, Data: make([]float32, 64)}
	oaPath := filepath.Join(dir, "extra.safetensors")
	if err := safetensors.Write(oaPath, oa, nil); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(oaPath)
	if err == nil || !strings.Contains(err.Error(), oaPath) || !strings.Contains(err.Error(), `"visual.conv1.bias"`) {
		t.Errorf("extra tensor: error %v names neither the file nor the tensor", err)
	}
}

// runOneDPTStep runs batch 1, 2 classes, 4 context tokens with visual
// prompts, and checks that the loss and gradients are finite.
func runOneDPTStep(t *testing.T, m *Model) {
	t.Helper()
	c := m.Config
	sot, eot := c.VocabSize-2, c.VocabSize-1
	nCtx := 4
	tokens := [][]int{{sot, 1, 2, 3, 4, 320, eot}, {sot, 1, 2, 3, 4, 1929, 269, eot}}
	rngVals := func(n int, scale float32) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = scale * float32(math.Sin(float64(i)*0.7))
		}
		return out
	}
	r := runner(t, m)
	in := DPTInput{ClassTokens: tokens, NCtx: nCtx, CtxIDs: []int{320, 1125, 539, 518},
		ProjW: upload(t, r, rngVals(c.VisionWidth*c.TextWidth, 0.02)), ProjB: upload(t, r, make([]float32, c.VisionWidth)),
		Images: rngVals(3*c.ImageResolution*c.ImageResolution, 1), Batch: 1, Labels: []int{1}}
	stepOut := step(t, r, in, true)
	out := struct {
		Loss                 float32
		Logits, DCtx, DProjW []float32
	}{stepOut.loss, stepOut.logits, stepOut.dctx, stepOut.dprojW}
	finite := func(what string, xs []float32) {
		for i, x := range xs {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%s[%d] = %v", what, i, x)
			}
		}
	}
	finite("loss", []float32{out.Loss})
	finite("logits", out.Logits)
	finite("dctx", out.DCtx)
	finite("dprojw", out.DProjW)
	if len(out.DCtx) != nCtx*c.TextWidth {
		t.Fatalf("dctx has %d values", len(out.DCtx))
	}
}

// TestViTB16BothNamings takes about 35 s on two cores (half of it the DPT
// step), 2.2 GB of memory and 1.2 GB of temporary disk: -short skips it.
func TestViTB16BothNamings(t *testing.T) {
	if testing.Short() {
		t.Skip("ViT-B/16 round trip through both namings: about 35 s, skipped with -short")
	}
	start := time.Now()
	lap := func(what string) { t.Logf("%-22s %5.1f s", what, time.Since(start).Seconds()); start = time.Now() }
	m := NewRandom(ViTB16, 1)
	lap("NewRandom")
	oaDir, hfDir := t.TempDir(), t.TempDir()
	if err := m.Save(filepath.Join(oaDir, WeightsFile)); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(hfDir, WeightsFile), toHFNames(m.Tensors()), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	lap("write both")
	want := m.Tensors()
	for _, dir := range []string{oaDir, hfDir} {
		loaded, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		lap("load " + map[bool]string{true: "HF", false: "OpenAI"}[dir == hfDir])
		if loaded.Config != ViTB16 {
			t.Fatalf("config %+v, want ViT-B/16", loaded.Config)
		}
		got := loaded.Tensors()
		if len(got) != len(want) {
			t.Fatalf("%s: %d tensors, saved %d", dir, len(got), len(want))
		}
		for name, w := range want {
			if g := got[name]; !slices.Equal(g.Shape, w.Shape) || !slices.Equal(g.Data, w.Data) {
				t.Fatalf("%s: %s differs from the saved model", dir, name)
			}
		}
		lap("compare")
		if dir == hfDir {
			runOneDPTStep(t, loaded)
			lap("DPT step")
		}
	}
}

// TestViTB16TorchScript loads a ViT-B/16-shaped TorchScript archive written
// by PyTorch: make_fixtures.py --vit-b16 /tmp/vitb16.pt, then
// GRID_BIG_TESTS=1 GRID_TORCHSCRIPT_VITB16=/tmp/vitb16.pt go test -run ViTB16TorchScript -v.
// OpenAI's own ViT-B-16.pt can be named the same way.
func TestViTB16TorchScript(t *testing.T) {
	if os.Getenv("GRID_BIG_TESTS") != "1" {
		t.Skip("set GRID_BIG_TESTS=1 and GRID_TORCHSCRIPT_VITB16 to run")
	}
	path := os.Getenv("GRID_TORCHSCRIPT_VITB16")
	if path == "" {
		t.Skip("set GRID_TORCHSCRIPT_VITB16 to the path of a ViT-B/16 TorchScript archive")
	}
	start := time.Now()
	m, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loadTime := time.Since(start)
	if m.Config != ViTB16 {
		t.Fatalf("config %+v, want ViT-B/16", m.Config)
	}
	halves := 0
	for name, tensor := range m.Tensors() {
		if halvedByOpenAI(name) && fp16Exact(tensor.Data[0]) && fp16Exact(tensor.Data[len(tensor.Data)-1]) {
			halves++
		}
	}
	start = time.Now()
	runOneDPTStep(t, m)
	t.Logf("%s: loaded in %.1f s (%d fp16 tensors), one DPT step (batch 1, 2 classes) in %.1f s",
		path, loadTime.Seconds(), halves, time.Since(start).Seconds())
}
