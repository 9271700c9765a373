package cpu

import "math"

// quickGELUAlpha is the sigmoid sharpness of CLIP's QuickGELU.
const quickGELUAlpha = 1.702

// QuickGELUForward computes out = x·σ(1.702x) elementwise over len(inp).
func QuickGELUForward(out, inp []float32) {
	out = out[:len(inp)]
	for i, x := range inp {
		out[i] = x * sigmoid(quickGELUAlpha*x)
	}
}

// QuickGELUBackward adds dout·d/dx[x·σ(1.702x)] to dinp.
func QuickGELUBackward(dinp, inp, dout []float32) {
	dinp = dinp[:len(inp)]
	dout = dout[:len(inp)]
	for i, x := range inp {
		s := sigmoid(quickGELUAlpha * x)
		dinp[i] += dout[i] * (s + quickGELUAlpha*x*s*(1-s))
	}
}

func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// Add computes out = a + b elementwise over len(out); out may alias a or b.
func Add(out, a, b []float32) {
	a = a[:len(out)]
	b = b[:len(out)]
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// Accumulate adds src to dst elementwise over len(dst).
func Accumulate(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// Scale computes out = alpha·inp elementwise over len(out); out may alias
// inp.
func Scale(out, inp []float32, alpha float32) {
	inp = inp[:len(out)]
	for i, v := range inp {
		out[i] = alpha * v
	}
}
