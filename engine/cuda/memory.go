package cuda

import (
	"fmt"
	"unsafe"

	"github.com/fomo-grid/grid/engine/backend"
)

// buffer is device memory: n elements of a DType at ptr. Float32 buffers
// hold the Backend's precision.
type buffer struct {
	dev   *Device
	prec  Precision // of Float32 buffers
	dtype backend.DType
	ptr   uintptr
	n     int
	view  bool
	owner *Backend // the allocating Backend, for Free's accounting
}

func (b *buffer) Len() int             { return b.n }
func (b *buffer) DType() backend.DType { return b.dtype }

// elemSize is the bytes of one element of a buffer of dtype.
func (b *Backend) elemSize(dtype backend.DType) int {
	if dtype == backend.Float32 {
		return b.prec.elemSize()
	}
	return 4
}

// own checks that buf is this device's and of dtype, naming the operation
// that misused it.
func (b *Backend) own(buf backend.Buffer, dtype backend.DType, what string) *buffer {
	c, ok := buf.(*buffer)
	switch {
	case !ok:
		panic(fmt.Sprintf("cuda: %s: buffer %T is not a CUDA buffer", what, buf))
	case c.dev != b.dev:
		panic(fmt.Sprintf("cuda: %s: buffer of device %d used on device %d", what, c.dev.info.Ordinal, b.dev.info.Ordinal))
	case c.dtype != dtype:
		panic(fmt.Sprintf("cuda: %s: %v buffer where %v is needed", what, c.dtype, dtype))
	case dtype == backend.Float32 && c.prec != b.prec:
		panic(fmt.Sprintf("cuda: %s: %s buffer used by a %s backend", what, c.prec, b.prec))
	}
	return c
}

// ptr is a buffer's device pointer, 0 for nil (a gradient not wanted).
func (b *Backend) ptr(buf backend.Buffer, what string) uintptr {
	if buf == nil {
		return 0
	}
	return b.own(buf, backend.Float32, what).ptr
}

// ints is an Int32 buffer's device pointer.
func (b *Backend) ints(buf backend.Buffer, what string) uintptr {
	return b.own(buf, backend.Int32, what).ptr
}

// Alloc returns a zeroed buffer. Out of device memory is an error naming
// the request.
func (b *Backend) Alloc(dtype backend.DType, n int) (backend.Buffer, error) {
	if n < 0 || (dtype != backend.Float32 && dtype != backend.Int32) {
		panic(fmt.Sprintf("cuda: Alloc of %d elements of %v", n, dtype))
	}
	buf := &buffer{dev: b.dev, prec: b.prec, dtype: dtype, n: n, owner: b}
	if n == 0 {
		return buf, nil
	}
	if err := b.dev.enter(); err != nil {
		return nil, err
	}
	defer b.dev.exit()
	bytes := n * b.elemSize(dtype)
	ptr, err := b.deviceAlloc(bytes)
	if err != nil {
		return nil, fmt.Errorf("cuda: allocating %d %v elements (%d bytes; %d held by this job): %w", n, dtype, bytes, b.live, err)
	}
	buf.ptr = ptr
	b.queue = append(b.queue, op{kind: opMemset, dst: ptr, bytes: uint64(bytes)})
	return buf, nil
}

// deviceAlloc allocates and accounts device memory; the context is current.
func (b *Backend) deviceAlloc(bytes int) (uintptr, error) {
	var ptr uintptr
	if err := b.drv().check("cuMemAlloc_v2", call(b.drv().cuMemAlloc, uintptr(unsafe.Pointer(&ptr)), uintptr(bytes))); err != nil {
		return 0, err
	}
	b.allocs[ptr] = int64(bytes)
	b.live += int64(bytes)
	b.peak = max(b.peak, b.live)
	return ptr, nil
}

// deviceFree waits for the queued work that may still use ptr, then frees
// it; the context is current.
func (b *Backend) deviceFree(ptr uintptr) {
	b.flush()
	b.setErr(b.drv().check("cuStreamSynchronize", call(b.drv().cuStreamSynchronize, b.stream)))
	b.setErr(b.drv().check("cuMemFree_v2", call(b.drv().cuMemFree, ptr)))
	b.live -= b.allocs[ptr]
	delete(b.allocs, ptr)
}

// Free releases a buffer from Alloc.
func (b *Backend) Free(buf backend.Buffer) {
	if buf == nil {
		return
	}
	c, ok := buf.(*buffer)
	if !ok || c.dev != b.dev {
		panic(fmt.Sprintf("cuda: Free of a buffer %T not from this device", buf))
	}
	if c.view {
		panic("cuda: Free of a view")
	}
	if c.ptr == 0 {
		return
	}
	if err := b.dev.enter(); err != nil {
		b.setErr(err)
		return
	}
	defer b.dev.exit()
	c.owner.deviceFreeFrom(b, c.ptr)
	c.ptr, c.n = 0, 0
}

// deviceFreeFrom frees ptr, allocated by o, once the work queued on both o
// and the freeing Backend is done.
func (o *Backend) deviceFreeFrom(freer *Backend, ptr uintptr) {
	if freer != o {
		freer.flush()
		freer.setErr(freer.drv().check("cuStreamSynchronize", call(freer.drv().cuStreamSynchronize, freer.stream)))
	}
	o.deviceFree(ptr)
}

// View is elements [offset, offset+n) of buf.
func (b *Backend) View(buf backend.Buffer, offset, n int) backend.Buffer {
	c, ok := buf.(*buffer)
	if !ok || c.dev != b.dev {
		panic(fmt.Sprintf("cuda: View of a buffer %T not from this device", buf))
	}
	if offset < 0 || n < 0 || offset+n > c.n {
		panic(fmt.Sprintf("cuda: View [%d,%d) of a buffer of %d", offset, offset+n, c.n))
	}
	v := *c
	v.ptr += uintptr(offset * b.elemSize(c.dtype))
	v.n, v.view = n, true
	return &v
}

// Zero sets every element to zero (all-zero bits is 0 in every format).
func (b *Backend) Zero(buf backend.Buffer) {
	c, ok := buf.(*buffer)
	if !ok || c.dev != b.dev {
		panic(fmt.Sprintf("cuda: Zero of a buffer %T not from this device", buf))
	}
	if c.n > 0 {
		b.queue = append(b.queue, op{kind: opMemset, dst: c.ptr, bytes: uint64(c.n * b.elemSize(c.dtype))})
	}
}

// Copy copies src into the first src.Len() elements of dst.
func (b *Backend) Copy(dst, src backend.Buffer) {
	s, ok := src.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: Copy from a buffer %T", src))
	}
	d := b.own(dst, s.dtype, "Copy")
	b.own(src, s.dtype, "Copy")
	if s.n > d.n {
		panic(fmt.Sprintf("cuda: Copy of %d elements into %d", s.n, d.n))
	}
	if s.n > 0 {
		b.queue = append(b.queue, op{kind: opCopy, dst: d.ptr, src: s.ptr, bytes: uint64(s.n * b.elemSize(s.dtype))})
	}
}

// hostAlloc allocates pinned host memory, freed by Close; the context is
// current.
func (b *Backend) hostAlloc(bytes int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	const portable = 1 // CU_MEMHOSTALLOC_PORTABLE
	if err := b.drv().check("cuMemHostAlloc", call(b.drv().cuMemHostAlloc, uintptr(unsafe.Pointer(&p)), uintptr(bytes), portable)); err != nil {
		return nil, err
	}
	b.hostMem = append(b.hostMem, p)
	return p, nil
}

func (b *Backend) hostFree(p unsafe.Pointer) {
	for i, q := range b.hostMem {
		if q == p {
			b.hostMem = append(b.hostMem[:i], b.hostMem[i+1:]...)
			break
		}
	}
	call(b.drv().cuMemFreeHost, uintptr(p))
}

// devScratch is fp32 device memory the Backend uses internally: the fp32
// side of uploads and downloads at 16-bit precision, and the score
// gradients between the two attention backward kernels.
type devScratch struct {
	ptr uintptr
	n   int
}

// scratchF32 returns scratch of at least n floats, growing it (after the
// work that uses the old one is done) when needed; the context is current.
func (b *Backend) scratchF32(n int) (uintptr, error) {
	if n <= b.scratch.n {
		return b.scratch.ptr, nil
	}
	n = max(n, 2*b.scratch.n, 1<<16)
	if b.scratch.ptr != 0 {
		b.deviceFree(b.scratch.ptr)
		b.scratch = devScratch{}
	}
	ptr, err := b.deviceAlloc(4 * n)
	if err != nil {
		return 0, fmt.Errorf("cuda: allocating %d bytes of scratch: %w", 4*n, err)
	}
	b.scratch = devScratch{ptr: ptr, n: n}
	return ptr, nil
}
