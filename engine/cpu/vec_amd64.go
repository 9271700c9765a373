package cpu

import "unsafe"

// Row primitives in vec_amd64.s. The wrappers check lengths the way the
// portable versions do (a short slice panics) before handing pointers over.

//go:noescape
func expShiftSumAVX2(x *float32, n int, shift, scale float32) float32

//go:noescape
func quickGELUAVX2(out, in *float32, n int)

//go:noescape
func quickGELUGradAVX2(dinp, in, dout *float32, n int)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func dotAVX2(x, y *float32, n int) float32

//go:noescape
func sumSqDevAVX2(x *float32, n int, m float32) float32

//go:noescape
func lnAffineAVX2(y, x, w, b *float32, n int, m, s float32)

//go:noescape
func lnGradSumsAVX2(dy, x, w *float32, n int, m, s float32) (sg, sgn float32)

//go:noescape
func lnGradAVX2(dx, dy, x, w *float32, n int, m, s, mg, mgn float32)

//go:noescape
func addAVX2(out, a, b *float32, n int)

//go:noescape
func axpyAVX2(y, x *float32, n int, alpha float32)

//go:noescape
func scaleAVX2(out, x *float32, n int, alpha float32)

//go:noescape
func softmaxGradAVX2(dp, p *float32, n int, pd, scale float32)

// ptr returns the address of s's first element after checking that s has
// at least n of them.
func ptr(s []float32, n int) *float32 {
	_ = s[:n]
	return unsafe.SliceData(s)
}

var avx2Vec = &vecOps{
	name: "avx2",
	sum:  func(x []float32) float32 { return sumAVX2(ptr(x, len(x)), len(x)) },
	dot: func(x, y []float32) float32 {
		return dotAVX2(ptr(x, len(x)), ptr(y, len(x)), len(x))
	},
	maxOf:    func(x []float32) float32 { return maxAVX2(ptr(x, len(x)), len(x)) },
	sumSqDev: func(x []float32, m float32) float32 { return sumSqDevAVX2(ptr(x, len(x)), len(x), m) },
	expShiftSum: func(x []float32, shift, scale float32) float32 {
		return expShiftSumAVX2(ptr(x, len(x)), len(x), shift, scale)
	},
	quickGELU: func(out, in []float32) { quickGELUAVX2(ptr(out, len(in)), ptr(in, len(in)), len(in)) },
	quickGELUGrad: func(dinp, in, dout []float32) {
		quickGELUGradAVX2(ptr(dinp, len(in)), ptr(in, len(in)), ptr(dout, len(in)), len(in))
	},
	lnAffine: func(y, x, w, b []float32, m, s float32) {
		n := len(x)
		lnAffineAVX2(ptr(y, n), ptr(x, n), ptr(w, n), ptr(b, n), n, m, s)
	},
	lnGradSums: func(dy, x, w []float32, m, s float32) (float32, float32) {
		n := len(x)
		return lnGradSumsAVX2(ptr(dy, n), ptr(x, n), ptr(w, n), n, m, s)
	},
	lnGrad: func(dx, dy, x, w []float32, m, s, mg, mgn float32) {
		n := len(x)
		lnGradAVX2(ptr(dx, n), ptr(dy, n), ptr(x, n), ptr(w, n), n, m, s, mg, mgn)
	},
	add: func(out, a, b []float32) {
		n := len(out)
		addAVX2(ptr(out, n), ptr(a, n), ptr(b, n), n)
	},
	axpy: func(y, x []float32, alpha float32) {
		axpyAVX2(ptr(y, len(y)), ptr(x, len(y)), len(y), alpha)
	},
	scale: func(out, x []float32, alpha float32) {
		scaleAVX2(ptr(out, len(out)), ptr(x, len(out)), len(out), alpha)
	},
	softmaxGrad: func(dp, p []float32, pd, scale float32) {
		softmaxGradAVX2(ptr(dp, len(dp)), ptr(p, len(dp)), len(dp), pd, scale)
	},
}

// availableVecOps lists the row primitives this CPU can run, best first.
func availableVecOps() []*vecOps {
	if hasAVX2 {
		return []*vecOps{avx2Vec, genericVec}
	}
	return []*vecOps{genericVec}
}

func bestVecOps() *vecOps { return availableVecOps()[0] }
