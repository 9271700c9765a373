package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// maxWorkers is how many goroutines the kernels spread work over: one per
// core the Go scheduler runs on (GOMAXPROCS).
func maxWorkers() int { return runtime.GOMAXPROCS(0) }

// parallelFor calls body(i) for every i in [0, n), spread over up to
// maxWorkers goroutines that pull indices from a shared counter, so
// unequal items balance out. With serial set (the caller judged the work
// too small to be worth goroutines) it runs in the calling goroutine.
//
// The goroutines are a pool started once: the caller offers the job to
// them and works on it too, so a call costs no goroutine start, and a call
// made from inside a body (or while every worker is busy) simply runs on
// fewer goroutines instead of waiting. A worker that has just finished a
// job spins for a while (spinFor) watching for the next one before it
// sleeps: a step is hundreds of parallel operations in quick succession,
// and waking a sleeping thread costs tens of microseconds (more on a
// virtual machine), long enough to leave a core idle for a good part of a
// short operation. The caller likewise spins, not sleeps, while the last
// workers finish their last items.
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
	j.open(n, workers-1, body)
	offered.Store(j)
	for range workers - 1 - int(spinning.Load()) {
		select {
		case poolJobs <- j: // a sleeping worker
		default: // none
		}
	}
	j.run()
	offered.CompareAndSwap(j, nil)
	j.close()
	j.body = nil
	jobPool.Put(j)
}

// parallelJob is one parallelFor call, shared by the goroutines working
// on it.
type parallelJob struct {
	n, helpers int
	body       func(i int)
	next       atomic.Int64
	seq        atomic.Uint64 // which call this is (jobs are reused)
	// state counts the helpers working on the job; closedBit says the
	// caller has finished its part and no helper may join any more.
	state atomic.Int64
}

const closedBit = 1 << 32

var jobSeq atomic.Uint64

// open readies j for a call. It is closed until its last step, so no
// helper holding an old pointer to it can join before it is set up.
func (j *parallelJob) open(n, helpers int, body func(int)) {
	j.n, j.helpers, j.body = n, helpers, body
	j.next.Store(0)
	j.seq.Store(jobSeq.Add(1))
	j.state.Store(0)
}

// join admits a helper unless the job is closed or has its helpers.
func (j *parallelJob) join() bool {
	for {
		s := j.state.Load()
		if s&closedBit != 0 || int(s) >= j.helpers {
			return false
		}
		if j.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (j *parallelJob) leave() { j.state.Add(-1) }

// close stops helpers from joining and waits for those working on their
// last item.
func (j *parallelJob) close() {
	j.state.Or(closedBit)
	for i := 0; j.state.Load() != closedBit; i++ {
		if i%64 == 63 {
			runtime.Gosched()
		}
	}
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

// spinFor is how long a worker watches for a new job before it sleeps.
const spinFor = 200 * time.Microsecond

var (
	jobPool   = sync.Pool{New: func() any { j := new(parallelJob); j.state.Store(closedBit); return j }}
	poolJobs  = make(chan *parallelJob) // unbuffered: a send succeeds only to a sleeping worker
	offered   atomic.Pointer[parallelJob]
	spinning  atomic.Int32 // workers watching offered
	poolStart sync.Once
)

// startPool starts one worker per CPU beyond the caller's.
func startPool() {
	poolStart.Do(func() {
		for range max(runtime.NumCPU(), maxWorkers()) - 1 {
			go poolWorker()
		}
	})
}

// poolWorker helps with the jobs it is handed while asleep or finds while
// spinning.
func poolWorker() {
	var lastSeq uint64
	for j := range poolJobs {
		for j != nil {
			// A job is looked at once: joined, or passed over when it is
			// closed or has its helpers.
			if seq := j.seq.Load(); seq != lastSeq {
				lastSeq = seq
				if j.join() {
					j.run()
					j.leave()
				}
			}
			j = watchForJob(lastSeq)
		}
	}
}

// watchForJob spins for up to spinFor until a job other than the one
// numbered last is offered, returning it, or nil.
func watchForJob(last uint64) *parallelJob {
	spinning.Add(1)
	defer spinning.Add(-1)
	deadline := time.Now().Add(spinFor)
	for i := 0; ; i++ {
		if j := offered.Load(); j != nil && j.seq.Load() != last {
			return j
		}
		if i%64 == 63 {
			if time.Now().After(deadline) {
				return nil
			}
			runtime.Gosched() // let anything else waiting for this P run
		}
	}
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
