package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// maxWorkers is how many goroutines the kernels spread work over: one per
// core the Go scheduler runs on (GOMAXPROCS).
func maxWorkers() int { return runtime.GOMAXPROCS(0) }

// parallelFor calls body(i) for every i in [0, n), spread over up to
// maxWorkers goroutines that pull indices from a shared counter, so
// unequal items balance out. With serial set (the caller judged the work
// too small to be worth goroutines) it runs in the calling goroutine.
func parallelFor(n int, serial bool, body func(i int)) {
	workers := min(maxWorkers(), n)
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

// parallelChunks calls body(lo, hi) over consecutive ranges covering
// [0, n), spread over the cores when n is large enough to pay for it. The
// ranges start at multiples of 8 (whole vectors).
func parallelChunks(n int, body func(lo, hi int)) {
	const chunk = 1 << 14
	if n < 2*chunk || maxWorkers() == 1 {
		body(0, n)
		return
	}
	parallelFor(ceilDiv(n, chunk), false, func(i int) { body(i*chunk, min(i*chunk+chunk, n)) })
}

// parallelRows calls body(r0, r1) over consecutive row ranges covering
// [0, rows), spread over the cores when rows·rowLen is large enough.
func parallelRows(rows, rowLen int, body func(r0, r1 int)) {
	const chunk = 1 << 14
	per := max(1, chunk/max(rowLen, 1))
	if rows*rowLen < 2*chunk || maxWorkers() == 1 {
		body(0, rows)
		return
	}
	parallelFor(ceilDiv(rows, per), false, func(i int) { body(i*per, min(i*per+per, rows)) })
}
