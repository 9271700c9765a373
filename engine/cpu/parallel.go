package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor calls body(i) for every i in [0, n), spread over up to
// runtime.NumCPU goroutines that pull indices from a shared counter, so
// unequal items balance out. With serial set (the caller judged the work
// too small to be worth goroutines) it runs in the calling goroutine.
func parallelFor(n int, serial bool, body func(i int)) {
	workers := min(runtime.NumCPU(), n)
	if serial || workers <= 1 {
		for i := range n {
			body(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				body(i)
			}
		})
	}
	wg.Wait()
}

// scratchPool recycles the temporary buffers of the matmul backward pass
// (transposed copies), which would otherwise be allocated on every call.
var scratchPool sync.Pool

func getScratch(n int) *[]float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putScratch(p *[]float32) { scratchPool.Put(p) }
