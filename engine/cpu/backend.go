package cpu

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// Backend is the CPU implementation of backend.Backend: its buffers are Go
// slices and its operations are this package's functions.
type Backend struct {
	device string
}

// New returns the CPU backend.
func New() *Backend { return &Backend{device: describeDevice()} }

var _ backend.Backend = (*Backend)(nil)
var _ backend.HostWrapper = (*Backend)(nil)

// Name is "cpu".
func (*Backend) Name() string { return "cpu" }

// Device names the processor, its widest vector extension and the number of
// threads the operations spread over.
func (c *Backend) Device() string { return c.device }

// buffer is a CPU buffer: one of f and i holds the elements.
type buffer struct {
	dtype backend.DType
	f     []float32
	i     []int32
	view  bool
}

func (b *buffer) Len() int {
	if b.dtype == backend.Int32 {
		return len(b.i)
	}
	return len(b.f)
}

func (b *buffer) DType() backend.DType { return b.dtype }

// Alloc never fails: Go's allocator panics when memory runs out.
func (*Backend) Alloc(dtype backend.DType, n int) (backend.Buffer, error) {
	if n < 0 {
		panic(fmt.Sprintf("cpu: Alloc of %d elements", n))
	}
	switch dtype {
	case backend.Float32:
		return &buffer{dtype: dtype, f: make([]float32, n)}, nil
	case backend.Int32:
		return &buffer{dtype: dtype, i: make([]int32, n)}, nil
	}
	panic(fmt.Sprintf("cpu: Alloc of unknown %v", dtype))
}

// WrapHost makes data a buffer without copying it.
func (*Backend) WrapHost(data []float32) backend.Buffer {
	return &buffer{dtype: backend.Float32, f: data}
}

// Free drops the buffer; the garbage collector reclaims it once no view
// refers to it.
func (*Backend) Free(b backend.Buffer) {
	if b == nil {
		return
	}
	if own(b, "Free").view {
		panic("cpu: Free of a view")
	}
}

func (*Backend) View(b backend.Buffer, offset, n int) backend.Buffer {
	buf := own(b, "View")
	if offset < 0 || n < 0 || offset+n > buf.Len() {
		panic(fmt.Sprintf("cpu: View [%d,%d) of a buffer of %d", offset, offset+n, buf.Len()))
	}
	v := &buffer{dtype: buf.dtype, view: true}
	if buf.dtype == backend.Int32 {
		v.i = buf.i[offset : offset+n : offset+n]
	} else {
		v.f = buf.f[offset : offset+n : offset+n]
	}
	return v
}

func (*Backend) Upload(dst backend.Buffer, src []float32) {
	copy(floats(dst, "Upload", len(src)), src)
}

func (*Backend) UploadInt32(dst backend.Buffer, src []int32) {
	copy(ints(dst, "UploadInt32", len(src)), src)
}

func (*Backend) Download(dst []float32, src backend.Buffer) error {
	copy(dst, floats(src, "Download", len(dst)))
	return nil
}

func (*Backend) DownloadInt32(dst []int32, src backend.Buffer) error {
	copy(dst, ints(src, "DownloadInt32", len(dst)))
	return nil
}

func (*Backend) Zero(b backend.Buffer) {
	buf := own(b, "Zero")
	clear(buf.f)
	clear(buf.i)
}

func (*Backend) Copy(dst, src backend.Buffer) {
	s, d := own(src, "Copy"), own(dst, "Copy")
	if s.dtype != d.dtype || d.Len() < s.Len() {
		panic(fmt.Sprintf("cpu: Copy of %d %v into %d %v", s.Len(), s.dtype, d.Len(), d.dtype))
	}
	copy(d.f, s.f)
	copy(d.i, s.i)
}

// own returns b as this backend's buffer, panicking with op's name when it
// is nil or another backend's.
func own(b backend.Buffer, op string) *buffer {
	buf, ok := b.(*buffer)
	if !ok || buf == nil {
		panic(fmt.Sprintf("cpu: %s: %T is not a CPU buffer", op, b))
	}
	return buf
}

// floats returns the first n elements of a Float32 buffer; nil stays nil
// (an unwanted gradient, an absent bias).
func floats(b backend.Buffer, op string, n int) []float32 {
	if b == nil {
		return nil
	}
	buf := own(b, op)
	if buf.dtype != backend.Float32 || len(buf.f) < n {
		panic(fmt.Sprintf("cpu: %s needs %d float32 elements, got %d %v", op, n, buf.Len(), buf.dtype))
	}
	return buf.f[:n:n]
}

// ints returns the first n elements of an Int32 buffer.
func ints(b backend.Buffer, op string, n int) []int32 {
	buf := own(b, op)
	if buf.dtype != backend.Int32 || len(buf.i) < n {
		panic(fmt.Sprintf("cpu: %s needs %d int32 elements, got %d %v", op, n, buf.Len(), buf.dtype))
	}
	return buf.i[:n:n]
}
