package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
)

// TrainBatches is one epoch of Dassl's training loader over n items: a random
// permutation (PyTorch's RandomSampler; the permutation itself differs from
// torch's) cut into batches of batchSize. When n >= batchSize the last
// partial batch is dropped (drop_last), giving ⌊n/batchSize⌋ batches;
// otherwise the single batch holds all n items.
func TrainBatches(n, batchSize int, rng *rand.Rand) [][]int {
	if n <= 0 || batchSize <= 0 {
		return nil
	}
	perm := rng.Perm(n)
	if n < batchSize {
		return [][]int{perm}
	}
	batches := make([][]int, n/batchSize)
	for b := range batches {
		batches[b] = perm[b*batchSize : (b+1)*batchSize : (b+1)*batchSize]
	}
	return batches
}

// TestBatches cuts 0..n-1 into consecutive batches of batchSize (Dassl's
// SequentialSampler, last batch kept even if short).
func TestBatches(n, batchSize int) [][]int {
	if n <= 0 || batchSize <= 0 {
		return nil
	}
	var batches [][]int
	for start := 0; start < n; start += batchSize {
		b := make([]int, 0, min(batchSize, n-start))
		for i := start; i < min(start+batchSize, n); i++ {
			b = append(b, i)
		}
		batches = append(batches, b)
	}
	return batches
}

// Batch is a batch of images ready for the model.
type Batch struct {
	Images []float32 // len(Labels)×3×Size×Size, CLIP-normalised, channel-major
	Labels []int
	Size   int
}

// Loader turns items into batch tensors through the image cache: the train
// pipeline is Squash + RandAugment + normalise, the test pipeline
// ShorterSideCrop + normalise.
type Loader struct {
	Cache   *Cache
	Size    int         // 224 for CLIP ViT-B/16, 32 for the demo model
	Augment RandAugment // train augmentation; N = 0 disables it
	Workers int         // images prepared in parallel; <= 0 means GOMAXPROCS
}

// NewLoader is a Loader with Dassl's RandAugment(2, 10) and GOMAXPROCS workers.
func NewLoader(cache *Cache, size int) *Loader {
	return &Loader{Cache: cache, Size: size, Augment: DefaultRandAugment()}
}

func (l *Loader) workers() int {
	if l.Workers > 0 {
		return l.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// TrainBatch builds the batch items[idx[0]], items[idx[1]], ... with the
// train pipeline. Each image gets its own generator seeded, in batch order,
// from rng, so the result depends only on rng's state and not on Workers.
func (l *Loader) TrainBatch(items []Item, idx []int, rng *rand.Rand) (Batch, error) {
	seeds := make([][2]uint64, len(idx))
	for i := range seeds {
		seeds[i] = [2]uint64{rng.Uint64(), rng.Uint64()}
	}
	return l.batch(items, idx, func(i int, it Item) (*Image, error) {
		img, err := l.Cache.Load(it.Path, Squash, l.Size)
		if err != nil || l.Augment.N == 0 {
			return img, err
		}
		return l.Augment.Apply(img, rand.New(rand.NewPCG(seeds[i][0], seeds[i][1]))), nil
	})
}

// TestBatch builds the batch items[idx[0]], ... with the test pipeline.
func (l *Loader) TestBatch(items []Item, idx []int) (Batch, error) {
	return l.batch(items, idx, func(_ int, it Item) (*Image, error) {
		return l.Cache.Load(it.Path, ShorterSideCrop, l.Size)
	})
}

func (l *Loader) batch(items []Item, idx []int, load func(i int, it Item) (*Image, error)) (Batch, error) {
	if l.Cache == nil || l.Size <= 0 {
		return Batch{}, fmt.Errorf("data loader: needs a cache and a positive size")
	}
	per := 3 * l.Size * l.Size
	b := Batch{Images: make([]float32, len(idx)*per), Labels: make([]int, len(idx)), Size: l.Size}
	for i, j := range idx {
		if j < 0 || j >= len(items) {
			return Batch{}, fmt.Errorf("data loader: index %d out of range (%d items)", j, len(items))
		}
		b.Labels[i] = items[j].Label
	}
	errs := make([]error, len(idx))
	l.parallel(len(idx), func(i int) {
		img, err := load(i, items[idx[i]])
		if err != nil {
			errs[i] = err
			return
		}
		ToCHW(img, b.Images[i*per:(i+1)*per])
	})
	for _, err := range errs { // first failing item in batch order
		if err != nil {
			return Batch{}, err
		}
	}
	return b, nil
}

// parallel runs f(0..n-1) on the loader's workers.
func (l *Loader) parallel(n int, f func(i int)) { parallel(l.workers(), n, f) }

// parallel runs f(0..n-1) on up to workers goroutines.
func parallel(workers, n int, f func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Warm fills the cache for items under mode (in parallel), so the first epoch
// does not wait on decoding and a bad image fails the run before training
// starts. It returns the first error in item order, or ctx's error.
func (l *Loader) Warm(ctx context.Context, items []Item, mode ResizeMode) error {
	if l.Cache == nil || l.Size <= 0 {
		return fmt.Errorf("data loader: needs a cache and a positive size")
	}
	errs := make([]error, len(items))
	l.parallel(len(items), func(i int) {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			return
		}
		_, errs[i] = l.Cache.Load(items[i].Path, mode, l.Size)
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
