package sweeps

import (
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

const precisionGrid = `
[[experiment]]
name = "e"
protocol = "base2new"
datasets = ["eurosat"]

[[experiment]]
name = "z"
protocol = "zeroshot"
datasets = ["dtd"]
`

// The IDs of these jobs as every grid binary before the precision
// parameter computed them: grids that do not set it keep their jobs (and
// their finished results).
var idsBeforePrecision = map[string]string{
	"e/eurosat/train": "1d609e386e763701",
	"e/eurosat/new":   "f12ca8631f6ed054",
	"z/dtd/base":      "b8c5d435dab237be",
	"z/dtd/new":       "0f6f6686b3d404ea",
}

func TestPrecisionDefaultKeepsJobIDs(t *testing.T) {
	for _, src := range []string{
		header + precisionGrid,
		header + "[defaults]\nprecision = \"fp32\"\n" + precisionGrid,
	} {
		g := mustParse(t, src)
		for _, j := range g.Jobs {
			if want := idsBeforePrecision[j.Name]; j.ID != want {
				t.Errorf("%s: ID %s, want %s as before", j.Name, j.ID, want)
			}
			if j.Config.Precision != "" {
				t.Errorf("%s: precision %q stored for the default", j.Name, j.Config.Precision)
			}
		}
	}
}

func TestPrecisionIsSweptAndInherited(t *testing.T) {
	g := mustParse(t, header+`[defaults]
precision = "bf16"

[[experiment]]
name = "e"
protocol = "base2new"
datasets = ["eurosat"]
[experiment.axes]
precision = ["fp32", "fp16"]

[[experiment]]
name = "z"
protocol = "zeroshot"
datasets = ["dtd"]
`)
	byName := map[string]Job{}
	for _, j := range g.Jobs {
		byName[j.Name] = j
	}
	for name, want := range map[string]study.Precision{
		"e/eurosat/precision=fp32/train": "",
		"e/eurosat/precision=fp32/new":   "",
		"e/eurosat/precision=fp16/train": study.PrecisionFP16,
		"e/eurosat/precision=fp16/new":   study.PrecisionFP16,
		"z/dtd/base":                     study.PrecisionBF16,
	} {
		j, ok := byName[name]
		if !ok {
			t.Errorf("no job %s among %v", name, ids(g))
			continue
		}
		if j.Config.Precision != want {
			t.Errorf("%s: precision %q, want %q", name, j.Config.Precision, want)
		}
	}
	if id := byName["e/eurosat/precision=fp32/train"].ID; id != idsBeforePrecision["e/eurosat/train"] {
		t.Errorf("the fp32 cell has ID %s, want the unset grid's %s", id, idsBeforePrecision["e/eurosat/train"])
	}
	if byName["e/eurosat/precision=fp16/train"].Labels["precision"] != "fp16" {
		t.Errorf("labels %v", byName["e/eurosat/precision=fp16/train"].Labels)
	}
}

func TestPrecisionErrors(t *testing.T) {
	exp := "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\"demo\"]\n"
	for _, c := range []struct{ src, key, msg string }{
		{header + "[defaults]\nprecision = \"fp8\"\n" + exp, "defaults.precision", `unknown precision "fp8" (want fp32, fp16, bf16)`},
		{header + "[defaults]\nprecision = 16\n" + exp, "defaults.precision", "expected a string (one of fp32, fp16, bf16), got integer 16"},
		{header + exp + "[experiment.axes]\nprecision = [\"fp16\", \"half\"]\n", "axes.precision", `element 2: unknown precision "half"`},
	} {
		_, err := Parse("grid.toml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("got %v, want an error at %s saying %s", err, c.key, c.msg)
		}
	}
}

func TestGPUSlots(t *testing.T) {
	exp := "[[experiment]]\nname = \"e\"\nprotocol = \"train\"\ndatasets = [\"demo\"]\n"
	if g := mustParse(t, header+exp); g.GPUSlots != 1 {
		t.Errorf("default gpu_slots %d, want 1", g.GPUSlots)
	}
	g := mustParse(t, header+"gpu_slots = 8\n"+exp)
	if g.GPUSlots != 8 {
		t.Errorf("gpu_slots %d, want 8", g.GPUSlots)
	}
	// A run setting, not a job setting: the jobs are the same.
	if a, b := ids(mustParse(t, header+exp)), ids(g); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("gpu_slots changed job IDs: %v vs %v", a, b)
	}
	for _, c := range []struct{ src, msg string }{
		{header + "gpu_slots = 0\n" + exp, "grid.gpu_slots: must be at least 1, got 0"},
		{header + "gpu_slots = \"8\"\n" + exp, `grid.gpu_slots: expected an integer, got string "8"`},
	} {
		if _, err := Parse("grid.toml", []byte(c.src)); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("got %v, want %q", err, c.msg)
		}
	}
}
