package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// withKernel runs f with gemm using kern, restoring the best kernel after.
func withKernel(kern *microKernel, f func()) {
	saved := gemmKernel
	gemmKernel = kern
	defer func() { gemmKernel = saved }()
	f()
}

// gemmForm is one of the three layouts the matmuls use, with the float64
// product it must match.
type gemmForm struct {
	name string
	// views returns A [m,k] and B [k,n] as stored for this form.
	views func(a, b []float32, m, n, k int) (matView, matView)
}

var gemmForms = []gemmForm{
	// NT: x·Wᵀ, a Linear forward; B stored [n,k].
	{"NT", func(a, b []float32, m, n, k int) (matView, matView) { return rowMajor(a, k), transposedOf(b, k) }},
	// NN: dY·W, a Linear input gradient; B stored [k,n].
	{"NN", func(a, b []float32, m, n, k int) (matView, matView) { return rowMajor(a, k), rowMajor(b, n) }},
	// TN: dYᵀ·X, a Linear weight gradient; A stored [k,m].
	{"TN", func(a, b []float32, m, n, k int) (matView, matView) { return transposedOf(a, m), rowMajor(b, n) }},
}

func refGemm(a, b matView, m, n, k int) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for j := range n {
			s := 0.0
			for p := range k {
				s += float64(a.data[a.at(i, p)]) * float64(b.data[b.at(p, j)])
			}
			c[i*n+j] = s
		}
	}
	return c
}

// gemmShapes are m, n, k triples: tiny ones, every tile edge (sizes that are
// not multiples of any kernel's mr, nr or kc), k = 1, several depth blocks,
// and the CLIP shapes scaled down in m.
var gemmShapes = [][3]int{
	{1, 1, 1}, {1, 5, 3}, {3, 1, 7}, {2, 3, 1}, {7, 9, 1}, {13, 33, 17}, {12, 32, 256}, {25, 65, 257},
	{37, 100, 513}, {6, 16, 64}, {71, 47, 300}, {130, 257, 520}, {50, 768, 64}, {199, 199, 64}, {24, 1000, 40},
}

func TestGemmKernelsMatchFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kern := range availableKernels() {
		for _, form := range gemmForms {
			for _, s := range gemmShapes {
				m, n, k := s[0], s[1], s[2]
				t.Run(fmt.Sprintf("%s/%s/%dx%dx%d", kern.name, form.name, m, n, k), func(t *testing.T) {
					a, b := randSlice(rng, m*k, 1), randSlice(rng, k*n, 1)
					av, bv := form.views(a, b, m, n, k)
					want := refGemm(av, bv, m, n, k)
					tol := 1e-6 * math.Sqrt(float64(k))
					// Overwrite: NaN must not survive.
					c := make([]float32, m*n)
					for i := range c {
						c[i] = float32(math.NaN())
					}
					withKernel(kern, func() { gemm(m, n, k, av, bv, nil, c, n, false) })
					assertClose(t, "C", c, want, tol)
					// Accumulate: adds to what is there.
					for i := range c {
						c[i] = 1
						want[i]++
					}
					withKernel(kern, func() { gemm(m, n, k, av, bv, nil, c, n, true) })
					assertClose(t, "C+AB", c, want, tol)
					// A bias: every row starts from it, C is overwritten.
					bias := randSlice(rng, n, 1)
					for i := range c {
						c[i] = float32(math.NaN())
						want[i] += float64(bias[i%n]) - 1
					}
					withKernel(kern, func() { gemm(m, n, k, av, bv, bias, c, n, false) })
					assertClose(t, "bias+AB", c, want, tol)
				})
			}
		}
	}
}

func TestGemmRespectsLeadingDimension(t *testing.T) {
	// A product into the middle columns of a wider C leaves the rest alone.
	rng := rand.New(rand.NewPCG(13, 14))
	m, n, k, ldc := 29, 40, 50, 57
	for _, kern := range availableKernels() {
		a, b := randSlice(rng, m*k, 1), randSlice(rng, n*k, 1)
		c := make([]float32, m*ldc)
		for i := range c {
			c[i] = 7
		}
		withKernel(kern, func() { gemm(m, n, k, rowMajor(a, k), transposedOf(b, k), nil, c[3:], ldc, false) })
		want := refGemm(rowMajor(a, k), transposedOf(b, k), m, n, k)
		for i := range m {
			for j := range ldc {
				got := c[i*ldc+j]
				if j < 3 || j >= 3+n {
					if got != 7 {
						t.Fatalf("%s: c[%d,%d] outside the product changed to %g", kern.name, i, j, got)
					}
					continue
				}
				if d := math.Abs(float64(got) - want[i*n+j-3]); d > 1e-4 {
					t.Fatalf("%s: c[%d,%d] = %g, want %g", kern.name, i, j, got, want[i*n+j-3])
				}
			}
		}
	}
}

func TestGemmKernelsAgree(t *testing.T) {
	// Every assembly kernel agrees with the portable one to float32
	// rounding on a CLIP-sized product (a ViT MLP input, fewer rows).
	rng := rand.New(rand.NewPCG(15, 16))
	m, n, k := 100, 3072, 768
	a, b := randSlice(rng, m*k, 1), randSlice(rng, n*k, 0.05)
	ref := make([]float32, m*n)
	withKernel(genericKernel, func() { gemm(m, n, k, rowMajor(a, k), transposedOf(b, k), nil, ref, n, false) })
	for _, kern := range availableKernels() {
		got := make([]float32, m*n)
		withKernel(kern, func() { gemm(m, n, k, rowMajor(a, k), transposedOf(b, k), nil, got, n, false) })
		for i := range got {
			if d := math.Abs(float64(got[i] - ref[i])); d > 1e-4*(1+math.Abs(float64(ref[i]))) {
				t.Fatalf("%s: element %d = %g, portable kernel %g", kern.name, i, got[i], ref[i])
			}
		}
	}
}

func TestGemmRowDoesNotDependOnRowCount(t *testing.T) {
	// A row's result is bit-identical whatever rows come with it, for every
	// kernel and form, including depths past one block (the text tower
	// relies on this to run only the positions it needs).
	rng := rand.New(rand.NewPCG(17, 18))
	n, k, full := 70, 600, 77
	for _, kern := range availableKernels() {
		for _, form := range gemmForms {
			a, b := randSlice(rng, full*k, 1), randSlice(rng, k*n, 1)
			av, bv := form.views(a, b, full, n, k)
			want := make([]float32, full*n)
			withKernel(kern, func() { gemm(full, n, k, av, bv, nil, want, n, false) })
			for _, rows := range []int{1, 2, 5, 13, 40} {
				// The first rows of the same matrix: a row-major A keeps its
				// stride; a transposed A keeps its leading dimension.
				got := make([]float32, rows*n)
				withKernel(kern, func() { gemm(rows, n, k, av, bv, nil, got, n, false) })
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s/%s rows=%d: element %d = %g, with %d rows %g", kern.name, form.name, rows, i, got[i], full, want[i])
					}
				}
			}
		}
	}
}

func TestGemmWithNoDepth(t *testing.T) {
	// An empty sum is zero: k = 0 sets C to zero (or the bias), or leaves
	// it when accumulating.
	c := []float32{1, 2, 3, 4, 5, 6}
	gemm(2, 2, 0, rowMajor(nil, 0), rowMajor(nil, 2), nil, c, 3, true)
	if c[0] != 1 || c[4] != 5 {
		t.Fatalf("accumulating an empty product changed C: %v", c)
	}
	gemm(2, 2, 0, rowMajor(nil, 0), rowMajor(nil, 2), nil, c, 3, false)
	if want := []float32{0, 0, 3, 0, 0, 6}; !slices.Equal(c, want) {
		t.Fatalf("empty product: C = %v, want %v", c, want)
	}
	gemm(2, 2, 0, rowMajor(nil, 0), rowMajor(nil, 2), []float32{7, 8}, c, 3, false)
	if want := []float32{7, 8, 3, 7, 8, 6}; !slices.Equal(c, want) {
		t.Fatalf("empty product with a bias: C = %v, want %v", c, want)
	}
}
