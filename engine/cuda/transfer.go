package cuda

import (
	"fmt"
	"unsafe"

	"github.com/fomo-grid/grid/engine/backend"
)

// Uploads go through a ring of pinned host buffers: Upload copies the data
// into the next slot and queues an asynchronous copy from it, then returns
// while the GPU is still busy with earlier work. That is how the next
// batch's images reach the device while the current step computes: the
// host decodes and uploads batch n+1 as soon as step n is queued. A slot is
// reused only after the event recorded behind its last copy has passed.

const uploadSlots = 4

// eventDisableTiming makes cuEventRecord cheap (CU_EVENT_DISABLE_TIMING).
const eventDisableTiming = 2

type stagingSlot struct {
	mem   unsafe.Pointer
	size  int
	event uintptr
}

// stage copies data into the next upload slot and returns it; the context
// is current.
func (b *Backend) stage(data []byte) (*stagingSlot, error) {
	s := &b.uploads[b.next]
	b.next = (b.next + 1) % uploadSlots
	if err := b.drv().check("cuEventSynchronize", call(b.drv().cuEventSynchronize, s.event)); err != nil {
		return nil, err
	}
	if err := b.growSlot(s, len(data)); err != nil {
		return nil, err
	}
	copy(unsafe.Slice((*byte)(s.mem), len(data)), data)
	return s, nil
}

// growSlot gives a staging slot at least n bytes.
func (b *Backend) growSlot(s *stagingSlot, n int) error {
	if n <= s.size {
		return nil
	}
	if s.mem != nil {
		b.hostFree(s.mem)
		s.mem, s.size = nil, 0
	}
	size := max(n, 1<<20)
	p, err := b.hostAlloc(size)
	if err != nil {
		return err
	}
	s.mem, s.size = p, size
	return nil
}

// upload queues the copy of data into dst (Float32 data into an fp32
// target, Int32 data, or the scratch a cast then reads).
func (b *Backend) upload(dst uintptr, data []byte) error {
	b.flush()
	s, err := b.stage(data)
	if err != nil {
		return err
	}
	d := b.drv()
	if err := d.check("cuMemcpyHtoDAsync_v2", call(d.cuMemcpyHtoDAsync, dst, uintptr(s.mem), uintptr(len(data)), b.stream)); err != nil {
		return err
	}
	return d.check("cuEventRecord", call(d.cuEventRecord, s.event, b.stream))
}

// Upload copies src into the first len(src) elements of dst; at 16-bit
// precision the fp32 data is uploaded to scratch and converted on the
// device.
func (b *Backend) Upload(dst backend.Buffer, src []float32) {
	b.uploadValues(dst, backend.Float32, bytesOf(src), "Upload")
}

// UploadInt32 copies src into the first len(src) elements of dst.
func (b *Backend) UploadInt32(dst backend.Buffer, src []int32) {
	b.uploadValues(dst, backend.Int32, bytesOf(src), "UploadInt32")
}

// bytesOf is a slice of 4-byte values as bytes.
func bytesOf[T float32 | int32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

// uploadValues queues the upload of data (4-byte values) into dst.
func (b *Backend) uploadValues(dst backend.Buffer, dtype backend.DType, data []byte, what string) {
	d, n := b.own(dst, dtype, what), len(data)/4
	if n > d.n {
		panic(fmt.Sprintf("cuda: %s of %d elements into %d", what, n, d.n))
	}
	if n == 0 || b.err != nil {
		return
	}
	if err := b.dev.enter(); err != nil {
		b.setErr(err)
		return
	}
	defer b.dev.exit()
	if dtype == backend.Int32 || b.prec == FP32 {
		b.setErr(b.upload(d.ptr, data))
		return
	}
	tmp, err := b.scratchF32(n)
	if err == nil {
		err = b.upload(tmp, data)
	}
	if err != nil {
		b.setErr(err)
		return
	}
	grid, block := b.elementwise(n)
	b.kernel("cast_in", grid, block, 0, argPtr(d.ptr), argPtr(tmp), argInt64(n))
}

// download waits for all queued work, copies n bytes from src to the
// download slot and returns them; the context is current.
func (b *Backend) download(src uintptr, n int) ([]byte, error) {
	b.flush()
	d := b.drv()
	if b.err == nil && n > 0 {
		if err := b.growSlot(&b.downloads, n); err != nil {
			return nil, err
		}
		b.setErr(d.check("cuMemcpyDtoHAsync_v2", call(d.cuMemcpyDtoHAsync, uintptr(b.downloads.mem), src, uintptr(n), b.stream)))
	}
	b.setErr(d.check("cuStreamSynchronize", call(d.cuStreamSynchronize, b.stream)))
	if b.err != nil {
		return nil, b.err
	}
	return unsafe.Slice((*byte)(b.downloads.mem), n), nil
}

// Download copies the first len(dst) elements of src to dst once every
// queued operation has finished, and reports the first device failure of
// any of them.
func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	return b.downloadValues(bytesOf(dst), src, backend.Float32, "Download")
}

// DownloadInt32 is Download for Int32 buffers.
func (b *Backend) DownloadInt32(dst []int32, src backend.Buffer) error {
	return b.downloadValues(bytesOf(dst), src, backend.Int32, "DownloadInt32")
}

// downloadValues fills dst (4-byte values) from src, converting 16-bit
// storage to fp32 on the device first.
func (b *Backend) downloadValues(dst []byte, src backend.Buffer, dtype backend.DType, what string) error {
	s, n := b.own(src, dtype, what), len(dst)/4
	if n > s.n {
		panic(fmt.Sprintf("cuda: %s of %d elements from %d", what, n, s.n))
	}
	if err := b.dev.enter(); err != nil {
		return err
	}
	defer b.dev.exit()
	ptr := s.ptr
	if dtype == backend.Float32 && b.prec != FP32 && n > 0 {
		tmp, err := b.scratchF32(n)
		if err != nil {
			b.setErr(err)
			return err
		}
		grid, block := b.elementwise(n)
		b.kernel("cast_out", grid, block, 0, argPtr(tmp), argPtr(s.ptr), argInt64(n))
		ptr = tmp
	}
	got, err := b.download(ptr, len(dst))
	if err != nil {
		return err
	}
	copy(dst, got)
	return nil
}
