package sweeps

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

// The grid files of examples/fomo replace the seed's shell scripts
// (alvitawa/fomo @8837028). Each test below rebuilds, with the script's own
// loops, the list of runs the script starts, and checks that the grid file
// expands to exactly those jobs: same count, same configs, each test run
// depending on the training run whose checkpoint it loads.

const fomoDir = "../examples/fomo"

// run is one training run of a script, in the script's terms.
type run struct {
	dataset   string
	classes   study.Classes // "base" (base2new_train_coprompt.sh) or "all" (…_no_subsample.sh)
	variant   study.Variant // which of NOSHARED/NOSELECT/NOFILTER is exported, or "full"
	seed      int64
	weightStd float64 // WEIGHT_STD
	epochs    int     // MAX_EPOCH
	nctx      int     // NUM_CONTEXT
	momentum  float64 // MOMENTUM
}

// config is the run's effective training config: the script's variables
// over the seed's defaults (reference semantics §1.2: 16 shots, SGD lr
// 0.0035, constant warmup 1 epoch at 1e-5, weight decay 5e-4, batch 4).
func (r run) config() Config {
	return Config{
		Kind: study.KindTrain, Model: "models/ViT-B-16", DataRoot: "data",
		Dataset: r.dataset, Classes: r.classes, Variant: r.variant,
		Seed: r.seed, NCtx: r.nctx, Shots: 16, WeightStd: r.weightStd, Epochs: r.epochs,
		LR: 0.0035, WarmupLR: 1e-5, WarmupEpochs: 1, Momentum: r.momentum,
		WeightDecay: 5e-4, BatchSize: 4,
	}
}

// test is one eval-only run of a script: the checkpoint of train, tested
// on classes of dataset with variant switched on at test time.
type test struct {
	train   run
	dataset string
	classes study.Classes
	variant study.Variant
}

func (e test) config() Config {
	return Config{
		Kind: study.KindEval, Model: "models/ViT-B-16", DataRoot: "data",
		Dataset: e.dataset, Classes: e.classes, Variant: e.variant,
		Seed: e.train.seed, NCtx: e.train.nctx, Source: ConfigID(e.train.config()),
	}
}

// newClasses is base2new_test_coprompt.sh after a base2new train: same
// dataset, new classes, same variant environment.
func newClasses(r run) test {
	return test{train: r, dataset: r.dataset, classes: "new", variant: r.variant}
}

func loadExample(t *testing.T, name string) *Grid {
	t.Helper()
	g, err := Load(filepath.Join(fomoDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// checkRuns asserts that g holds exactly the given training and test runs,
// that every test depends on (and names as Source) the train job of its
// checkpoint, and that the order is topological.
func checkRuns(t *testing.T, g *Grid, runs []run, tests []test) {
	t.Helper()
	if got, want := len(g.Jobs), len(runs)+len(tests); got != want {
		t.Errorf("%s: %d jobs, want %d (%d train + %d eval)", g.File, got, want, len(runs), len(tests))
	}
	for _, r := range runs {
		id := ConfigID(r.config())
		j, ok := g.Job(id)
		if !ok {
			t.Errorf("%s: no train job for %+v", g.File, r)
			continue
		}
		if j.Config != r.config() || len(j.Deps) != 0 {
			t.Errorf("%s: train job %s = %+v deps %v, want %+v and no deps", g.File, j.Name, j.Config, j.Deps, r.config())
		}
	}
	for _, e := range tests {
		j, ok := g.Job(ConfigID(e.config()))
		if !ok {
			t.Errorf("%s: no eval job for %+v", g.File, e)
			continue
		}
		source := ConfigID(e.train.config())
		if j.Config != e.config() || len(j.Deps) != 1 || j.Deps[0] != source {
			t.Errorf("%s: eval job %s = %+v deps %v, want %+v deps [%s]", g.File, j.Name, j.Config, j.Deps, e.config(), source)
		}
	}
	checkTopological(t, g)
}

func checkTopological(t *testing.T, g *Grid) {
	t.Helper()
	position := map[string]int{}
	names := map[string]bool{}
	for i, j := range g.Jobs {
		if j.ID != ConfigID(j.Config) {
			t.Errorf("%s: job %s has ID %s, want the hash of its config %s", g.File, j.Name, j.ID, ConfigID(j.Config))
		}
		if _, dup := position[j.ID]; dup {
			t.Errorf("%s: job %s listed twice", g.File, j.ID)
		}
		if names[j.Name] {
			t.Errorf("%s: two jobs are named %s", g.File, j.Name)
		}
		names[j.Name] = true
		for _, d := range j.Deps {
			if _, ok := position[d]; !ok {
				t.Errorf("%s: job %s (#%d) comes before its dependency %s", g.File, j.Name, i, d)
			}
		}
		position[j.ID] = i
	}
}

func TestFomoGrid(t *testing.T) {
	g := loadExample(t, "grid.toml")
	// grid.sh: for seed in 1; for dataset in sun397; for wstd in 0.001 0.012
	// 0.08; for max_epoch in 8 16; for nctxt in 1 2 3 4; for momentum in 0.0
	// 0.9: train on base; then the same loops test each on new.
	var runs []run
	var tests []test
	for _, seed := range []int64{1} {
		for _, ds := range []string{"sun397"} {
			for _, wstd := range []float64{0.001, 0.012, 0.08} {
				for _, epochs := range []int{8, 16} {
					for _, nctx := range []int{1, 2, 3, 4} {
						for _, momentum := range []float64{0.0, 0.9} {
							r := run{ds, "base", "full", seed, wstd, epochs, nctx, momentum}
							runs = append(runs, r)
							tests = append(tests, newClasses(r))
						}
					}
				}
			}
		}
	}
	if len(runs) != 48 {
		t.Fatalf("the script loops give %d runs, want 1*1*3*2*4*2 = 48", len(runs))
	}
	checkRuns(t, g, runs, tests)
	j := g.Jobs[0]
	if want := "grid/sun397/seed=1,n_ctx=1,weight_std=0.001,epochs=8,momentum=0/train"; j.Name != want {
		t.Errorf("first job named %q, want %q", j.Name, want)
	}
	wantLabels := map[string]string{"seed": "1", "n_ctx": "1", "weight_std": "0.001", "epochs": "8", "momentum": "0"}
	if !equalLabels(j.Labels, wantLabels) {
		t.Errorf("first job labels %v, want %v", j.Labels, wantLabels)
	}
}

func TestFomoGridImageNet(t *testing.T) {
	g := loadExample(t, "gridimnet.toml")
	// gridimnet.sh: for seed in 1; for wstd in 0.012 0.08; for max_epoch in
	// 32; for nctxt in 1 2 3 4; for momentum in 0.0; for dataset in imagenet:
	// train on base, then the same loops test on new.
	var runs []run
	var tests []test
	for _, seed := range []int64{1} {
		for _, wstd := range []float64{0.012, 0.08} {
			for _, epochs := range []int{32} {
				for _, nctx := range []int{1, 2, 3, 4} {
					for _, momentum := range []float64{0.0} {
						r := run{"imagenet", "base", "full", seed, wstd, epochs, nctx, momentum}
						runs = append(runs, r)
						tests = append(tests, newClasses(r))
					}
				}
			}
		}
	}
	checkRuns(t, g, runs, tests)
}

func TestFomoAblations(t *testing.T) {
	// Each ablate_<x>.sh trains and tests one configuration four times: as is,
	// then with NOSHARED, NOSELECT and NOFILTER exported in turn (each unset
	// before the next), for both its train and its test run.
	for _, c := range []struct {
		script, dataset string
		momentum, wstd  float64
		epochs, nctx    int
	}{
		{"ablate_dtd", "dtd", 0.0, 0.012, 16, 2},
		{"ablate_eurosat", "eurosat", 0.0, 0.012, 16, 4},
		{"ablate_pets", "oxford_pets", 0.9, 0.001, 16, 3},
		{"ablate_sun397", "sun397", 0.9, 0.001, 16, 1},
		{"ablate_ucf101", "ucf101", 0.9, 0.012, 16, 1},
	} {
		g := loadExample(t, c.script+".toml")
		var runs []run
		var tests []test
		for _, variant := range []study.Variant{"full", "noshared", "noselect", "nofilter"} {
			r := run{c.dataset, "base", variant, 1, c.wstd, c.epochs, c.nctx, c.momentum}
			runs = append(runs, r)
			tests = append(tests, newClasses(r))
		}
		checkRuns(t, g, runs, tests)
		for _, j := range g.Jobs {
			if j.Labels["variant"] != string(j.Config.Variant) {
				t.Errorf("%s: job %s labelled variant %q, config has %q", c.script, j.Name, j.Labels["variant"], j.Config.Variant)
			}
		}
	}
}

func TestFomoTrainImageNet(t *testing.T) {
	g := loadExample(t, "trainimnet.toml")
	// trainimnet.sh: one base2new run, MOMENTUM 0.0, WEIGHT_STD 0.08,
	// MAX_EPOCH 32, NUM_CONTEXT 2, seed 1; then its test on new classes.
	r := run{"imagenet", "base", "full", 1, 0.08, 32, 2, 0.0}
	checkRuns(t, g, []run{r}, []test{newClasses(r)})
	// It is also a cell of gridimnet.sh: the same config, hence the same job.
	grid := loadExample(t, "gridimnet.toml")
	if _, ok := grid.Job(ConfigID(r.config())); !ok {
		t.Errorf("trainimnet's run is not the same job in gridimnet.toml")
	}
}

// fullimnet is fullimnet.sh's training run: ImageNet, all classes
// (base2new_train_coprompt_no_subsample.sh), the settings xd_test.sh repeats.
var fullimnet = run{"imagenet", "all", "full", 1, 0.08, 32, 2, 0.0}

// crossdsTargets is the dataset loop of crossds.sh and crossds_projfree.sh.
var crossdsTargets = []string{"imagenet", "fgvc_aircraft", "caltech101", "oxford_pets", "stanford_cars",
	"food101", "sun397", "ucf101", "dtd", "oxford_flowers", "eurosat"}

func TestFomoFullImageNet(t *testing.T) {
	g := loadExample(t, "fullimnet.toml")
	// fullimnet.sh: train on all classes, then base2new_test_coprompt.sh
	// (SUB=new) on ImageNet with that checkpoint.
	checkRuns(t, g, []run{fullimnet}, []test{{fullimnet, "imagenet", "new", "full"}})
}

func TestFomoCrossDataset(t *testing.T) {
	for _, c := range []struct {
		file    string
		variant study.Variant // crossds_projfree.sh exports NOSHARED=1 before its loop
	}{{"crossds.toml", "full"}, {"crossds_projfree.toml", "noshared"}} {
		g := loadExample(t, c.file)
		// One xd_test.sh per dataset of the loop: eval-only, all classes, on
		// the fullimnet checkpoint.
		var tests []test
		for _, ds := range crossdsTargets {
			tests = append(tests, test{fullimnet, ds, "all", c.variant})
		}
		if len(tests) != 11 {
			t.Fatalf("%d targets, want the 11 of the script's loop", len(tests))
		}
		checkRuns(t, g, []run{fullimnet}, tests)
	}
}

func TestFomoExamplesShareJobs(t *testing.T) {
	// The same training run has the same ID in every file that declares it,
	// so a run directory shared by these files trains it once.
	id := ConfigID(fullimnet.config())
	for _, f := range []string{"fullimnet.toml", "crossds.toml", "crossds_projfree.toml"} {
		g := loadExample(t, f)
		if _, ok := g.Job(id); !ok {
			t.Errorf("%s lacks the fullimnet train job %s", f, id)
		}
	}
	files, err := filepath.Glob(filepath.Join(fomoDir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	want := []string{"ablate_dtd.toml", "ablate_eurosat.toml", "ablate_pets.toml", "ablate_sun397.toml",
		"ablate_ucf101.toml", "ablations.toml", "all.toml", "besteurosat.toml", "crossds.toml", "crossds_projfree.toml",
		"fullimnet.toml", "grid.toml", "gridimnet.toml", "paper.toml", "runprompt.toml", "trainimnet.toml"}
	if len(files) != len(want) {
		t.Fatalf("examples/fomo holds %v, want %v (each covered by a test above)", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Errorf("examples/fomo file %s, want %s", filepath.Base(f), want[i])
		}
	}
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// defaultRun is all.sh's run of a dataset: nothing exported, so the
// trainer's defaults (NUM_CONTEXT 4, WEIGHT_STD 0.004, MAX_EPOCH 8,
// MOMENTUM 0.9).
func defaultRun(ds string, seed int64) run { return run{ds, "base", "full", seed, 0.004, 8, 4, 0.9} }

// allDatasets is all.sh's dataset loop.
var allDatasets = []string{"fgvc_aircraft", "dtd", "ucf101", "eurosat", "caltech101", "oxford_pets",
	"stanford_cars", "oxford_flowers", "food101", "sun397", "imagenet"}

func TestFomoAll(t *testing.T) {
	// all.sh: for seed in 1 2 3; for dataset in ...: train on base; then
	// the same loops test on new.
	var runs []run
	var tests []test
	for _, seed := range []int64{1, 2, 3} {
		for _, ds := range allDatasets {
			r := defaultRun(ds, seed)
			runs, tests = append(runs, r), append(tests, newClasses(r))
		}
	}
	checkRuns(t, loadExample(t, "all.toml"), runs, tests)
}

func TestFomoAblationsScript(t *testing.T) {
	// ablations.sh: for dataset in ...: NUM_CONTEXT=2 then 4, one epoch,
	// momentum 0, WEIGHT_STD 0.001, seed 1; train then test each.
	var runs []run
	var tests []test
	for _, ds := range []string{"fgvc_aircraft", "caltech101", "oxford_pets", "stanford_cars", "food101",
		"sun397", "ucf101", "dtd", "oxford_flowers", "eurosat"} {
		for _, nctx := range []int{2, 4} {
			r := run{ds, "base", "full", 1, 0.001, 1, nctx, 0.0}
			runs, tests = append(runs, r), append(tests, newClasses(r))
		}
	}
	checkRuns(t, loadExample(t, "ablations.toml"), runs, tests)
}

// bestEuroSAT is besteurosat.sh's and runprompt.sh's configuration.
func bestEuroSAT(seed int64) run { return run{"eurosat", "base", "full", seed, 0.012, 16, 4, 0.0} }

func TestFomoBestEuroSATAndRunPrompt(t *testing.T) {
	// besteurosat.sh trains seeds 3, 2 and 1 and tests nothing.
	checkRuns(t, loadExample(t, "besteurosat.toml"), []run{bestEuroSAT(3), bestEuroSAT(2), bestEuroSAT(1)}, nil)
	// runprompt.sh trains seed 1 and tests it: the same train job.
	checkRuns(t, loadExample(t, "runprompt.toml"), []run{bestEuroSAT(1)}, []test{newClasses(bestEuroSAT(1))})
}

// paper.toml holds every script's runs over seeds 1 to 3, each once.
func TestFomoPaperStudy(t *testing.T) {
	g := loadExample(t, "paper.toml")
	checkTopological(t, g)
	for _, f := range []string{"all.toml", "ablations.toml", "grid.toml", "gridimnet.toml", "trainimnet.toml",
		"fullimnet.toml", "crossds.toml", "crossds_projfree.toml", "runprompt.toml", "ablate_dtd.toml",
		"ablate_eurosat.toml", "ablate_pets.toml", "ablate_sun397.toml", "ablate_ucf101.toml"} {
		for _, j := range loadExample(t, f).Jobs {
			if _, ok := g.Job(j.ID); !ok {
				t.Errorf("paper.toml lacks %s's job %s", f, j.Name)
			}
		}
	}
	// The ImageNet source: trained once per seed, read by the new-class
	// test and both transfers (11 targets each).
	sources, readers := 0, map[string]int{}
	for _, j := range g.Jobs {
		if j.Config.Kind == study.KindTrain && j.Config.Classes == study.ClassesAll {
			sources++
		}
		for _, d := range j.Deps {
			readers[d]++
		}
	}
	if sources != 3 {
		t.Errorf("%d all-classes train jobs, want one per seed", sources)
	}
	for _, seed := range []int64{1, 2, 3} {
		src := fullimnet
		src.seed = seed
		if n := readers[ConfigID(src.config())]; n != 1+11+11 {
			t.Errorf("seed %d's ImageNet source is read by %d jobs, want 23", seed, n)
		}
	}
	zeroShot := 0
	for _, j := range g.Jobs {
		if j.Config.Template != "" {
			zeroShot++
		}
	}
	if zeroShot != 33 || len(g.Jobs) != 3309 {
		t.Errorf("%d jobs, %d zero-shot; want 3309 and 33 (11 datasets × base, new, all)", len(g.Jobs), zeroShot)
	}
}
