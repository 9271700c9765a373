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
//
// The goroutines are a pool started once: the caller hands the job to the
// idle ones and works on it too, so a call costs no goroutine start, and a
// call made from inside a body (or while every worker is busy) simply runs
// on fewer goroutines instead of waiting.
func parallelFor(n int, serial bool, body func(i int)) {
	workers := min(maxWorkers(), n)
	if serial || workers <= 1 {
		for i := range n {
			body(i)
		}
		return
	}
	startPool()
	j := jobPool.Get().(*parallelJob)
	j.n, j.body = n, body
	j.next.Store(0)
	for range workers - 1 {
		j.wg.Add(1)
		select {
		case poolJobs <- j:
		default: // no idle worker
			j.wg.Done()
		}
	}
	j.run()
	j.wg.Wait()
	j.body = nil
	jobPool.Put(j)
}

// parallelJob is one parallelFor call, shared by the goroutines working
// on it.
type parallelJob struct {
	n    int
	body func(i int)
	next atomic.Int64
	wg   sync.WaitGroup // the pool workers that took the job
}

func (j *parallelJob) run() {
	for {
		i := int(j.next.Add(1)) - 1
		if i >= j.n {
			return
		}
		j.body(i)
	}
}

var (
	jobPool   = sync.Pool{New: func() any { return new(parallelJob) }}
	poolJobs  = make(chan *parallelJob) // unbuffered: a send succeeds only to an idle worker
	poolStart sync.Once
)

// startPool starts one worker per CPU beyond the caller's.
func startPool() {
	poolStart.Do(func() {
		for range max(runtime.NumCPU(), maxWorkers()) - 1 {
			go func() {
				for j := range poolJobs {
					j.run()
					j.wg.Done()
				}
			}()
		}
	})
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
