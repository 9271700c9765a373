package sweeps

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

const header = `[grid]
name = "t"
model = "models/m"
data_root = "data"
`

func mustParse(t *testing.T, src string) *Grid {
	t.Helper()
	g, err := Parse("grid.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	checkTopological(t, g)
	return g
}

func jobsOfKind(g *Grid, kind study.Kind) []Job {
	var out []Job
	for _, j := range g.Jobs {
		if j.Config.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

func ids(g *Grid) []string {
	var out []string
	for _, j := range g.Jobs {
		out = append(out, j.ID)
	}
	sort.Strings(out)
	return out
}

func TestGridSettingsAndPaths(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
`)
	if g.Name != "t" || g.Out != "runs/t" || g.Model != "models/m" || g.DataRoot != "data" ||
		g.Workers != 1 || g.Retries != 0 || g.File != "grid.toml" || g.Dir != "." {
		t.Errorf("grid = %+v", g)
	}
	if len(g.Experiments) != 1 || g.Experiments[0] != "e" {
		t.Errorf("experiments = %v", g.Experiments)
	}
	g, err := Parse(filepath.Join("studies", "a.toml"), []byte(`[grid]
name = "a"
out = "../out"
model = "/abs/model"
data_root = "data"
workers = 3
retries = 2
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if g.Workers != 3 || g.Retries != 2 || g.Out != "../out" {
		t.Errorf("grid = %+v", g)
	}
	if got := g.Resolve(g.Out); got != "out" {
		t.Errorf("Resolve(out) = %q, want out (relative to the file's directory)", got)
	}
	if got := g.Resolve(g.DataRoot); got != filepath.Join("studies", "data") {
		t.Errorf("Resolve(data_root) = %q", got)
	}
	if got := g.Resolve(g.Model); got != "/abs/model" {
		t.Errorf("Resolve(absolute) = %q, want it kept", got)
	}
}

func TestProductSizes(t *testing.T) {
	// 2 datasets × 3 weight_std × 2 n_ctx = 12 cells.
	body := `
datasets = ["eurosat", "dtd"]
[experiment.axes]
weight_std = [0.001, 0.012, 0.08]
n_ctx = [1, 2]
`
	g := mustParse(t, header+"[[experiment]]\nname = \"e\"\nprotocol = \"base2new\"\n"+body)
	if n, m := len(jobsOfKind(g, study.KindTrain)), len(jobsOfKind(g, study.KindEval)); n != 12 || m != 12 {
		t.Errorf("base2new: %d train + %d eval jobs, want 12 + 12", n, m)
	}
	g = mustParse(t, header+"[[experiment]]\nname = \"e\"\nprotocol = \"train\"\n"+body)
	if len(g.Jobs) != 12 || len(jobsOfKind(g, study.KindTrain)) != 12 {
		t.Errorf("train: %d jobs, want 12 train jobs", len(g.Jobs))
	}
	for _, j := range g.Jobs {
		if j.Config.Classes != "base" {
			t.Errorf("train protocol defaults to base classes, got %q", j.Config.Classes)
		}
	}
	// Variants multiply the cells: full + 2 ablations.
	g = mustParse(t, header+"[[experiment]]\nname = \"e\"\nprotocol = \"base2new\"\nvariants = [\"noshared\", \"nofilter\"]\n"+body)
	if n := len(jobsOfKind(g, study.KindTrain)); n != 36 {
		t.Errorf("with 2 variants: %d train jobs, want 12*3 = 36", n)
	}
}

func TestZipPairsValues(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
[experiment.axes]
n_ctx = [1, 2]
[[experiment.zip]]
lr = [0.002, 0.0035]
epochs = [16, 8]
`)
	got := map[string]bool{}
	for _, j := range g.Jobs {
		got[j.Labels["n_ctx"]+" "+j.Labels["lr"]+" "+j.Labels["epochs"]] = true
	}
	want := []string{"1 0.002 16", "1 0.0035 8", "2 0.002 16", "2 0.0035 8"}
	if len(g.Jobs) != len(want) {
		t.Errorf("%d jobs, want %d (2 n_ctx × 2 zipped pairs)", len(g.Jobs), len(want))
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing cell n_ctx lr epochs = %s; have %v", w, got)
		}
	}
	j := g.Jobs[0]
	if j.Config.LR != 0.002 || j.Config.Epochs != 16 {
		t.Errorf("first cell config lr=%v epochs=%v, want the first zipped pair", j.Config.LR, j.Config.Epochs)
	}
	if want := "e/demo/n_ctx=1,epochs=16,lr=0.002/train"; j.Name != want {
		t.Errorf("name %q, want %q", j.Name, want)
	}
}

func TestExclude(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "e"
protocol = "base2new"
datasets = ["eurosat", "dtd"]
variants = ["noshared"]
[experiment.axes]
n_ctx = [1, 2]
epochs = [8, 16]
[[experiment.exclude]]
n_ctx = 1
epochs = 16
[[experiment.exclude]]
dataset = "dtd"
variant = "noshared"
`)
	// 2 datasets × 4 cells × 2 variants = 16; the first exclude drops one
	// cell per dataset and variant (4), the second the 4 noshared dtd cells,
	// one of which the first already dropped: 16 - 4 - 3 = 9.
	trains := jobsOfKind(g, study.KindTrain)
	if len(trains) != 9 || len(jobsOfKind(g, study.KindEval)) != 9 {
		t.Fatalf("%d train jobs, want 9", len(trains))
	}
	for _, j := range trains {
		c := j.Config
		if c.NCtx == 1 && c.Epochs == 16 {
			t.Errorf("excluded cell present: %s", j.Name)
		}
		if c.Dataset == "dtd" && c.Variant == "noshared" {
			t.Errorf("excluded dataset/variant present: %s", j.Name)
		}
	}
}

func TestPrecedenceAndDatasetOverride(t *testing.T) {
	g := mustParse(t, header+`
[defaults]
lr = 0.01
seed = 5
batch_size = 8
[[experiment]]
name = "e"
protocol = "train"
datasets = ["eurosat", "imagenet"]
[experiment.set]
seed = 7
momentum = 0
[experiment.axes]
epochs = [8, 16]
n_ctx = [2, 4]
[experiment.dataset.imagenet]
epochs = 32
batch_size = 2
`)
	var eurosat, imagenet []Job
	for _, j := range g.Jobs {
		if j.Config.Dataset == "eurosat" {
			eurosat = append(eurosat, j)
		} else {
			imagenet = append(imagenet, j)
		}
	}
	// The override collapses ImageNet's epochs axis: 2 cells, not 4.
	if len(eurosat) != 4 || len(imagenet) != 2 {
		t.Fatalf("%d eurosat and %d imagenet jobs, want 4 and 2", len(eurosat), len(imagenet))
	}
	for _, j := range g.Jobs {
		c := j.Config
		// built-in < [defaults] < set.
		if c.LR != 0.01 || c.Seed != 7 || c.Momentum != 0 || c.WeightStd != 0.004 || c.Shots != 16 {
			t.Errorf("%s: lr %v seed %v momentum %v weight_std %v shots %v", j.Name, c.LR, c.Seed, c.Momentum, c.WeightStd, c.Shots)
		}
		wantEpochs, wantBatch := j.Labels["epochs"], 8
		if c.Dataset == "imagenet" {
			wantBatch = 2
			if c.Epochs != 32 || wantEpochs != "32" {
				t.Errorf("%s: epochs %d label %s, want the override 32 in both", j.Name, c.Epochs, wantEpochs)
			}
		}
		if c.BatchSize != wantBatch {
			t.Errorf("%s: batch_size %d, want %d", j.Name, c.BatchSize, wantBatch)
		}
	}
}

func TestIDStableUnderRewriting(t *testing.T) {
	a := mustParse(t, header+`
[[experiment]]
name = "grid"
protocol = "base2new"
datasets = ["eurosat", "dtd"]
[experiment.set]
momentum = 0.0
epochs = 16
[experiment.axes]
weight_std = [0.001, 0.08]
n_ctx = [1, 2]
[[experiment.zip]]
lr = [0.002, 0.0035]
warmup_lr = [1e-5, 1e-6]

[[experiment]]
name = "cross"
protocol = "transfer"
from = "grid"
targets = ["caltech101", "imagenet_a"]
`)
	// Same content: keys, axes, zipped keys, datasets and experiments
	// reordered, experiments renamed, values written differently, model path
	// written with ./ and a trailing slash.
	b := mustParse(t, `[[experiment]]
protocol = "transfer"
targets = ["imagenet_a", "caltech101"]
from = "sweep"
name = "xfer"

[[experiment]]
datasets = ["dtd", "eurosat"]
protocol = "base2new"
name = "sweep"
[experiment.axes]
n_ctx = [2, 1]
weight_std = [8e-2, 0.001]
[experiment.set]
epochs = 16
momentum = 0
[[experiment.zip]]
warmup_lr = [0.00001, 0.000001]
lr = [0.002, 0.0035]

[grid]
data_root = "data"
name = "renamed"
model = "./models/m/"
backend = "cpu"
`)
	// 2 datasets × 2 weight_std × 2 n_ctx × 2 zipped pairs = 16 cells.
	if len(a.Jobs) != 16+16+32 {
		t.Fatalf("%d jobs, want 16 train + 16 new-class evals + 32 transfer evals", len(a.Jobs))
	}
	ia, ib := ids(a), ids(b)
	if strings.Join(ia, " ") != strings.Join(ib, " ") {
		t.Errorf("IDs differ after rewriting the file (and choosing a backend):\n%v\n%v", ia, ib)
	}
	if a.Backend != "" || b.Backend != "cpu" {
		t.Errorf("backends %q and %q, want none and cpu", a.Backend, b.Backend)
	}
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, id := range ia {
		if !hex16.MatchString(id) {
			t.Errorf("ID %q is not 16 hex digits", id)
		}
	}
}

func TestDedupAcrossExperiments(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "grid"
protocol = "base2new"
datasets = ["dtd"]
[experiment.set]
momentum = 0.0
[experiment.axes]
n_ctx = [1, 2]

[[experiment]]
name = "ablate"
protocol = "base2new"
datasets = ["dtd"]
variants = ["noselect"]
[experiment.set]
momentum = 0.0
n_ctx = 2
`)
	// grid: 2 cells; ablate: full (= grid's n_ctx 2 cell) + noselect.
	if n := len(jobsOfKind(g, study.KindTrain)); n != 3 {
		t.Fatalf("%d train jobs, want 3 (ablate's full run is grid's n_ctx=2 cell)", n)
	}
	if n := len(jobsOfKind(g, study.KindEval)); n != 3 {
		t.Fatalf("%d eval jobs, want 3", n)
	}
	shared := 0
	for _, j := range g.Jobs {
		if j.Config.NCtx == 2 && j.Config.Variant == "full" {
			shared++
			if strings.Join(j.Experiments, ",") != "grid,ablate" {
				t.Errorf("%s: experiments %v, want [grid ablate]", j.Name, j.Experiments)
			}
			want := map[string]string{"n_ctx": "2", "variant": "full"}
			if !equalLabels(j.Labels, want) {
				t.Errorf("%s: labels %v, want the union %v", j.Name, j.Labels, want)
			}
			if !strings.HasPrefix(j.Name, "grid/") {
				t.Errorf("%s: a merged job keeps the name from the first experiment", j.Name)
			}
		} else if len(j.Experiments) != 1 {
			t.Errorf("%s: experiments %v, want one", j.Name, j.Experiments)
		}
	}
	if shared != 2 {
		t.Errorf("%d shared jobs, want the train and its eval", shared)
	}
}

func TestTopologicalOrderWithTransferFirst(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "cross"
protocol = "transfer"
from = "src"
targets = ["caltech101", "dtd"]

[[experiment]]
name = "src"
protocol = "base2new"
datasets = ["imagenet"]
[experiment.axes]
n_ctx = [1, 2]
`)
	if len(g.Jobs) != 2+2+4 {
		t.Fatalf("%d jobs, want 2 train + 2 new + 4 transfer", len(g.Jobs))
	}
	if strings.Join(g.Experiments, ",") != "cross,src" {
		t.Errorf("experiments %v, want file order", g.Experiments)
	}
	// checkTopological (in mustParse) verified deps-first; the order is also
	// reproducible.
	again := mustParse(t, header+`
[[experiment]]
name = "cross"
protocol = "transfer"
from = "src"
targets = ["caltech101", "dtd"]

[[experiment]]
name = "src"
protocol = "base2new"
datasets = ["imagenet"]
[experiment.axes]
n_ctx = [1, 2]
`)
	for i := range g.Jobs {
		if g.Jobs[i].ID != again.Jobs[i].ID {
			t.Fatalf("job order differs between two expansions at %d", i)
		}
	}
}

func TestEvalConfigs(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "b2n"
protocol = "base2new"
datasets = ["eurosat"]
variants = ["noshared"]
[experiment.set]
seed = 3
n_ctx = 2
weight_std = 0.08

[[experiment]]
name = "xd"
protocol = "transfer"
from = "b2n"
targets = ["imagenet_r"]

[[experiment]]
name = "xdpf"
protocol = "transfer"
from = "b2n"
targets = ["dtd"]
variant = "noshared"
classes = "new"
`)
	// 2 trains (full, noshared), their 2 new-class evals, 2 xd evals and 2
	// xdpf evals.
	if len(g.Jobs) != 8 {
		t.Fatalf("%d jobs, want 8", len(g.Jobs))
	}
	for _, j := range jobsOfKind(g, study.KindEval) {
		c := j.Config
		source, ok := g.Job(c.Source)
		if !ok || len(j.Deps) != 1 || j.Deps[0] != c.Source || source.Config.Kind != study.KindTrain {
			t.Fatalf("%s: source %q deps %v", j.Name, c.Source, j.Deps)
		}
		want := Config{Kind: study.KindEval, Model: "models/m", DataRoot: "data", Dataset: c.Dataset,
			Classes: c.Classes, Variant: c.Variant, Seed: 3, NCtx: 2, Source: source.ID}
		if c != want {
			t.Errorf("%s: config %+v, want %+v (training fields zero)", j.Name, c, want)
		}
		switch j.Experiments[0] {
		case "b2n":
			if c.Dataset != "eurosat" || c.Classes != "new" || c.Variant != source.Config.Variant {
				t.Errorf("%s: new-class eval %+v", j.Name, c)
			}
		case "xd":
			// Without variant, a transfer tests with its source's variant.
			if c.Dataset != "imagenet_r" || c.Classes != "all" || c.Variant != source.Config.Variant {
				t.Errorf("%s: transfer eval %+v", j.Name, c)
			}
		case "xdpf":
			if c.Classes != "new" || c.Variant != "noshared" || j.Labels["variant"] != "noshared" {
				t.Errorf("%s: transfer eval %+v labels %v", j.Name, c, j.Labels)
			}
		}
	}
	want := "xdpf/eurosat/variant=full/dtd-new"
	found := false
	for _, j := range g.Jobs {
		found = found || j.Name == want
	}
	if !found {
		t.Errorf("no job named %s", want)
	}
	if _, ok := g.Job("0000000000000000"); ok {
		t.Errorf("Job found an ID that is not in the grid")
	}
}

func TestTrainAllClasses(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "full"
protocol = "train"
classes = "all"
datasets = ["imagenet"]
`)
	if len(g.Jobs) != 1 || g.Jobs[0].Config.Classes != "all" || g.Jobs[0].Name != "full/imagenet/train" {
		t.Errorf("jobs = %+v", g.Jobs)
	}
	if g.Jobs[0].Labels != nil {
		t.Errorf("a cell with no axes has labels %v", g.Jobs[0].Labels)
	}
}

func TestInlineTablesAndDottedKeys(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
axes.n_ctx = [1, 2]
zip = [{ lr = [0.1, 0.2], epochs = [1, 2] }]
exclude = [{ n_ctx = 1, lr = 0.1 }]
`)
	if len(g.Jobs) != 3 {
		t.Errorf("%d jobs, want 2 n_ctx × 2 pairs - 1 excluded = 3", len(g.Jobs))
	}
	src := header + `
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
zip = [
  { lr = [0.1, 0.2], epochs = [1, 2] },
  { n_ctx = [1], seed = [1, 2] },
]
`
	_, err := Parse("grid.toml", []byte(src))
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Line != 12 || gerr.Key != "zip.seed" {
		t.Errorf("error %v, want line 12 key zip.seed", err)
	}
}

func TestLanguageDocExample(t *testing.T) {
	// The complete example of LANGUAGE.md must stay valid. Its counts:
	// 3 datasets × 3 seeds × 3 weight_std × 2 zipped (lr, epochs) = 54 cells,
	// less the 3×3 with weight_std 0.08 and epochs 16 = 45 (the ImageNet
	// override to 32 epochs applies after excludes and collapses nothing,
	// since the zipped pairs still differ in lr); × 4 variants = 180 train
	// jobs, each with 1 new-class eval and 3 transfer evals = 720 evals;
	// and 3 datasets × base and new zero-shot evals = 6 more.
	doc, err := os.ReadFile("LANGUAGE.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("LANGUAGE.md has no toml example")
	}
	g, err := Parse("LANGUAGE.md", m[1])
	if err != nil {
		t.Fatal(err)
	}
	checkTopological(t, g)
	if n, e := len(jobsOfKind(g, study.KindTrain)), len(jobsOfKind(g, study.KindEval)); n != 180 || e != 726 {
		t.Errorf("%d train and %d eval jobs, want 180 and 726", n, e)
	}
	if g.Workers != 2 || g.Retries != 1 || g.Out != "runs/demo" {
		t.Errorf("grid settings %+v", g)
	}
}

func TestZeroShot(t *testing.T) {
	g := mustParse(t, header+`
[[experiment]]
name = "zs"
protocol = "zeroshot"
datasets = ["oxford_pets", "dtd", "demo"]

[[experiment]]
name = "zs_all"
protocol = "zeroshot"
datasets = ["imagenet_r", "dtd"]
classes = "all"
template = "itap of a {}."
`)
	type want struct {
		name, dataset string
		classes       study.Classes
		template      string
	}
	wants := []want{
		{"zs/oxford_pets/base", "oxford_pets", "base", "a photo of a {}, a type of pet."},
		{"zs/oxford_pets/new", "oxford_pets", "new", "a photo of a {}, a type of pet."},
		{"zs/dtd/base", "dtd", "base", "{} texture."},
		{"zs/dtd/new", "dtd", "new", "{} texture."},
		{"zs/demo/base", "demo", "base", "a photo of a {}."},
		{"zs/demo/new", "demo", "new", "a photo of a {}."},
		{"zs_all/imagenet_r/all", "imagenet_r", "all", "itap of a {}."},
		{"zs_all/dtd/all", "dtd", "all", "itap of a {}."},
	}
	if len(g.Jobs) != len(wants) {
		t.Fatalf("%d jobs, want %d", len(g.Jobs), len(wants))
	}
	for i, w := range wants {
		j := g.Jobs[i]
		c := j.Config
		if j.Name != w.name || c.Kind != study.KindEval || c.Dataset != w.dataset || c.Classes != w.classes ||
			c.Template != w.template || c.Source != "" || len(j.Deps) != 0 || c.Seed != 0 || c.NCtx != 0 {
			t.Errorf("job %d: %s %+v deps %v, want %+v", i, j.Name, c, j.Deps, w)
		}
	}
	// The template decides the result, so it is part of the ID.
	other := mustParse(t, header+`
[[experiment]]
name = "zs"
protocol = "zeroshot"
datasets = ["dtd"]
classes = ["base"]
template = "a photo of a {}."
`)
	if other.Jobs[0].ID == g.Jobs[2].ID {
		t.Error("two templates of one dataset and classes gave one job ID")
	}
}

// The demo grid (`make run`) exercises every view of the report: grid
// cells over at least two seeds, the zero-shot baseline of the grid's
// dataset and of the transfer target, ablation variants, and a transfer
// tested with and without the visual prompts.
func TestDemoGridFeedsEveryReportView(t *testing.T) {
	g, err := Load("../grid.toml")
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string]map[int64]bool{} // grid cell without its seed -> seeds
	var zeroShot []string
	variants, transferVariants := map[study.Variant]bool{}, map[study.Variant]bool{}
	for _, j := range g.Jobs {
		c := j.Config
		switch {
		case c.Template != "":
			zeroShot = append(zeroShot, c.Dataset+"/"+string(c.Classes))
		case c.Kind == study.KindTrain:
			variants[c.Variant] = true
			if contains(j.Experiments, "grid") {
				key := c
				key.Seed = 0
				if seeds[ConfigID(key)] == nil {
					seeds[ConfigID(key)] = map[int64]bool{}
				}
				seeds[ConfigID(key)][c.Seed] = true
			}
		case c.Dataset != "demo":
			transferVariants[c.Variant] = true
		}
	}
	for cell, s := range seeds {
		if len(s) < 2 {
			t.Errorf("grid cell %s has %d seed(s); the report shows mean ± std from two", cell, len(s))
		}
	}
	sort.Strings(zeroShot)
	if strings.Join(zeroShot, ",") != "demo/base,demo/new,demo_b/all" {
		t.Errorf("zero-shot jobs %v", zeroShot)
	}
	if !variants[study.VariantNoShared] || !variants[study.VariantNoFilter] || len(seeds) < 4 {
		t.Errorf("variants %v, %d grid cells", variants, len(seeds))
	}
	if !transferVariants[study.VariantFull] || !transferVariants[study.VariantNoShared] {
		t.Errorf("transfer variants %v, want full and projection-free", transferVariants)
	}
}
