package data

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// benchLoader caches 8 real 500×375 JPEGs at 224 (both modes) and returns
// items cycling over them.
func benchLoader(b *testing.B, n int) ([]Item, *Loader) {
	b.Helper()
	dir := b.TempDir()
	var items []Item
	for i := range n {
		p := filepath.Join(dir, itoa(i%8)+".jpg")
		if i < 8 {
			writeJPEG(b, p, 500, 375, uint64(i))
		}
		items = append(items, Item{Path: p, Label: i % 8})
	}
	c, err := NewCache(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	l := NewLoader(c, 224)
	for _, mode := range []ResizeMode{Squash, ShorterSideCrop} {
		if err := l.Warm(context.Background(), items[:min(n, 8)], mode); err != nil {
			b.Fatal(err)
		}
	}
	return items, l
}

// BenchmarkTrainPipeline: cached 224×224 image -> RandAugment(2, 10) ->
// normalised tensor, in batches of 4 (fomo's train batch size).
func BenchmarkTrainPipeline(b *testing.B) {
	items, l := benchLoader(b, 8)
	rng := rand.New(rand.NewPCG(1, 2))
	images := 0
	for b.Loop() {
		for _, idx := range TrainBatches(len(items), 4, rng) {
			if _, err := l.TrainBatch(items, idx, rng); err != nil {
				b.Fatal(err)
			}
			images += len(idx)
		}
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkTestPipeline: cached 224×224 centre crop -> normalised tensor, in
// batches of 100 (Dassl's test batch size).
func BenchmarkTestPipeline(b *testing.B) {
	items, l := benchLoader(b, 100)
	idx := TestBatches(len(items), 100)[0]
	images := 0
	for b.Loop() {
		if _, err := l.TestBatch(items, idx); err != nil {
			b.Fatal(err)
		}
		images += len(idx)
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}
