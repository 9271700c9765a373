package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The tests check each forward against a float64 reference written out
// naively here, and each backward against central finite differences of that
// float64 reference, so the float32 code is compared with something exact
// enough that the tolerances can be tight.

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// numGrad returns the central-difference gradient of f at x.
func numGrad(f func([]float64) float64, x []float64) []float64 {
	const h = 1e-6
	g := make([]float64, len(x))
	for i := range x {
		orig := x[i]
		x[i] = orig + h
		up := f(x)
		x[i] = orig - h
		down := f(x)
		x[i] = orig
		g[i] = (up - down) / (2 * h)
	}
	return g
}

// weighted turns a vector-valued function into the scalar Σ w·y, whose
// gradient is the vector-Jacobian product with w: exactly what a backward
// pass given dout = w computes.
func weighted(w []float32, f func([]float64) []float64) func([]float64) float64 {
	return func(x []float64) float64 {
		var s float64
		for i, y := range f(x) {
			s += float64(w[i]) * y
		}
		return s
	}
}

func assertClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*(1+scale) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %g, want %g (|diff| %g, max |want| %g)", what, i, got[i], want[i], d, scale)
		}
	}
}

func naiveMatmul(x, w, b []float64, rows, in, out int) []float64 {
	y := make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := range in {
				s += x[r*in+i] * w[o*in+i]
			}
			y[r*out+o] = s
		}
	}
	return y
}

func TestMatmulForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Shapes cover every micro-kernel edge (rows not a multiple of 4, odd
	// columns), several depth blocks, several tiles, and the parallel path.
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 2, 256}, {5, 3, 257}, {67, 129, 300}, {130, 257, 520}, {9, 1000, 64}}
	for _, s := range shapes {
		rows, in, out := s[0], s[2], s[1]
		x, w, b := randSlice(rng, rows*in, 1), randSlice(rng, out*in, 1), randSlice(rng, out, 1)
		for _, bias := range [][]float32{nil, b} {
			y := make([]float32, rows*out)
			for i := range y {
				y[i] = float32(math.NaN()) // must be overwritten
			}
			MatmulForward(y, x, w, bias, rows, in, out)
			var b64 []float64
			if bias != nil {
				b64 = to64(bias)
			}
			assertClose(t, "matmul", y, naiveMatmul(to64(x), to64(w), b64, rows, in, out), 1e-5*math.Sqrt(float64(in)))
		}
	}
}

func TestMatmulRowDoesNotDependOnRowCount(t *testing.T) {
	// The text tower computes only the positions it needs; that is exact only
	// if a row's result is bit-identical whatever rows surround it.
	rng := rand.New(rand.NewPCG(3, 4))
	in, out := 600, 37
	x, w := randSlice(rng, 70*in, 1), randSlice(rng, out*in, 1)
	full := make([]float32, 70*out)
	MatmulForward(full, x, w, nil, 70, in, out)
	for _, rows := range []int{1, 2, 5, 13} {
		part := make([]float32, rows*out)
		MatmulForward(part, x, w, nil, rows, in, out)
		for i := range part {
			if part[i] != full[i] {
				t.Fatalf("rows=%d: element %d = %g, with 70 rows %g", rows, i, part[i], full[i])
			}
		}
	}
}

func TestMatmulBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// 3 rows takes the rank-1 update path, 20 the transpose-and-tile path.
	for _, rows := range []int{3, 20} {
		in, out := 9, 7
		x, w, b := randSlice(rng, rows*in, 1), randSlice(rng, out*in, 1), randSlice(rng, out, 1)
		dout := randSlice(rng, rows*out, 1)
		// Gradients accumulate: start from a known non-zero value.
		dx, dw, db := make([]float32, rows*in), make([]float32, out*in), make([]float32, out)
		for i := range dx {
			dx[i] = 1
		}
		for i := range dw {
			dw[i] = 1
		}
		for i := range db {
			db[i] = 1
		}
		MatmulBackward(dx, dw, db, dout, x, w, rows, in, out)
		x64, w64, b64 := to64(x), to64(w), to64(b)
		wantDx := numGrad(weighted(dout, func(v []float64) []float64 { return naiveMatmul(v, w64, b64, rows, in, out) }), x64)
		wantDw := numGrad(weighted(dout, func(v []float64) []float64 { return naiveMatmul(x64, v, b64, rows, in, out) }), w64)
		wantDb := numGrad(weighted(dout, func(v []float64) []float64 { return naiveMatmul(x64, w64, v, rows, in, out) }), b64)
		for _, g := range [][]float64{wantDx, wantDw, wantDb} {
			for i := range g {
				g[i]++
			}
		}
		assertClose(t, "dx", dx, wantDx, 1e-5)
		assertClose(t, "dw", dw, wantDw, 1e-5)
		assertClose(t, "db", db, wantDb, 1e-5)
		// nil outputs are skipped, and the input gradient alone is unchanged.
		dx2 := make([]float32, rows*in)
		MatmulBackward(dx2, nil, nil, dout, x, w, rows, in, out)
		for i := range dx2 {
			if math.Abs(float64(dx2[i]+1-dx[i])) > 1e-5 {
				t.Fatalf("dx alone differs at %d", i)
			}
		}
	}
}

func TestTranspose(t *testing.T) {
	rows, cols := 45, 70
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, rows*cols)
	Transpose(dst, src, rows, cols)
	for r := range rows {
		for c := range cols {
			if dst[c*rows+r] != src[r*cols+c] {
				t.Fatalf("dst[%d,%d] = %g, want %g", c, r, dst[c*rows+r], src[r*cols+c])
			}
		}
	}
}

func refLayerNorm(x, w, b []float64, rows, dim int) []float64 {
	y := make([]float64, len(x))
	for r := range rows {
		row := x[r*dim : r*dim+dim]
		m, v := 0.0, 0.0
		for _, a := range row {
			m += a
		}
		m /= float64(dim)
		for _, a := range row {
			v += (a - m) * (a - m)
		}
		v /= float64(dim)
		for i, a := range row {
			y[r*dim+i] = (a-m)/math.Sqrt(v+LayerNormEps)*w[i] + b[i]
		}
	}
	return y
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rows, dim := 4, 10
	x, w, b := randSlice(rng, rows*dim, 2), randSlice(rng, dim, 1), randSlice(rng, dim, 1)
	for i := range x {
		x[i] += 3 // a non-zero mean must be removed
	}
	y, mean, rstd := make([]float32, rows*dim), make([]float32, rows), make([]float32, rows)
	LayerNormForward(y, mean, rstd, x, w, b, rows, dim)
	x64, w64, b64 := to64(x), to64(w), to64(b)
	assertClose(t, "layernorm", y, refLayerNorm(x64, w64, b64, rows, dim), 1e-5)

	dout := randSlice(rng, rows*dim, 1)
	dx, dw, db := make([]float32, rows*dim), make([]float32, dim), make([]float32, dim)
	LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd, rows, dim)
	assertClose(t, "dx", dx, numGrad(weighted(dout, func(v []float64) []float64 { return refLayerNorm(v, w64, b64, rows, dim) }), x64), 1e-4)
	assertClose(t, "dw", dw, numGrad(weighted(dout, func(v []float64) []float64 { return refLayerNorm(x64, v, b64, rows, dim) }), w64), 1e-4)
	assertClose(t, "db", db, numGrad(weighted(dout, func(v []float64) []float64 { return refLayerNorm(x64, w64, v, rows, dim) }), b64), 1e-4)
}

func refAttention(qkv []float64, B, T, C, NH int, causal bool) []float64 {
	hs := C / NH
	out := make([]float64, B*T*C)
	for b := range B {
		for h := range NH {
			for t := range T {
				scores := make([]float64, T)
				for t2 := range T {
					if causal && t2 > t {
						scores[t2] = math.Inf(-1)
						continue
					}
					for i := range hs {
						scores[t2] += qkv[(b*T+t)*3*C+h*hs+i] * qkv[(b*T+t2)*3*C+C+h*hs+i]
					}
					scores[t2] /= math.Sqrt(float64(hs))
				}
				m := math.Inf(-1)
				for _, s := range scores {
					m = max(m, s)
				}
				sum := 0.0
				for t2, s := range scores {
					scores[t2] = math.Exp(s - m)
					sum += scores[t2]
				}
				for t2 := range T {
					for i := range hs {
						out[(b*T+t)*C+h*hs+i] += scores[t2] / sum * qkv[(b*T+t2)*3*C+2*C+h*hs+i]
					}
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	B, T, C, NH := 2, 5, 8, 2
	for _, causal := range []bool{false, true} {
		qkv := randSlice(rng, B*T*3*C, 1)
		out, att := make([]float32, B*T*C), make([]float32, B*NH*T*T)
		AttentionForward(out, att, qkv, B, T, C, NH, causal)
		qkv64 := to64(qkv)
		assertClose(t, "attention", out, refAttention(qkv64, B, T, C, NH, causal), 1e-5)
		if causal && att[1] != 0 { // token 0 must not see token 1
			t.Fatalf("causal attention gives token 0 weight %g on token 1", att[1])
		}
		dout := randSlice(rng, B*T*C, 1)
		dqkv := make([]float32, len(qkv))
		AttentionBackward(dqkv, dout, qkv, att, B, T, C, NH, causal)
		want := numGrad(weighted(dout, func(v []float64) []float64 { return refAttention(v, B, T, C, NH, causal) }), qkv64)
		assertClose(t, "dqkv", dqkv, want, 1e-4)
	}
}

func TestCrossEntropyBadLabelPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("label 3 of 3 classes did not panic")
		}
	}()
	CrossEntropyForward(make([]float32, 1), make([]float32, 3), make([]float32, 3), []int32{3}, 1, 3)
}

// BenchmarkMatmul measures the kernel on the shape of a ViT-B/16 MLP input
// projection for two images (394 tokens, 768 → 3072).
func BenchmarkMatmul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows, in, out := 394, 768, 3072
	x, w := randSlice(rng, rows*in, 1), randSlice(rng, out*in, 1)
	y := make([]float32, rows*out)
	for b.Loop() {
		MatmulForward(y, x, w, nil, rows, in, out)
	}
	b.ReportMetric(2*float64(rows*in*out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkMatmulBackwardInput measures dx = dy·W on the same shape.
func BenchmarkMatmulBackwardInput(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows, in, out := 394, 768, 3072
	x, w, dy := randSlice(rng, rows*in, 1), randSlice(rng, out*in, 1), randSlice(rng, rows*out, 1)
	dx := make([]float32, rows*in)
	for b.Loop() {
		MatmulBackward(dx, nil, nil, dy, x, w, rows, in, out)
	}
	b.ReportMetric(2*float64(rows*in*out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
