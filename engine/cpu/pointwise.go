package cpu

// quickGELUAlpha is the sigmoid sharpness of CLIP's QuickGELU.
const quickGELUAlpha = 1.702

// QuickGELUForward computes out = x·σ(1.702x) elementwise over len(inp).
func QuickGELUForward(out, inp []float32) {
	out = out[:len(inp)]
	parallelChunks(len(inp), func(lo, hi int) { vec.quickGELU(out[lo:hi], inp[lo:hi]) })
}

// QuickGELUBackward adds dout·d/dx[x·σ(1.702x)] to dinp.
func QuickGELUBackward(dinp, inp, dout []float32) {
	dinp = dinp[:len(inp)]
	dout = dout[:len(inp)]
	parallelChunks(len(inp), func(lo, hi int) { vec.quickGELUGrad(dinp[lo:hi], inp[lo:hi], dout[lo:hi]) })
}

// Add computes out = a + b elementwise over len(out); out may alias a or b.
func Add(out, a, b []float32) {
	a = a[:len(out)]
	b = b[:len(out)]
	parallelChunks(len(out), func(lo, hi int) { vec.add(out[lo:hi], a[lo:hi], b[lo:hi]) })
}

// Accumulate adds src to dst elementwise over len(dst).
func Accumulate(dst, src []float32) {
	src = src[:len(dst)]
	parallelChunks(len(dst), func(lo, hi int) { vec.axpy(dst[lo:hi], src[lo:hi], 1) })
}

// Scale computes out = alpha·inp elementwise over len(out); out may alias
// inp.
func Scale(out, inp []float32, alpha float32) {
	inp = inp[:len(out)]
	parallelChunks(len(out), func(lo, hi int) { vec.scale(out[lo:hi], inp[lo:hi], alpha) })
}
