package data

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTrainBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := TrainBatches(10, 4, rng)
	if len(b) != 2 || len(b[0]) != 4 || len(b[1]) != 4 {
		t.Fatalf("10 items, batch 4: %v (want 2 full batches, last 2 dropped)", b)
	}
	seen := map[int]bool{}
	for _, batch := range b {
		for _, i := range batch {
			if i < 0 || i >= 10 || seen[i] {
				t.Fatalf("index %d repeated or out of range in %v", i, b)
			}
			seen[i] = true
		}
	}
	if got := TrainBatches(80, 4, rng); len(got) != 20 {
		t.Errorf("EuroSAT base (80 shots): %d batches, want 20", len(got))
	}
	if got := TrainBatches(3, 4, rng); len(got) != 1 || len(got[0]) != 3 {
		t.Errorf("fewer items than the batch size: %v, want one batch of 3", got)
	}
	if TrainBatches(0, 4, rng) != nil {
		t.Error("no items should give no batches")
	}
	x := TrainBatches(50, 4, rand.New(rand.NewPCG(7, 7)))
	y := TrainBatches(50, 4, rand.New(rand.NewPCG(7, 7)))
	z := TrainBatches(50, 4, rand.New(rand.NewPCG(8, 7)))
	if !slices.EqualFunc(x, y, slices.Equal) || slices.EqualFunc(x, z, slices.Equal) {
		t.Error("batches should be a function of the seed")
	}
	// Epochs differ: consecutive calls on one generator give new permutations.
	r := rand.New(rand.NewPCG(3, 3))
	if slices.EqualFunc(TrainBatches(50, 4, r), TrainBatches(50, 4, r), slices.Equal) {
		t.Error("two epochs had the same order")
	}
}

func TestTestBatches(t *testing.T) {
	b := TestBatches(250, 100)
	if len(b) != 3 || len(b[2]) != 50 || b[1][0] != 100 || b[2][49] != 249 {
		t.Errorf("250 items, batch 100: %d batches, last %d", len(b), len(b[len(b)-1]))
	}
}

func loaderFixture(t *testing.T) ([]Item, *Loader) {
	t.Helper()
	dir := t.TempDir()
	var items []Item
	for i := range 6 {
		p := filepath.Join(dir, itoa(i)+".jpg")
		writeJPEG(t, p, 70+i*9, 50+i*5, uint64(i))
		items = append(items, Item{Path: p, Label: i % 3, ClassName: "c" + itoa(i%3)})
	}
	c, err := NewCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return items, NewLoader(c, 32)
}

func TestLoaderBatches(t *testing.T) {
	items, l := loaderFixture(t)
	idx := []int{4, 0, 5, 2}
	per := 3 * 32 * 32
	test, err := l.TestBatch(items, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(test.Images) != 4*per || !slices.Equal(test.Labels, []int{1, 0, 2, 2}) || test.Size != 32 {
		t.Fatalf("test batch: %d floats, labels %v", len(test.Images), test.Labels)
	}
	src, _ := DecodeFile(items[5].Path)
	want := make([]float32, per)
	ToCHW(Prepare(src, ShorterSideCrop, 32), want)
	if !slices.Equal(test.Images[2*per:3*per], want) {
		t.Error("test batch image 2 is not items[5] through the test pipeline")
	}

	seq := &Loader{Cache: l.Cache, Size: 32, Augment: DefaultRandAugment(), Workers: 1}
	par := &Loader{Cache: l.Cache, Size: 32, Augment: DefaultRandAugment(), Workers: 4}
	a, err := seq.TrainBatch(items, idx, rand.New(rand.NewPCG(11, 0)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := par.TrainBatch(items, idx, rand.New(rand.NewPCG(11, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Images, b.Images) || !slices.Equal(a.Labels, test.Labels) {
		t.Error("train batch depends on the number of workers")
	}
	c, _ := par.TrainBatch(items, idx, rand.New(rand.NewPCG(12, 0)))
	if slices.Equal(a.Images, c.Images) {
		t.Error("another seed gave the same augmentation")
	}
	for ch := range 3 {
		lo, hi := -CLIPMean[ch]/CLIPStd[ch], (1-CLIPMean[ch])/CLIPStd[ch]
		for i := range 4 {
			for _, v := range a.Images[i*per+ch*32*32 : i*per+(ch+1)*32*32] {
				if v < lo || v > hi {
					t.Fatalf("value %v outside channel %d's range", v, ch)
				}
			}
		}
	}
	// Without augmentation the train pipeline is the squash resize.
	plain := &Loader{Cache: l.Cache, Size: 32}
	p, _ := plain.TrainBatch(items, []int{5}, rand.New(rand.NewPCG(1, 1)))
	ToCHW(Prepare(src, Squash, 32), want)
	if !slices.Equal(p.Images, want) {
		t.Error("train pipeline without augmentation is not Squash + normalise")
	}
}

func TestLoaderErrors(t *testing.T) {
	items, l := loaderFixture(t)
	bad := append(slices.Clone(items), Item{Path: filepath.Join(t.TempDir(), "gone.jpg"), Label: 0})
	_, err := l.TestBatch(bad, []int{0, 6, 1})
	if err == nil || !strings.Contains(err.Error(), "gone.jpg") {
		t.Errorf("missing image: %v", err)
	}
	if _, err := l.TestBatch(items, []int{9}); err == nil {
		t.Error("index out of range accepted")
	}
	if err := l.Warm(context.Background(), bad, Squash); err == nil || !strings.Contains(err.Error(), "gone.jpg") {
		t.Errorf("Warm: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Warm(ctx, items, Squash); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Warm: %v", err)
	}
	fresh, _ := NewCache(t.TempDir())
	warm := NewLoader(fresh, 32)
	if err := warm.Warm(context.Background(), items, ShorterSideCrop); err != nil {
		t.Fatal(err)
	}
	if fresh.Decodes() != int64(len(items)) {
		t.Errorf("Warm decoded %d images, want %d", fresh.Decodes(), len(items))
	}
	if _, err := warm.TestBatch(items, []int{0, 1, 2, 3, 4, 5}); err != nil || fresh.Decodes() != int64(len(items)) {
		t.Errorf("a warmed cache decoded again: %v", err)
	}
}
