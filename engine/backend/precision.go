package backend

import (
	"fmt"

	"github.com/fomo-grid/grid/internal/study"
)

// Precisioner is implemented by backends that can store Float32 buffers at
// reduced precision (a job's `precision`). WithPrecision returns the
// backend of the same device at precision p: the receiver for its own
// precision, else a sibling that shares the device (made once, then kept).
type Precisioner interface {
	WithPrecision(p study.Precision) (Backend, error)
}

// AtPrecision returns b at precision p ("" is fp32): b itself for fp32 on a
// backend without reduced precision, its sibling for a Precisioner, and an
// error naming the backend otherwise (the CPU computes in fp32 only).
func AtPrecision(b Backend, p study.Precision) (Backend, error) {
	if pr, ok := b.(Precisioner); ok {
		return pr.WithPrecision(p)
	}
	if p == "" || p == study.PrecisionFP32 {
		return b, nil
	}
	return nil, fmt.Errorf("precision %s: the %s backend computes in fp32 only; run the job with backend = \"cuda\" (a GPU) or precision = \"fp32\"", p, b.Name())
}

// MemoryMeter is implemented by backends that account their device memory.
type MemoryMeter interface {
	// PeakBytes is the most device memory the backend held at once since
	// the last ResetPeak (or since it was made).
	PeakBytes() int64
	// ResetPeak starts a new measurement from what is held now.
	ResetPeak()
	// DeviceName names the device in a few words: "cuda NVIDIA H200".
	DeviceName() string
}
