package cuda

import (
	"hash/maphash"
	"math"
	"slices"
	"unsafe"
)

// The operations of a Backend are not issued one by one: they are queued
// and issued together at the next point where the host must wait (a
// Download, an Upload, a Free). Nothing can observe a queued operation
// before then, and the queue makes the step a unit: an operation sequence
// that was issued before (the same kernels, shapes, buffers and scalars:
// the next training step) is replayed as one CUDA graph launch instead of
// hundreds of kernel launches. A sequence seen for the first time is issued
// directly; the second time it is captured into a graph and instantiated;
// from then on the graph is launched. Training alternates between a few
// such sequences per step shape (forward, backward and update; the
// learning rate changes once per epoch), so a small cache holds them all.

// opKind says what an op does when issued.
type opKind uint8

const (
	opKernel opKind = iota + 1
	opMemset        // dst, bytes: set to zero
	opCopy          // dst, src, bytes: device to device
	opGemm          // plan, a, b, c, bias, alpha, beta
)

const maxKernelArgs = 16

// op is one queued operation. It is comparable: two sequences of ops are
// the same step when their ops are equal.
type op struct {
	kind        opKind
	nargs       uint8
	fn          uintptr // kernel
	grid, block [3]uint32
	smem        uint32
	args        [maxKernelArgs]uint64
	dst, src    uintptr
	bytes       uint64
	plan        *gemmPlan
	a, b, c     uintptr
	bias        uintptr
	alpha, beta float32
}

// Kernel argument encodings: every argument is passed in an 8-byte slot;
// cuLaunchKernel copies as many bytes as the kernel's parameter has, and on
// little-endian machines a 4-byte int or float is the slot's first bytes.
func argPtr(p uintptr) uint64   { return uint64(p) }
func argInt(v int) uint64       { return uint64(uint32(int32(v))) }
func argInt64(v int) uint64     { return uint64(int64(v)) }
func argFloat(v float32) uint64 { return uint64(math.Float32bits(v)) }

func argBool(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// dim3 is a launch dimension.
type dim3 = [3]uint32

// argArena is pinned host memory (not Go memory) holding the kernelParams
// array of one launch: maxKernelArgs pointers, then the slots they point
// to. The driver copies the arguments during cuLaunchKernel, so one arena
// serves every launch of a Backend.
type argArena struct {
	base  unsafe.Pointer
	ptrs  []uintptr
	slots []uint64
}

func newArgArena(b *Backend) (*argArena, error) {
	size := 16 * maxKernelArgs
	p, err := b.hostAlloc(size)
	if err != nil {
		return nil, err
	}
	a := &argArena{base: p}
	a.ptrs = unsafe.Slice((*uintptr)(p), maxKernelArgs)
	a.slots = unsafe.Slice((*uint64)(unsafe.Add(p, 8*maxKernelArgs)), maxKernelArgs)
	for i := range a.ptrs {
		a.ptrs[i] = uintptr(unsafe.Pointer(&a.slots[i]))
	}
	return a, nil
}

// graphCache holds instantiated graphs by the op sequence they replay.
type graphCache struct {
	seed    maphash.Seed
	seen    map[uint64]bool // sequences issued once, directly
	entries []graphEntry    // most recently used last
}

type graphEntry struct {
	hash uint64
	ops  []op
	exec uintptr
}

// maxGraphs bounds the cache; the least recently used graph is destroyed.
const maxGraphs = 16

// minGraphOps: shorter sequences are always issued directly, a graph
// launch would save nothing.
const minGraphOps = 8

func newGraphCache() *graphCache {
	return &graphCache{seed: maphash.MakeSeed(), seen: map[uint64]bool{}}
}

func (c *graphCache) hash(ops []op) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	if len(ops) > 0 {
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&ops[0])), len(ops)*int(unsafe.Sizeof(op{}))))
	}
	return h.Sum64()
}

// lookup returns the graph of ops and moves it to the back.
func (c *graphCache) lookup(hash uint64, ops []op) (uintptr, bool) {
	for i, e := range c.entries {
		if e.hash == hash && slices.Equal(e.ops, ops) {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			return e.exec, true
		}
	}
	return 0, false
}

// flush issues the queued ops: as a cached graph, by capturing a new one,
// or directly. A failure becomes the Backend's sticky error.
func (b *Backend) flush() {
	ops := b.queue
	if len(ops) == 0 {
		return
	}
	b.queue = b.queue[:0]
	if b.err != nil {
		return
	}
	if b.graphs == nil || len(ops) < minGraphOps {
		b.setErr(b.issueAll(ops))
		return
	}
	h := b.graphs.hash(ops)
	if exec, ok := b.graphs.lookup(h, ops); ok {
		b.setErr(b.drv().check("cuGraphLaunch", call(b.drv().cuGraphLaunch, exec, b.stream)))
		return
	}
	if !b.graphs.seen[h] {
		b.graphs.seen[h] = true
		b.setErr(b.issueAll(ops))
		return
	}
	exec, err := b.capture(ops)
	if err != nil {
		b.setErr(err)
		return
	}
	b.graphs.entries = append(b.graphs.entries, graphEntry{hash: h, ops: slices.Clone(ops), exec: exec})
	if len(b.graphs.entries) > maxGraphs {
		call(b.drv().cuGraphExecDestroy, b.graphs.entries[0].exec)
		b.graphs.entries = b.graphs.entries[1:]
	}
	b.setErr(b.drv().check("cuGraphLaunch", call(b.drv().cuGraphLaunch, exec, b.stream)))
}

// streamCaptureModeRelaxed lets other goroutines (other jobs' backends on
// the same device) keep allocating while this stream is captured.
const streamCaptureModeRelaxed = 2

// capture records ops into a graph on the Backend's stream and
// instantiates it.
func (b *Backend) capture(ops []op) (uintptr, error) {
	d := b.drv()
	if err := d.check("cuStreamBeginCapture_v2", call(d.cuStreamBeginCapture, b.stream, streamCaptureModeRelaxed)); err != nil {
		return 0, err
	}
	issueErr := b.issueAll(ops)
	var graph uintptr
	if err := d.check("cuStreamEndCapture", call(d.cuStreamEndCapture, b.stream, uintptr(unsafe.Pointer(&graph)))); err != nil {
		return 0, err
	}
	defer call(d.cuGraphDestroy, graph)
	if issueErr != nil {
		return 0, issueErr
	}
	var exec uintptr
	if err := d.check("cuGraphInstantiateWithFlags", call(d.cuGraphInstantiate, uintptr(unsafe.Pointer(&exec)), graph, 0)); err != nil {
		return 0, err
	}
	return exec, nil
}

// issueAll issues ops on the stream in order.
func (b *Backend) issueAll(ops []op) error {
	for i := range ops {
		if err := b.issue(&ops[i]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Backend) issue(o *op) error {
	d := b.drv()
	switch o.kind {
	case opKernel:
		copy(b.args.slots, o.args[:o.nargs])
		return d.check("cuLaunchKernel", call(d.cuLaunchKernel, o.fn,
			uintptr(o.grid[0]), uintptr(o.grid[1]), uintptr(o.grid[2]),
			uintptr(o.block[0]), uintptr(o.block[1]), uintptr(o.block[2]),
			uintptr(o.smem), b.stream, uintptr(b.args.base), 0))
	case opMemset:
		return d.check("cuMemsetD8Async", call(d.cuMemsetD8Async, o.dst, 0, uintptr(o.bytes), b.stream))
	case opCopy:
		return d.check("cuMemcpyDtoDAsync_v2", call(d.cuMemcpyDtoDAsync, o.dst, o.src, uintptr(o.bytes), b.stream))
	case opGemm:
		return b.rt.lt.run(b.lt, o.plan, o.a, o.b, o.c, o.bias, o.alpha, o.beta, b.workspace, b.workspaceSize, b.stream)
	}
	panic("cuda: unknown op kind")
}

// kernel queues a launch of the named kernel.
func (b *Backend) kernel(name string, grid, block dim3, smem int, args ...uint64) {
	fn, ok := b.mod.funcs[name]
	if !ok {
		panic("cuda: no kernel " + name) // a defect: the names are this package's
	}
	if len(args) > maxKernelArgs {
		panic("cuda: too many kernel arguments for " + name)
	}
	o := op{kind: opKernel, fn: fn, grid: grid, block: block, smem: uint32(smem), nargs: uint8(len(args))}
	copy(o.args[:], args)
	b.queue = append(b.queue, o)
}

// setErr keeps the first failure; the next Download reports it.
func (b *Backend) setErr(err error) {
	if err != nil && b.err == nil {
		b.err = err
	}
}
