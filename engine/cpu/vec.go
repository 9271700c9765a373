package cpu

import "math"

// vecOps is one implementation of the row primitives the layers are built
// from. Every primitive walks its slices in a fixed order that depends only
// on their length, so a row's result never depends on the rows around it.
// The portable implementation is plain Go; vec_amd64.s has AVX2/FMA ones
// (with an exp of about 1 ulp), chosen at run time like the matrix kernels.
type vecOps struct {
	name string
	// sum returns Σ x; dot returns Σ x·y (len(y) ≥ len(x)); maxOf returns
	// max x (−Inf for an empty x); sumSqDev returns Σ (x−m)².
	sum      func(x []float32) float32
	dot      func(x, y []float32) float32
	maxOf    func(x []float32) float32
	sumSqDev func(x []float32, m float32) float32
	// expShiftSum sets x ← exp((x−shift)·scale) and returns the new Σ x.
	expShiftSum func(x []float32, shift, scale float32) float32
	// quickGELU sets out ← in·σ(1.702·in); quickGELUGrad adds
	// dout·d/dx[x·σ(1.702x)] at x = in to dinp.
	quickGELU     func(out, in []float32)
	quickGELUGrad func(dinp, in, dout []float32)
	// lnAffine sets y ← (x−m)·s·w + b; lnGradSums returns Σ w·dy and
	// Σ w·dy·(x−m)·s; lnGrad adds s·(w·dy − mg − (x−m)·s·mgn) to dx.
	lnAffine   func(y, x, w, b []float32, m, s float32)
	lnGradSums func(dy, x, w []float32, m, s float32) (sg, sgn float32)
	lnGrad     func(dx, dy, x, w []float32, m, s, mg, mgn float32)
	// add sets out ← a + b; axpy adds alpha·x to y; scale sets out ← alpha·x;
	// softmaxGrad sets dp ← scale·p·(dp − pd).
	add         func(out, a, b []float32)
	axpy        func(y, x []float32, alpha float32)
	scale       func(out, x []float32, alpha float32)
	softmaxGrad func(dp, p []float32, pd, scale float32)
}

// vec is the implementation the layers use, the fastest this CPU runs.
// Tests switch it to compare implementations.
var vec = bestVecOps()

var genericVec = &vecOps{
	name: "go",
	sum: func(x []float32) (s float32) {
		for _, v := range x {
			s += v
		}
		return s
	},
	dot: func(x, y []float32) (s float32) {
		y = y[:len(x)]
		for i, v := range x {
			s += v * y[i]
		}
		return s
	},
	maxOf: func(x []float32) float32 {
		m := float32(math.Inf(-1))
		for _, v := range x {
			m = max(m, v)
		}
		return m
	},
	sumSqDev: func(x []float32, m float32) (s float32) {
		for _, v := range x {
			s += (v - m) * (v - m)
		}
		return s
	},
	expShiftSum: func(x []float32, shift, scale float32) (s float32) {
		for i, v := range x {
			e := float32(math.Exp(float64((v - shift) * scale)))
			x[i] = e
			s += e
		}
		return s
	},
	quickGELU: func(out, in []float32) {
		out = out[:len(in)]
		for i, x := range in {
			out[i] = x * sigmoid(quickGELUAlpha*x)
		}
	},
	quickGELUGrad: func(dinp, in, dout []float32) {
		dinp = dinp[:len(in)]
		dout = dout[:len(in)]
		for i, x := range in {
			s := sigmoid(quickGELUAlpha * x)
			dinp[i] += dout[i] * (s + quickGELUAlpha*x*s*(1-s))
		}
	},
	lnAffine: func(y, x, w, b []float32, m, s float32) {
		y, w, b = y[:len(x)], w[:len(x)], b[:len(x)]
		for i, v := range x {
			y[i] = (v-m)*s*w[i] + b[i]
		}
	},
	lnGradSums: func(dy, x, w []float32, m, s float32) (sg, sgn float32) {
		dy, w = dy[:len(x)], w[:len(x)]
		for i, v := range x {
			g := w[i] * dy[i]
			sg += g
			sgn += g * ((v - m) * s)
		}
		return sg, sgn
	},
	lnGrad: func(dx, dy, x, w []float32, m, s, mg, mgn float32) {
		dx, dy, w = dx[:len(x)], dy[:len(x)], w[:len(x)]
		for i, v := range x {
			dx[i] += s * (w[i]*dy[i] - mg - (v-m)*s*mgn)
		}
	},
	add: func(out, a, b []float32) {
		a, b = a[:len(out)], b[:len(out)]
		for i := range out {
			out[i] = a[i] + b[i]
		}
	},
	axpy: func(y, x []float32, alpha float32) {
		x = x[:len(y)]
		for i := range y {
			y[i] += alpha * x[i]
		}
	},
	scale: func(out, x []float32, alpha float32) {
		x = x[:len(out)]
		for i, v := range x {
			out[i] = alpha * v
		}
	},
	softmaxGrad: func(dp, p []float32, pd, scale float32) {
		p = p[:len(dp)]
		for i, g := range dp {
			dp[i] = scale * p[i] * (g - pd)
		}
	},
}

func sigmoid(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}
