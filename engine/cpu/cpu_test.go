package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every operation is held to a float64 reference and finite differences by
// the conformance suite (conformance_test.go runs engine/backend/backendtest);
// the tests here check what only this backend promises.

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
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
