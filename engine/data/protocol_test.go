package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFewShotCountsOrderAndDeterminism(t *testing.T) {
	// Classes interleaved, first appearance order 2, 0, 1; class 1 has only 3.
	var items []Item
	for i := range 10 {
		items = append(items, Item{Path: "/c2/" + itoa(i), Label: 2, ClassName: "c2"})
		items = append(items, Item{Path: "/c0/" + itoa(i), Label: 0, ClassName: "c0"})
		if i < 3 {
			items = append(items, Item{Path: "/c1/" + itoa(i), Label: 1, ClassName: "c1"})
		}
	}
	shots := FewShot(items, 4, 1)
	if len(shots) != 4+4+3 {
		t.Fatalf("%d shots, want 11", len(shots))
	}
	var labels []int
	for _, it := range shots {
		labels = append(labels, it.Label)
	}
	if !slices.Equal(labels, []int{2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1}) {
		t.Errorf("labels %v: want classes grouped in order of first appearance", labels)
	}
	seen := map[string]bool{}
	for _, it := range shots {
		if seen[it.Path] {
			t.Errorf("%s drawn twice", it.Path)
		}
		seen[it.Path] = true
		if !slices.Contains(items, it) {
			t.Errorf("%+v is not an input item", it)
		}
	}
	if again := FewShot(items, 4, 1); !slices.Equal(again, shots) {
		t.Error("same seed gave different shots")
	}
	differ := false
	for seed := int64(2); seed < 6; seed++ {
		if !slices.Equal(FewShot(items, 4, seed), shots) {
			differ = true
		}
	}
	if !differ {
		t.Error("seeds 2..5 all gave the shots of seed 1")
	}
	if all := FewShot(items, 0, 1); !slices.Equal(all, items) {
		t.Error("k=0 should keep every item")
	}
	if all := FewShot(items, 16, 1); len(all) != len(items) {
		t.Errorf("k above every class size: %d items, want %d", len(all), len(items))
	}
}

func TestFewShotIsUniformEnough(t *testing.T) {
	// Every item of a 10-item class should be drawn sometimes over many
	// seeds, and roughly k/n of the time.
	items := makeItems(1, 10)
	count := map[string]int{}
	const seeds = 2000
	for s := range int64(seeds) {
		for _, it := range FewShot(items, 3, s) {
			count[it.Path]++
		}
	}
	for _, it := range items {
		if c := count[it.Path]; c < seeds*3/10*8/10 || c > seeds*3/10*12/10 {
			t.Errorf("%s drawn %d times in %d seeds, want about %d", it.Path, c, seeds, seeds*3/10)
		}
	}
}

func fakeDataset(t *testing.T, classes, trainPer, valPer, testPer int) *Dataset {
	t.Helper()
	dir := t.TempDir()
	ds := &Dataset{Name: "fake", Dir: dir}
	for c := range classes {
		name := "class_" + itoa(c)
		ds.ClassNames = append(ds.ClassNames, name)
		add := func(split *[]Item, kind string, n int) {
			for i := range n {
				*split = append(*split, Item{Path: filepath.Join(dir, kind, name, itoa(i)+".jpg"), Label: c, ClassName: name})
			}
		}
		add(&ds.Train, "train", trainPer)
		add(&ds.Val, "val", valPer)
		add(&ds.Test, "test", testPer)
	}
	return ds
}

func TestFewShotCached(t *testing.T) {
	ds := fakeDataset(t, 5, 20, 10, 7)
	cache := t.TempDir()
	got, err := FewShotCached(ds, 16, 3, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Train, FewShot(ds.Train, 16, 3)) {
		t.Error("cached train shots differ from FewShot with the same seed")
	}
	if len(got.Val) != 5*4 {
		t.Errorf("val has %d items, want min(16,4) per class = 20", len(got.Val))
	}
	if !slices.Equal(got.Test, ds.Test) || len(ds.Train) != 100 {
		t.Error("test split or the input dataset changed")
	}
	file := FewShotFile(ds, 16, 3, cache)
	if filepath.Base(file) != "shot_16-seed_3.json" || !strings.HasPrefix(file, cache) {
		t.Errorf("cache file %s", file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string][][3]any
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if p := stored["train"][0][0].(string); filepath.IsAbs(p) || !strings.HasPrefix(p, "train/") {
		t.Errorf("stored path %q should be relative to the dataset dir", p)
	}
	again, err := FewShotCached(ds, 16, 3, cache)
	if err != nil || !slices.Equal(again.Train, got.Train) || !slices.Equal(again.Val, got.Val) {
		t.Fatalf("second call: %v", err)
	}

	// A stored sample is used as is, whatever the seed would draw now.
	writeJSON(t, file, map[string][][3]any{
		"train": {{"train/class_4/0.jpg", 4, "class_4"}, {"train/class_1/9.jpg", 1, "class_1"}},
		"val":   {{"val/class_0/3.jpg", 0, "class_0"}},
	})
	fixed, err := FewShotCached(ds, 16, 3, cache)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{
		{Path: filepath.Join(ds.Dir, "train", "class_4", "0.jpg"), Label: 4, ClassName: "class_4"},
		{Path: filepath.Join(ds.Dir, "train", "class_1", "9.jpg"), Label: 1, ClassName: "class_1"},
	}
	if !slices.Equal(fixed.Train, want) || len(fixed.Val) != 1 {
		t.Errorf("stored sample not used: %+v", fixed.Train)
	}

	// A stale sample (an item the dataset no longer has) is an error naming the file.
	writeJSON(t, file, map[string][][3]any{"train": {{"train/class_9/0.jpg", 9, "class_9"}}, "val": {}})
	if _, err := FewShotCached(ds, 16, 3, cache); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("stale cache: error %v should name %s", err, file)
	}
	// So is a label that changed.
	writeJSON(t, file, map[string][][3]any{"train": {{"train/class_2/0.jpg", 3, "class_2"}}, "val": {}})
	if _, err := FewShotCached(ds, 16, 3, cache); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("relabelled cache: error %v should name %s", err, file)
	}
	if other, err := FewShotCached(ds, 16, 4, cache); err != nil || slices.Equal(other.Train, got.Train) {
		t.Errorf("seed 4: %v (same shots as seed 3: %v)", err, err == nil && slices.Equal(other.Train, got.Train))
	}
	if all, err := FewShotCached(ds, 0, 3, cache); err != nil || all != ds {
		t.Errorf("k=0 should return the dataset itself: %v", err)
	}
}

func TestFewShotCachedValIsTest(t *testing.T) {
	ds := fakeDataset(t, 3, 10, 0, 5)
	ds.Val, ds.ValIsTest = ds.Test, true
	got, err := FewShotCached(ds, 2, 1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Train) != 6 || !slices.Equal(got.Val, ds.Test) {
		t.Errorf("train %d items, val %d (want the test split, %d)", len(got.Train), len(got.Val), len(ds.Test))
	}
}

func TestSubsampleClasses(t *testing.T) {
	for _, c := range []struct{ classes, base, new int }{{10, 5, 5}, {37, 19, 18}, {1, 1, 0}, {397, 199, 198}} {
		ds := fakeDataset(t, c.classes, 3, 2, 1)
		base, err := SubsampleClasses(ds, "base")
		if err != nil {
			t.Fatal(err)
		}
		novel, err := SubsampleClasses(ds, "new")
		if err != nil {
			t.Fatal(err)
		}
		if base.NumClasses() != c.base || novel.NumClasses() != c.new {
			t.Errorf("%d classes: base/new %d/%d, want %d/%d", c.classes, base.NumClasses(), novel.NumClasses(), c.base, c.new)
			continue
		}
		if len(base.Train) != 3*c.base || len(base.Val) != 2*c.base || len(base.Test) != c.base ||
			len(novel.Train) != 3*c.new || len(novel.Test) != c.new {
			t.Errorf("%d classes: split sizes base %d/%d/%d new %d/%d", c.classes,
				len(base.Train), len(base.Val), len(base.Test), len(novel.Train), len(novel.Test))
		}
		for _, it := range slices.Concat(novel.Train, novel.Val, novel.Test) {
			orig := it.Label + c.base
			if it.ClassName != "class_"+itoa(orig) || novel.ClassNames[it.Label] != it.ClassName {
				t.Fatalf("new item %+v: want relabelled from %d", it, orig)
			}
		}
		for _, it := range base.Test {
			if base.ClassNames[it.Label] != "class_"+itoa(it.Label) {
				t.Fatalf("base item %+v", it)
			}
		}
	}

	// Labels need not be contiguous: the split is over the sorted labels of train.
	ds := &Dataset{Name: "gaps", ClassNames: []string{"a", "b", "c", "d", "e", "f"}}
	for _, l := range []int{5, 1, 3, 1} {
		ds.Train = append(ds.Train, Item{Path: "/t/" + itoa(l), Label: l, ClassName: ds.ClassNames[l]})
	}
	ds.Test = []Item{{Path: "/x", Label: 3, ClassName: "d"}, {Path: "/y", Label: 4, ClassName: "e"}, {Path: "/z", Label: 5, ClassName: "f"}}
	base, _ := SubsampleClasses(ds, "base") // labels 1, 3, 5: base = 1, 3
	novel, _ := SubsampleClasses(ds, "new")
	if !slices.Equal(base.ClassNames, []string{"b", "d"}) || !slices.Equal(novel.ClassNames, []string{"f"}) {
		t.Errorf("base %q new %q", base.ClassNames, novel.ClassNames)
	}
	if len(base.Test) != 1 || base.Test[0].Label != 1 || len(novel.Test) != 1 || novel.Test[0].Label != 0 {
		t.Errorf("test items base %+v new %+v", base.Test, novel.Test)
	}

	if all, err := SubsampleClasses(ds, "all"); err != nil || all != ds {
		t.Errorf("all: %v", err)
	}
	if _, err := SubsampleClasses(ds, "old"); err == nil || !strings.Contains(err.Error(), `"old"`) {
		t.Errorf("bad selector: %v", err)
	}
}
