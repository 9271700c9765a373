package cpu

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The assembly kernels of gemm_amd64.s, chosen at run time from the CPU's
// features (golang.org/x/sys/cpu checks that the OS saves the wide
// registers too), so the default GOAMD64=v1 build runs them wherever they
// fit.
var (
	avx512Kernel = &microKernel{name: "avx512", mr: 12, nr: 32, kc: 256, ncMax: 512, tile: avx512Tile}
	avx2Kernel   = &microKernel{name: "avx2", mr: 6, nr: 16, kc: 256, ncMax: 512, tile: avx2Tile}
)

var (
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// availableKernels lists the kernels this CPU can run, best first.
func availableKernels() []*microKernel {
	var ks []*microKernel
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}

func bestKernel() *microKernel { return availableKernels()[0] }

//go:noescape
func gemmTileAVX512(kc int, a *float32, ars, aps int, b, c *float32, ldc int, init *float32, load bool)

//go:noescape
func gemmTileAVX2(kc int, a *float32, ars, aps int, b, c *float32, ldc int, init *float32, load bool)

func avx512Tile(kc int, a []float32, ars, aps int, b []float32, c []float32, ldc int, init []float32, load bool) {
	gemmTileAVX512(kc, unsafe.SliceData(a), ars, aps, unsafe.SliceData(b), unsafe.SliceData(c), ldc, initRow(init, 32), load)
}

func avx2Tile(kc int, a []float32, ars, aps int, b []float32, c []float32, ldc int, init []float32, load bool) {
	gemmTileAVX2(kc, unsafe.SliceData(a), ars, aps, unsafe.SliceData(b), unsafe.SliceData(c), ldc, initRow(init, 16), load)
}

// initRow is the address of the nr starting values, nil for none.
func initRow(init []float32, nr int) *float32 {
	if init == nil {
		return nil
	}
	return unsafe.SliceData(init[:nr])
}

//go:noescape
func packNTAVX512(dst, src *float32, stride, chunks int)

//go:noescape
func packNTAVX2(dst, src *float32, stride, chunks int)

// packBColsFast packs a full panel of nr columns of an NT-form B (column c
// is src[c*stride:], contiguous in depth) with in-register transposes of
// 16×16 (AVX-512, nr 32) or 8×8 (AVX2, nr 16) blocks, the last depth steps
// that do not fill a block one by one. It reports false where it has no
// routine for nr.
func packBColsFast(panel, src []float32, stride, kc, nr int) bool {
	var step int
	switch {
	case nr == 32 && hasAVX512:
		step = 16
	case nr == 16 && hasAVX2:
		step = 8
	default:
		return false
	}
	panel = panel[:kc*nr]
	_ = src[(nr-1)*stride+kc-1]
	chunks := kc / step
	if chunks > 0 {
		if step == 16 {
			packNTAVX512(unsafe.SliceData(panel), unsafe.SliceData(src), stride, chunks)
		} else {
			packNTAVX2(unsafe.SliceData(panel), unsafe.SliceData(src), stride, chunks)
		}
	}
	for p := chunks * step; p < kc; p++ {
		for c := range nr {
			panel[p*nr+c] = src[c*stride+p]
		}
	}
	return true
}
