package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemmKernels measures every micro-kernel this CPU can run (best
// first, then the portable Go one) on Linear forwards of a ViT-B/16 training
// step (4 images × 197 tokens) and a square product, so a kernel change shows
// against the others in one run.
func BenchmarkGemmKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range [][3]int{{788, 3072, 768}, {768, 768, 768}, {788, 768, 3072}} {
		m, n, k := s[0], s[1], s[2]
		a, w := randSlice(rng, m*k, 1), randSlice(rng, n*k, 1)
		c := make([]float32, m*n)
		for _, kern := range availableKernels() {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", kern.name, m, n, k), func(b *testing.B) {
				withKernel(kern, func() {
					for b.Loop() {
						gemm(m, n, k, rowMajor(a, k), transposedOf(w, k), nil, c, n, false)
					}
				})
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
