package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vecLengths cover empty rows, every tail length of an 8-wide vector, and
// CLIP widths with and without a tail.
var vecLengths = []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 64, 199, 512, 771}

// closeTo checks a float32 against a float64 reference within rel·(1+|want|)
// (plus abs, for sums whose terms cancel).
func closeTo(t *testing.T, what string, got float32, want, rel float64) {
	t.Helper()
	if d := math.Abs(float64(got) - want); d > rel*(1+math.Abs(want)) || math.IsNaN(float64(got)) {
		t.Fatalf("%s = %g, want %g (|diff| %g)", what, got, want, d)
	}
}

func TestVecOpsMatchFloat64(t *testing.T) {
	for _, ops := range availableVecOps() {
		for _, n := range vecLengths {
			t.Run(fmt.Sprintf("%s/%d", ops.name, n), func(t *testing.T) { checkVecOps(t, ops, n) })
		}
	}
}

func checkVecOps(t *testing.T, ops *vecOps, n int) {
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	x, y, w, b := randSlice(rng, n+3, 1), randSlice(rng, n+3, 1), randSlice(rng, n+3, 1), randSlice(rng, n+3, 1)
	// Guard values past n must be neither read nor written.
	for _, s := range [][]float32{x, y, w, b} {
		s[n], s[n+1], s[n+2] = float32(math.NaN()), float32(math.NaN()), float32(math.NaN())
	}
	xs, ys, ws, bs := x[:n], y[:n], w[:n], b[:n]
	tol := 1e-6 * math.Sqrt(float64(n+1))
	var sum, dot, sq, mx float64 = 0, 0, 0, math.Inf(-1)
	for i := range n {
		sum += float64(xs[i])
		dot += float64(xs[i]) * float64(ys[i])
		mx = math.Max(mx, float64(xs[i]))
	}
	m := float32(0.3)
	for i := range n {
		sq += (float64(xs[i]) - 0.3) * (float64(xs[i]) - 0.3)
	}
	closeTo(t, "sum", ops.sum(xs), sum, tol)
	closeTo(t, "dot", ops.dot(xs, ys), dot, tol)
	closeTo(t, "sumSqDev", ops.sumSqDev(xs, m), sq, tol)
	if got := ops.maxOf(xs); float64(got) != mx {
		t.Fatalf("max = %g, want %g", got, mx)
	}

	// Elementwise outputs: compare every element, check the guard.
	out := make([]float32, n+1)
	out[n] = 42
	check := func(what string, got []float32, want func(i int) float64, rel float64) {
		t.Helper()
		for i := range n {
			closeTo(t, fmt.Sprintf("%s[%d]", what, i), got[i], want(i), rel)
		}
		if len(got) > n && got[n] != 42 {
			t.Fatalf("%s wrote past its length", what)
		}
	}
	f64 := func(s []float32, i int) float64 { return float64(s[i]) }
	gelu := func(v float64) float64 { return v / (1 + math.Exp(-quickGELUAlpha*v)) }
	geluGrad := func(v float64) float64 {
		s := 1 / (1 + math.Exp(-quickGELUAlpha*v))
		return s + quickGELUAlpha*v*s*(1-s)
	}
	ops.quickGELU(out, xs)
	check("quickGELU", out, func(i int) float64 { return gelu(f64(xs, i)) }, 1e-6)
	copy(out, ys)
	ops.quickGELUGrad(out[:n], xs, ws)
	check("quickGELUGrad", out, func(i int) float64 { return f64(ys, i) + f64(ws, i)*geluGrad(f64(xs, i)) }, 1e-6)
	ops.lnAffine(out, xs, ws, bs, m, 1.7)
	check("lnAffine", out, func(i int) float64 { return (f64(xs, i)-0.3)*1.7*f64(ws, i) + f64(bs, i) }, 1e-6)
	ops.add(out[:n], xs, ys)
	check("add", out, func(i int) float64 { return f64(xs, i) + f64(ys, i) }, 1e-7)
	copy(out, ys)
	ops.axpy(out[:n], xs, -0.5)
	check("axpy", out, func(i int) float64 { return f64(ys, i) - 0.5*f64(xs, i) }, 1e-7)
	ops.scale(out[:n], xs, 3)
	check("scale", out, func(i int) float64 { return 3 * f64(xs, i) }, 1e-7)
	copy(out, ys)
	ops.softmaxGrad(out[:n], xs, 0.25, 0.125)
	check("softmaxGrad", out, func(i int) float64 { return 0.125 * f64(xs, i) * (f64(ys, i) - 0.25) }, 1e-6)
	copy(out, ys)
	ops.lnGrad(out[:n], ws, xs, bs, m, 1.7, 0.2, -0.1)
	check("lnGrad", out, func(i int) float64 {
		return f64(ys, i) + 1.7*(f64(bs, i)*f64(ws, i)-0.2-(f64(xs, i)-0.3)*1.7*-0.1)
	}, 1e-6)
	var sg, sgn float64
	for i := range n {
		g := f64(ws, i) * f64(ys, i)
		sg += g
		sgn += g * (f64(xs, i) - 0.3) * 1.7
	}
	gotSg, gotSgn := ops.lnGradSums(ys, xs, ws, m, 1.7)
	closeTo(t, "lnGradSums.sg", gotSg, sg, tol)
	closeTo(t, "lnGradSums.sgn", gotSgn, sgn, 2*tol)

	copy(out, xs)
	var ref []float64
	var refSum float64
	for i := range n {
		e := math.Exp((f64(xs, i) - 0.5) * 2)
		ref = append(ref, e)
		refSum += e
	}
	gotSum := ops.expShiftSum(out[:n], 0.5, 2)
	check("expShiftSum", out, func(i int) float64 { return ref[i] }, 1e-6)
	closeTo(t, "expShiftSum.sum", gotSum, refSum, tol)
}

func TestVecExpAndGELUOverTheirRange(t *testing.T) {
	// The exp inside softmax and QuickGELU holds its accuracy from
	// underflow to overflow, and saturates cleanly beyond.
	var xs []float32
	for v := -120.0; v <= 100; v += 0.173 {
		xs = append(xs, float32(v))
	}
	for _, ops := range availableVecOps() {
		e := append([]float32(nil), xs...)
		ops.expShiftSum(e, 0, 1)
		for i, x := range xs {
			want := math.Exp(float64(x))
			switch {
			case x < -87.4:
				if e[i] > 1.2e-38 {
					t.Fatalf("%s: exp(%g) = %g, want about 0", ops.name, x, e[i])
				}
			case x > 88.1:
				if !(e[i] > 1e38) {
					t.Fatalf("%s: exp(%g) = %g, want a huge value", ops.name, x, e[i])
				}
			default:
				if d := math.Abs(float64(e[i])-want) / want; d > 3e-7 {
					t.Fatalf("%s: exp(%g) = %g, want %g (rel %g)", ops.name, x, e[i], want, d)
				}
			}
		}
		g := make([]float32, len(xs))
		ops.quickGELU(g, xs)
		for i, x := range xs {
			want := float64(x) / (1 + math.Exp(-quickGELUAlpha*float64(x)))
			if d := math.Abs(float64(g[i]) - want); d > 1e-6*(1+math.Abs(want)) || math.IsNaN(float64(g[i])) {
				t.Fatalf("%s: quickGELU(%g) = %g, want %g", ops.name, x, g[i], want)
			}
		}
	}
}
