package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// These tests run the real binary on datasets written in two of CoOp's real
// layouts (EuroSAT and DTD, docs/datasets.md) rather than the demo's, with
// the demo's tiny model: what they check is the data path from a data root
// to the database, not accuracy.

// dsTestClass is one class of a small CoOp-layout dataset: its folder under
// the image directory and the class name the split file gives it.
type dsTestClass struct{ folder, name string }

// dsTestSplit is a CoOp split file: {"train": [[relpath, label, classname],
// ...], "val": ..., "test": ...}, paths relative to the image directory.
type dsTestSplit map[string][][3]any

// The EuroSAT classes are the first four of CoOp's split_zhou_EuroSAT.json
// (folder names as in 2750/, class names as in the split file). Four classes
// give base = labels 0-1 and new = labels 2-3.
var dsTestEuroSAT = []dsTestClass{
	{"AnnualCrop", "Annual Crop Land"},
	{"Forest", "Forest"},
	{"HerbaceousVegetation", "Herbaceous Vegetation Land"},
	{"Highway", "Highway or Road"},
}

// Three DTD classes: an odd count, so base2new on it splits 2/1 (m = ceil(n/2)).
var dsTestDTD = []dsTestClass{{"banded", "banded"}, {"blotchy", "blotchy"}, {"braided", "braided"}}

const (
	dsTestEuroSATTrain, dsTestEuroSATVal, dsTestEuroSATTest = 6, 2, 4
	dsTestDTDTrain, dsTestDTDVal, dsTestDTDTest             = 4, 1, 3
)

// dsTestWriteDataset writes a dataset in a CoOp json layout:
// <dsDir>/<imageDir>/<folder>/<folder>_<n>.jpg (w×h real JPEGs, a different
// colour per class) and <dsDir>/<splitFile>, with train, val and test images
// per class in that order of n. It returns the split it wrote.
func dsTestWriteDataset(t *testing.T, dsDir, imageDir, splitFile string, classes []dsTestClass, train, val, test, w, h int) dsTestSplit {
	t.Helper()
	split := dsTestSplit{"train": {}, "val": {}, "test": {}}
	for label, c := range classes {
		for n := range train + val + test {
			rel := path.Join(c.folder, fmt.Sprintf("%s_%d.jpg", c.folder, n))
			dsTestWriteBytes(t, filepath.Join(dsDir, imageDir, filepath.FromSlash(rel)), dsTestJPEG(t, w, h, label, n))
			key := "test"
			switch {
			case n < train:
				key = "train"
			case n < train+val:
				key = "val"
			}
			split[key] = append(split[key], [3]any{rel, label, c.name})
		}
	}
	dsTestWriteSplit(t, filepath.Join(dsDir, splitFile), split)
	return split
}

func dsTestWriteSplit(t *testing.T, file string, split dsTestSplit) {
	t.Helper()
	b, err := json.Marshal(split)
	if err != nil {
		t.Fatal(err)
	}
	dsTestWriteBytes(t, file, b)
}

// dsTestJPEG is a w×h JPEG: a class colour with a brighter band whose place
// depends on n, and pixel noise.
func dsTestJPEG(t *testing.T, w, h, label, n int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(label), uint64(n)))
	base := [3]int{60 + 50*label, 200 - 40*label, 90 + 25*(label%3)}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	band := rng.IntN(h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var px [3]uint8
			for k := range 3 {
				v := base[k] + rng.IntN(21) - 10
				if dsTestAbs(y-band) < h/8 {
					v += 40
				}
				px[k] = uint8(min(max(v, 0), 255))
			}
			img.Set(x, y, color.RGBA{px[0], px[1], px[2], 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dsTestAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func dsTestWriteBytes(t *testing.T, file string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dsTestDataRoot writes <root>/eurosat (EuroSAT's layout: 64×64 images in
// 2750/, split_zhou_EuroSAT.json) and <root>/dtd (DTD's: images/,
// split_zhou_DescribableTextures.json, non-square images so that the test
// pipeline's shorter-side resize and centre crop have work to do).
func dsTestDataRoot(t *testing.T, root string) (eurosat, dtd dsTestSplit) {
	t.Helper()
	eurosat = dsTestWriteDataset(t, filepath.Join(root, "eurosat"), "2750", "split_zhou_EuroSAT.json",
		dsTestEuroSAT, dsTestEuroSATTrain, dsTestEuroSATVal, dsTestEuroSATTest, 64, 64)
	dtd = dsTestWriteDataset(t, filepath.Join(root, "dtd"), "images", "split_zhou_DescribableTextures.json",
		dsTestDTD, dsTestDTDTrain, dsTestDTDVal, dsTestDTDTest, 96, 72)
	return eurosat, dtd
}

// dsTestGridHeader is the [grid] table shared by the tests' grid files.
func dsTestGridHeader(name, demo string, workers int) string {
	return fmt.Sprintf(`[grid]
name = %q
out = "runs/%s"
model = %q
data_root = "data"
workers = %d
retries = 0
`, name, name, filepath.Join(demo, "model"), workers)
}

// dsTestJobByName finds the one job whose name starts with prefix and ends
// with suffix.
func dsTestJobByName(t *testing.T, jobs []results.Job, prefix, suffix string) results.Job {
	t.Helper()
	var found []results.Job
	for _, j := range jobs {
		if strings.HasPrefix(j.Name, prefix) && strings.HasSuffix(j.Name, suffix) {
			found = append(found, j)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, j := range jobs {
			names = append(names, j.Name)
		}
		t.Fatalf("want one job %s...%s, found %d among %q", prefix, suffix, len(found), names)
	}
	return found[0]
}

func TestCoOpLayoutsBase2NewAndTransfer(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	eurosat, dtd := dsTestDataRoot(t, filepath.Join(dir, "data"))
	writeFile(t, filepath.Join(dir, "grid.toml"), dsTestGridHeader("coop", demo, 2)+`
[defaults]
epochs = 1
shots = 4

[[experiment]]
name = "b2n"
protocol = "base2new"
datasets = ["eurosat"]
[experiment.set]
n_ctx = 2

[[experiment]]
name = "source"
protocol = "train"
classes = "all"
datasets = ["eurosat"]

[[experiment]]
name = "xd"
protocol = "transfer"
from = "source"
targets = ["dtd"]
`)
	res := runGrid(t, dir, "run", "--plain", "grid.toml")
	if res.code != 0 {
		t.Fatalf("grid run exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	db, gid := openRunDB(t, dir, "coop")
	defer db.Close()
	jobs, err := db.Jobs(gid)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 4 {
		t.Fatalf("%d jobs, want 4 (base2new train + new eval, train on all + dtd transfer)", len(jobs))
	}
	for _, j := range jobs {
		if j.State != results.StateDone || j.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts (%s)", j.Name, j.State, j.Attempts, j.Error)
		}
	}

	// What each job evaluated, straight from its own rows.
	perClassTest := dsTestEuroSATTest
	for _, want := range []struct {
		prefix, suffix string
		split, dataset string
		total, steps   int
	}{
		// 2 base classes × 4 shots = 8 images, batch 4: 2 steps; test on
		// the base classes' 2×4 test images.
		{"b2n/eurosat", "/train", "base", "eurosat", 2 * perClassTest, 2},
		// The checkpoint on the 2 new classes' test images.
		{"b2n/eurosat", "/new", "new", "eurosat", 2 * perClassTest, 0},
		// All 4 classes × 4 shots = 16 images: 4 steps; tested on all 16.
		{"source/eurosat", "/train", "all", "eurosat", 4 * perClassTest, 4},
		// Transfer: every test image of every DTD class, no few-shot.
		{"xd/eurosat", "/dtd", "all", "dtd", len(dtd["test"]), 0},
	} {
		j := dsTestJobByName(t, jobs, want.prefix, want.suffix)
		evs, err := db.Evaluations(j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || string(evs[0].Split) != want.split || evs[0].Dataset != want.dataset || evs[0].Total != want.total {
			t.Errorf("%s: evaluations %+v, want one %s/%s over %d images", j.Name, evs, want.dataset, want.split, want.total)
		}
		if j.Kind == study.KindTrain {
			ms, err := db.Metrics(j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != want.steps {
				t.Errorf("%s: %d training steps, want %d (4 shots per class, batch 4)", j.Name, len(ms), want.steps)
			}
		}
	}

	// H of the base2new cell, stored with its new-class eval, lies between
	// its base and new accuracy; both train jobs learned a 2-token prompt.
	newJob := dsTestJobByName(t, jobs, "b2n/eurosat", "/new")
	baseEv, _ := db.Evaluations(dsTestJobByName(t, jobs, "b2n/eurosat", "/train").ID)
	newEv, _ := db.Evaluations(newJob.ID)
	if len(baseEv) != 1 || len(newEv) != 1 || newJob.HarmonicMean == nil {
		t.Fatalf("base2new cell: base %+v, new %+v, stored H %v", baseEv, newEv, newJob.HarmonicMean)
	}
	baseAcc, newAcc, h := baseEv[0].Accuracy, newEv[0].Accuracy, *newJob.HarmonicMean
	if math.IsNaN(h) || h < min(baseAcc, newAcc)-1e-9 || h > max(baseAcc, newAcc)+1e-9 || math.Abs(h-results.HarmonicMean(baseAcc, newAcc)) > 1e-9 {
		t.Errorf("harmonic mean %v of base %v and new %v", h, baseAcc, newAcc)
	}
	for _, c := range []struct {
		prefix string
		nCtx   int
	}{{"b2n/eurosat", 2}, {"source/eurosat", 4}} {
		j := dsTestJobByName(t, jobs, c.prefix, "/train")
		p, err := db.Prompt(j.ID)
		if err != nil || p == nil || p.Text == "" || len(p.TokenIDs) != c.nCtx {
			t.Errorf("%s: learned prompt %+v (%v), want n_ctx = %d tokens", j.Name, p, err, c.nCtx)
		}
	}

	// The few-shot sample: one file for eurosat, shared by both train jobs
	// (same shots and seed), drawn before the base/new split (all four
	// classes), holding training items of the split file.
	cache := filepath.Join(dir, "cache")
	files, _ := filepath.Glob(filepath.Join(cache, "fewshot-mt", "eurosat-*", "shot_4-seed_1.json"))
	if len(files) != 1 {
		t.Fatalf("few-shot files %q, want one under %s", files, filepath.Join(cache, "fewshot-mt"))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Train, Val [][3]any }
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatalf("few-shot file %s: %v", files[0], err)
	}
	inSplit := func(key string) map[string]bool {
		m := map[string]bool{}
		for _, e := range eurosat[key] {
			m[path.Join("2750", e[0].(string))+fmt.Sprint("|", e[1])] = true
		}
		return m
	}
	for _, part := range []struct {
		key      string
		entries  [][3]any
		perClass int
	}{{"train", sample.Train, 4}, {"val", sample.Val, min(4, dsTestEuroSATVal)}} {
		known := inSplit(part.key)
		perLabel := map[string]int{}
		seen := map[string]bool{}
		for _, e := range part.entries {
			key := fmt.Sprint(e[0], "|", e[1])
			if !known[key] || seen[key] {
				t.Errorf("few-shot %s entry %v: not in the %s split or drawn twice", part.key, e, part.key)
			}
			seen[key] = true
			perLabel[fmt.Sprint(e[1])]++
		}
		if len(perLabel) != len(dsTestEuroSAT) {
			t.Errorf("few-shot %s covers labels %v, want all %d", part.key, perLabel, len(dsTestEuroSAT))
		}
		for l, n := range perLabel {
			if n != part.perClass {
				t.Errorf("few-shot %s: label %s has %d items, want %d", part.key, l, n, part.perClass)
			}
		}
	}
	if dtdFiles, _ := filepath.Glob(filepath.Join(cache, "fewshot-mt", "dtd-*")); len(dtdFiles) != 0 {
		t.Errorf("a transfer evaluation sampled shots: %q", dtdFiles)
	}
	rgb, _ := filepath.Glob(filepath.Join(cache, "images", "*", "*.rgb"))
	if len(rgb) == 0 {
		t.Errorf("no decoded images cached under %s", filepath.Join(cache, "images"))
	}
}

func TestMissingImageFailsItsJobAndTheRestFinishes(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	dataRoot := filepath.Join(dir, "data")
	eurosat, _ := dsTestDataRoot(t, dataRoot)
	// The split file lists a base-class training image that is not on disk.
	// With shots = 16 (more than the 7 listed) every training image is used.
	missing := "AnnualCrop/AnnualCrop_missing.jpg"
	eurosat["train"] = append(eurosat["train"], [3]any{missing, 0, dsTestEuroSAT[0].name})
	dsTestWriteSplit(t, filepath.Join(dataRoot, "eurosat", "split_zhou_EuroSAT.json"), eurosat)
	missingPath := filepath.Join(dataRoot, "eurosat", "2750", filepath.FromSlash(missing))

	writeFile(t, filepath.Join(dir, "grid.toml"), dsTestGridHeader("broken", demo, 1)+`
[defaults]
epochs = 1

[[experiment]]
name = "b2n"
protocol = "base2new"
datasets = ["eurosat", "dtd"]
`)
	res := runGrid(t, dir, "run", "--plain", "grid.toml")
	if res.code != 1 || !strings.Contains(res.stdout+res.stderr, "1 failed, 1 blocked") {
		t.Fatalf("grid run: exit %d, want 1 with one failed and one blocked job\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	st := runGrid(t, dir, "status", "--json", "grid.toml")
	var rows []struct {
		Name, Kind, State, Error string
		Evaluations              []results.Evaluation
	}
	if st.code != 0 || json.Unmarshal([]byte(st.stdout), &rows) != nil || len(rows) != 4 {
		t.Fatalf("status --json (exit %d): %s %s", st.code, st.stdout, st.stderr)
	}
	want := map[string]string{
		"b2n/eurosat/train": "failed",
		"b2n/eurosat/new":   "pending", // blocked behind the failed train job
		"b2n/dtd/train":     "done",
		"b2n/dtd/new":       "done",
	}
	for _, r := range rows {
		if want[r.Name] != r.State {
			t.Errorf("%s: state %s, want %q", r.Name, r.State, want[r.Name])
		}
		switch r.Name {
		case "b2n/eurosat/train":
			if !strings.Contains(r.Error, missingPath) {
				t.Errorf("error %q does not name the missing image %s", r.Error, missingPath)
			}
		case "b2n/dtd/train", "b2n/dtd/new":
			// DTD's 3 classes split 2 base / 1 new (m = ceil(3/2)).
			classes := 2
			if strings.HasSuffix(r.Name, "/new") {
				classes = 1
			}
			if len(r.Evaluations) != 1 || r.Evaluations[0].Total != classes*dsTestDTDTest {
				t.Errorf("%s: evaluations %+v, want %d test images", r.Name, r.Evaluations, classes*dsTestDTDTest)
			}
		}
	}
}
