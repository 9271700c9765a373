//go:build !amd64

package cpu

// bestKernel: only the portable kernel exists off amd64.
func bestKernel() *microKernel { return genericKernel }

// availableKernels lists the kernels this CPU can run, best first.
func availableKernels() []*microKernel { return []*microKernel{genericKernel} }

// packBColsFast has no vector version here: the caller falls back to Go.
func packBColsFast(panel, src []float32, stride, kc, nr int) bool { return false }

// availableVecOps lists the row primitives this CPU can run, best first.
func availableVecOps() []*vecOps { return []*vecOps{genericVec} }

func bestVecOps() *vecOps { return genericVec }
