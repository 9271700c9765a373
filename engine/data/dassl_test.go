package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dasslFixture is testdata/dassl_fewshot.json: a small dataset's items and
// the few-shot draws CPython made of them the way Dassl does
// (testdata/dassl.py).
type dasslFixture struct {
	Train, Val [][3]any
	Draws      []struct {
		Seed       int64
		K          int
		Train, Val []string
	}
}

// dasslDataset loads the fixture and builds its dataset in a fresh folder.
func dasslDataset(t *testing.T) (*Dataset, dasslFixture) {
	t.Helper()
	b, err := os.ReadFile("testdata/dassl_fewshot.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx dasslFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	ds := &Dataset{Name: "fake", Dir: t.TempDir()}
	items := func(entries [][3]any) []Item {
		var out []Item
		for _, e := range entries {
			out = append(out, Item{Path: filepath.Join(ds.Dir, e[0].(string)), Label: int(e[1].(float64)), ClassName: e[2].(string)})
		}
		return out
	}
	ds.Train, ds.Val = items(fx.Train), items(fx.Val)
	return ds, fx
}

func relPaths(ds *Dataset, items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		rel, _ := filepath.Rel(ds.Dir, it.Path)
		out[i] = filepath.ToSlash(rel)
	}
	return out
}

// The 16 shots (and 4 validation shots after them) are the ones CPython's
// random.seed(seed) + random.sample give, class by class in order of first
// appearance: a class with fewer than k keeps all, one with exactly k is
// still drawn (which consumes the stream).
func TestFewShotDrawsWhatDasslDraws(t *testing.T) {
	ds, fx := dasslDataset(t)
	for _, d := range fx.Draws {
		got, err := FewShotCached(ds, d.K, d.Seed, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if train := relPaths(ds, got.Train); !slices.Equal(train, d.Train) {
			t.Errorf("seed %d, %d shots: train %v\nDassl drew %v", d.Seed, d.K, train, d.Train)
		}
		if val := relPaths(ds, got.Val); !slices.Equal(val, d.Val) {
			t.Errorf("seed %d, %d shots: val %v\nDassl drew %v", d.Seed, d.K, val, d.Val)
		}
	}
}

// A split_fewshot pickle in the dataset folder is what the seed trained on:
// it is read (its paths, from another machine, matched by their end), not
// drawn again. The fixture's pickle holds a seed-99 draw under the seed-2
// name, so reading and redrawing give different shots.
func TestDasslPickleIsReadFromTheDatasetFolder(t *testing.T) {
	ds, _ := dasslDataset(t)
	pkl, err := os.ReadFile("testdata/shot_4-seed_2.pkl")
	if err != nil {
		t.Fatal(err)
	}
	file := DasslFewShotFile(ds, 4, 2)
	if filepath.Base(filepath.Dir(file)) != "split_fewshot" || filepath.Base(file) != "shot_4-seed_2.pkl" {
		t.Fatalf("Dassl's file is %s", file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pkl, 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	got, err := FewShotCached(ds, 4, 2, cache)
	if err != nil {
		t.Fatal(err)
	}
	want := fewShotSeed99(t, ds)
	if train := relPaths(ds, got.Train); !slices.Equal(train, relPaths(ds, want.Train)) {
		t.Errorf("train %v, want the pickle's %v", train, relPaths(ds, want.Train))
	}
	if val := relPaths(ds, got.Val); !slices.Equal(val, relPaths(ds, want.Val)) {
		t.Errorf("val %v, want the pickle's %v", val, relPaths(ds, want.Val))
	}
	if _, err := os.Stat(FewShotFile(ds, 4, 2, cache)); err == nil {
		t.Error("the pickle's shots were also written to the cache")
	}

	// A pickle naming an image the split files do not list is an error
	// naming the file and the image.
	ds.Train = slices.DeleteFunc(slices.Clone(ds.Train), func(it Item) bool { return it.Path == want.Train[0].Path })
	_, err = FewShotCached(ds, 4, 2, cache)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), relPaths(ds, want.Train[:1])[0]) {
		t.Errorf("pickle with an unknown image: error %v", err)
	}
}

// fewShotSeed99 is the draw the fixture's pickle holds.
func fewShotSeed99(t *testing.T, ds *Dataset) *Dataset {
	t.Helper()
	out, err := FewShotCached(ds, 4, 99, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDasslPickleErrorsNameTheFile(t *testing.T) {
	ds, _ := dasslDataset(t)
	file := DasslFewShotFile(ds, 4, 1)
	os.MkdirAll(filepath.Dir(file), 0o755)
	for name, content := range map[string][]byte{
		"truncated":    {0x80, 5, 0x95},
		"not a dict":   {0x80, 5, ']', '.'},
		"no val entry": {0x80, 5, '}', 0x8c, 5, 't', 'r', 'a', 'i', 'n', ']', 's', '.'},
	} {
		if err := os.WriteFile(file, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := FewShotCached(ds, 4, 1, t.TempDir()); err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming %s", name, err, file)
		}
	}
}
