package backend

import (
	"fmt"
	"math"
)

// HostWrapper is implemented by backends whose buffers live in host memory
// (the CPU backend). WrapHost makes a Float32 buffer of data itself, without
// copying: the caller hands the memory over and must not write to it again.
// Models use it through Resident so that frozen weights are not held twice.
type HostWrapper interface {
	WrapHost(data []float32) Buffer
}

// Resident returns data as a buffer of b: wrapped in place when b is a
// HostWrapper, else allocated and uploaded. It is for data that never
// changes after this call, such as a model's weights.
func Resident(b Backend, data []float32) (Buffer, error) {
	if w, ok := b.(HostWrapper); ok {
		return w.WrapHost(data), nil
	}
	return FromHost(b, data)
}

// FromHost allocates a Float32 buffer holding a copy of data.
func FromHost(b Backend, data []float32) (Buffer, error) {
	buf, err := b.Alloc(Float32, len(data))
	if err != nil {
		return nil, err
	}
	b.Upload(buf, data)
	return buf, nil
}

// Int32FromHost allocates an Int32 buffer holding ints converted to int32.
// It panics on a value outside the int32 range.
func Int32FromHost(b Backend, ints []int) (Buffer, error) {
	buf, err := b.Alloc(Int32, len(ints))
	if err != nil {
		return nil, err
	}
	b.UploadInt32(buf, ToInt32(nil, ints))
	return buf, nil
}

// ToHost downloads a whole Float32 buffer into a new slice.
func ToHost(b Backend, buf Buffer) ([]float32, error) {
	out := make([]float32, buf.Len())
	if err := b.Download(out, buf); err != nil {
		return nil, err
	}
	return out, nil
}

// ToInt32 converts ints into dst (grown as needed) and returns it. It panics
// on a value outside the int32 range: ids, labels and row indices of a
// model never are.
func ToInt32(dst []int32, ints []int) []int32 {
	dst = dst[:0]
	for _, v := range ints {
		if int(int32(v)) != v {
			panic(fmt.Sprintf("backend: %d does not fit in int32", v))
		}
		dst = append(dst, int32(v))
	}
	return dst
}

// AdamWCorrections are the two numbers of an AdamWStep that depend only on
// the step number (from 1), computed in float64 as torch does on the host:
// the step size lr/(1−beta1^step) and the root of the second moment's bias
// correction, sqrt(1−beta2^step). Every backend's AdamWStep uses them.
func AdamWCorrections(lr, beta1, beta2 float32, step int) (stepSize, rootCorrection float32) {
	if step < 1 {
		panic(fmt.Sprintf("backend: AdamWStep number %d, want 1 or more", step))
	}
	stepSize = float32(float64(lr) / (1 - math.Pow(float64(beta1), float64(step))))
	rootCorrection = float32(math.Sqrt(1 - math.Pow(float64(beta2), float64(step))))
	return stepSize, rootCorrection
}
