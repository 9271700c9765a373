package data

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// The pipeline benchmarks print ratios against references measured in the
// same run (`make bench` runs them with -benchtime 3x):
//
//   - images/s/core: the pipeline as the trainer runs it, from the decoded-
//     image cache, on one worker (Loader.Workers = 1), so the figure is one
//     core's;
//   - ref_images/s/core: the reference, the same pipeline with no cache,
//     decoding and resizing the JPEG for every image on one core, which is
//     what Dassl's loader does every epoch (PIL open + Resize each time);
//   - x_vs_decode: the first over the second;
//   - x_gpu_need (train only): images/s/core over what one GPU training step
//     consumes; above 1, one core keeps one GPU fed.
//
// The sources are 500×375 JPEGs, the size of a typical ImageNet / Pets /
// Food-101 photo (EuroSAT's 64×64 images decode far faster).

// gpuTrainImagesPerSec is what one training step of the PyTorch reference
// consumes on an NVIDIA H200 (fp16 eager, ViT-B/16, 50 classes, batch 4,
// n_ctx 2): 4 images every 51.4 ms, from the project's measured anchors
// (../shared/anchors.md beside the repository: "train step, 50 classes,
// batch 4"). It is a published constant, not measured here.
const gpuTrainImagesPerSec = 4 / 51.4e-3 // 77.8 images/s

// benchLoader writes 8 real 500×375 JPEGs, caches them at 224 in both modes
// and returns n items cycling over them, with a one-worker loader.
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
	l.Workers = 1
	return items, l
}

// decodeBatch is the no-cache reference: every image decoded from its JPEG
// and resized under mode, augmented when augment.N > 0 (one generator per
// image seeded from rng, as Loader.TrainBatch does), normalised into dst.
func decodeBatch(b *testing.B, items []Item, idx []int, mode ResizeMode, size int, augment RandAugment, rng *rand.Rand, dst []float32) {
	per := 3 * size * size
	for i, j := range idx {
		src, err := DecodeFile(items[j].Path)
		if err != nil {
			b.Fatal(err)
		}
		img := Prepare(src, mode, size)
		if augment.N > 0 {
			img = augment.Apply(img, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
		}
		ToCHW(img, dst[i*per:(i+1)*per])
	}
}

// reportPipeline prints the rates and the ratio between them.
func reportPipeline(b *testing.B, images int, cached, reference time.Duration) float64 {
	rate := float64(images) / cached.Seconds()
	ref := float64(images) / reference.Seconds()
	b.ReportMetric(rate, "images/s/core")
	b.ReportMetric(ref, "ref_images/s/core")
	b.ReportMetric(rate/ref, "x_vs_decode")
	return rate
}

// BenchmarkTrainPipeline: cached 224×224 squashed image -> RandAugment(2, 10)
// -> normalised tensor, in batches of 4 (fomo's train batch size), against
// decode + squash + RandAugment + normalise for every image.
func BenchmarkTrainPipeline(b *testing.B) {
	items, l := benchLoader(b, 8)
	rng := rand.New(rand.NewPCG(1, 2))
	refRNG := rand.New(rand.NewPCG(1, 2))
	buf := make([]float32, 4*3*224*224)
	var cached, reference time.Duration
	images := 0
	for b.Loop() {
		for _, idx := range TrainBatches(len(items), 4, rng) {
			start := time.Now()
			if _, err := l.TrainBatch(items, idx, rng); err != nil {
				b.Fatal(err)
			}
			cached += time.Since(start)
			start = time.Now()
			decodeBatch(b, items, idx, Squash, l.Size, l.Augment, refRNG, buf)
			reference += time.Since(start)
			images += len(idx)
		}
	}
	rate := reportPipeline(b, images, cached, reference)
	b.ReportMetric(rate/gpuTrainImagesPerSec, "x_gpu_need")
}

// BenchmarkTestPipeline: cached 224×224 centre crop -> normalised tensor,
// against decode + shorter-side resize + centre crop + normalise for every
// image. 24 images an iteration (Dassl's test batches hold 100; the rate per
// image does not depend on it, and fewer keeps the reference short).
func BenchmarkTestPipeline(b *testing.B) {
	const n = 24
	items, l := benchLoader(b, n)
	idx := TestBatches(n, n)[0]
	buf := make([]float32, n*3*224*224)
	var cached, reference time.Duration
	images := 0
	for b.Loop() {
		start := time.Now()
		if _, err := l.TestBatch(items, idx); err != nil {
			b.Fatal(err)
		}
		cached += time.Since(start)
		start = time.Now()
		decodeBatch(b, items, idx, ShorterSideCrop, l.Size, RandAugment{}, nil, buf)
		reference += time.Since(start)
		images += len(idx)
	}
	reportPipeline(b, images, cached, reference)
}
