// Package backendtest is the conformance suite of engine/backend: every
// implementation runs it from its own tests,
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func() backend.Backend { return mybackend.New() })
//	}
//
// Each operation is held to a float64 reference (reference.go) on small
// shapes and on the shapes CLIP ViT-B/16 uses, and each backward operation
// to finite differences of that reference: per element on small shapes,
// along random directions on large ones. Every check runs twice: on plain
// buffers, and on views placed inside larger buffers whose margins must
// come out untouched. Backward operations are checked to add into
// gradients that already hold values, and with nil for the gradients not
// wanted.
//
// Counter, a backend that counts attention passes, is for tests of a
// backend's users (which tower ran, and how often).
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
)

// Tolerances, as a bound on max|got−want| / max|want| over a tensor. A
// float32 result summed in another order than the float64 reference is off
// by some 1e-7 of its scale; every bound is far below what a wrong index or
// a dropped term gives (errors of order 1).
const (
	tolForward  = 1e-5
	tolBackward = 1e-4
	// tolFD bounds the disagreement of a gradient with central differences
	// of the float64 reference, relative to the gradient's scale.
	tolFD = 1e-4
)

// Run runs the whole suite against backends made by newBackend (called
// once per subtest).
func Run(t *testing.T, newBackend func() backend.Backend) { RunWith(t, newBackend, Options{}) }

// Options adapt the suite to a backend that stores Float32 buffers at
// reduced precision.
type Options struct {
	// Bits is the significand precision of stored Float32 values: 24
	// (float32; also what 0 means), 11 for fp16, 8 for bf16. Below 24,
	// every tolerance becomes at least 16·2^-Bits of the tensor's scale
	// (roundings of inputs, products and sums), and comparisons that are
	// exact at float32 allow 4·2^-Bits (the few roundings of an SGD step
	// that stores its intermediates).
	Bits int
}

// RunWith runs the suite with options.
func RunWith(t *testing.T, newBackend func() backend.Backend, opts Options) {
	groups := []struct {
		name string
		run  func(s *suite)
	}{
		{"Memory", testMemory},
		{"Matmul", testMatmul},
		{"MatmulRowIndependence", testMatmulRowIndependence},
		{"LayerNorm", testLayerNorm},
		{"Attention", testAttention},
		{"AttentionCausalPrefix", testAttentionCausalPrefix},
		{"Pointwise", testPointwise},
		{"L2Normalize", testL2Normalize},
		{"CrossEntropy", testCrossEntropy},
		{"GatherScatterRows", testGatherScatterRows},
		{"EmbedTokens", testEmbedTokens},
		{"Patchify", testPatchify},
		{"EmbedPatches", testEmbedPatches},
		{"SGDStep", testSGDStep},
		{"AdamWStep", testAdamWStep},
	}
	for _, g := range groups {
		for _, viewed := range []bool{false, true} {
			mode := "buffers"
			if viewed {
				mode = "views"
			}
			t.Run(g.name+"/"+mode, func(t *testing.T) {
				s := &suite{t: t, b: newBackend(), viewed: viewed, bits: opts.Bits, rng: rand.New(rand.NewPCG(7, uint64(len(g.name))))}
				g.run(s)
				s.checkMargins()
			})
		}
	}
}

// suite is one subtest's backend and the buffers it made.
type suite struct {
	t      *testing.T
	b      backend.Backend
	viewed bool // buffers are views inside guarded parents
	bits   int  // Options.Bits
	// accumulated maps, at reduced precision, a result of added (by its
	// first element) to the magnitude of the prior it was added onto: a
	// 16-bit buffer holds prior+delta rounded at the prior's scale, so the
	// delta's error is bounded by that scale, not its own.
	accumulated map[*float32]float64
	rng         *rand.Rand
	guards      []guarded
}

// guarded is a parent buffer whose elements outside [lo,hi) must keep the
// margin value.
type guarded struct {
	parent backend.Buffer
	lo, hi int
}

// margin is the value around every view; no operation produces it.
const (
	margin      = -7776 // exact in fp16 and bf16 too
	intMargin   = -7777
	marginWidth = 5
)

// alloc returns a buffer of n elements: a plain one, or in viewed mode a
// view at an offset inside a parent whose margins are set to margin.
func (s *suite) alloc(dtype backend.DType, n int) backend.Buffer {
	s.t.Helper()
	if !s.viewed {
		buf, err := s.b.Alloc(dtype, n)
		if err != nil {
			s.t.Fatal(err)
		}
		return buf
	}
	total := n + 2*marginWidth
	parent, err := s.b.Alloc(dtype, total)
	if err != nil {
		s.t.Fatal(err)
	}
	if dtype == backend.Float32 {
		fill := make([]float32, total)
		for i := range fill {
			fill[i] = margin
		}
		s.b.Upload(parent, fill)
	} else {
		fill := make([]int32, total)
		for i := range fill {
			fill[i] = intMargin
		}
		s.b.UploadInt32(parent, fill)
	}
	view := s.b.View(parent, marginWidth, n)
	s.b.Zero(view)
	s.guards = append(s.guards, guarded{parent, marginWidth, marginWidth + n})
	return view
}

// checkMargins fails the test when an operation wrote outside its view.
func (s *suite) checkMargins() {
	for _, g := range s.guards {
		var bad int
		if g.parent.DType() == backend.Float32 {
			all := s.get(g.parent)
			for i, v := range all {
				if (i < g.lo || i >= g.hi) && v != margin {
					bad++
				}
			}
		} else {
			all := make([]int32, g.parent.Len())
			if err := s.b.DownloadInt32(all, g.parent); err != nil {
				s.t.Fatal(err)
			}
			for i, v := range all {
				if (i < g.lo || i >= g.hi) && v != intMargin {
					bad++
				}
			}
		}
		if bad > 0 {
			s.t.Errorf("%d elements outside a view of [%d,%d) were written", bad, g.lo, g.hi)
		}
	}
}

func (s *suite) zeros(n int) backend.Buffer { return s.alloc(backend.Float32, n) }

// buf uploads x into a new buffer.
func (s *suite) buf(x []float32) backend.Buffer {
	b := s.alloc(backend.Float32, len(x))
	s.b.Upload(b, x)
	return b
}

// ints uploads x into a new Int32 buffer.
func (s *suite) ints(x []int) backend.Buffer {
	b := s.alloc(backend.Int32, len(x))
	s.b.UploadInt32(b, backend.ToInt32(nil, x))
	return b
}

func (s *suite) get(b backend.Buffer) []float32 {
	s.t.Helper()
	out := make([]float32, b.Len())
	if err := s.b.Download(out, b); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// added downloads a gradient buffer that started as prior and returns what
// the backward pass added to it.
func (s *suite) added(b backend.Buffer, prior []float32) []float32 {
	s.t.Helper()
	got := s.get(b)
	priorScale := 0.0
	for i := range got {
		got[i] -= prior[i]
		priorScale = math.Max(priorScale, math.Abs(float64(prior[i])))
	}
	if s.bits > 0 && s.bits < 24 && len(got) > 0 {
		if s.accumulated == nil {
			s.accumulated = map[*float32]float64{}
		}
		s.accumulated[&got[0]] = priorScale
	}
	return got
}

// accumulatedScale is the prior's magnitude of a result of added at
// reduced precision, else 0.
func (s *suite) accumulatedScale(got []float32) float64 {
	if len(got) == 0 {
		return 0
	}
	return s.accumulated[&got[0]]
}

func (s *suite) random(n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(s.rng.NormFloat64() * std)
	}
	return out
}

func (s *suite) randomInts(n, below int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = s.rng.IntN(below)
	}
	return out
}

// close fails when max|got−want| > tol·max|want| (tol 0: exactly equal).
func (s *suite) close(name string, got []float32, want []float64, tol float64) {
	s.t.Helper()
	if len(got) != len(want) {
		s.t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return
	}
	scale := s.accumulatedScale(got)
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	maxErr, worst := 0.0, 0
	for i := range want {
		d := math.Abs(float64(got[i]) - want[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > maxErr {
			maxErr, worst = d, i
		}
	}
	tol = s.tolerance(tol)
	if maxErr > tol*scale || (tol == 0 && maxErr != 0) {
		s.t.Errorf("%s: max error %.3g at [%d] (got %v, want %v) exceeds %.0e of max|want| %.3g",
			name, maxErr, worst, got[worst], want[worst], tol, scale)
	}
}

// tolerance widens a float32 tolerance to the backend's storage precision.
func (s *suite) tolerance(tol float64) float64 {
	if s.bits == 0 || s.bits >= 24 {
		return tol
	}
	unit := math.Ldexp(1, -s.bits)
	if tol == 0 {
		return 4 * unit
	}
	return math.Max(tol, 16*unit)
}

// gradient checks grad, the gradient of loss at x computed by the backend,
// against central differences of the float64 loss: at every element when
// full, else along three random directions (one finite difference each).
func (s *suite) gradient(name string, grad []float32, loss func([]float64) float64, x []float64, full bool) {
	s.t.Helper()
	if len(grad) != len(x) {
		s.t.Fatalf("%s: %d gradient values for %d inputs", name, len(grad), len(x))
	}
	gradScale, xScale := s.accumulatedScale(grad), 0.0
	for i := range x {
		gradScale = math.Max(gradScale, math.Abs(float64(grad[i])))
		xScale = math.Max(xScale, math.Abs(x[i]))
	}
	h := 1e-4 * math.Max(xScale, 1e-3)
	diff := func(v []float64) float64 {
		plus, minus := append([]float64(nil), x...), append([]float64(nil), x...)
		for i, d := range v {
			plus[i] += h * d
			minus[i] -= h * d
		}
		return (loss(plus) - loss(minus)) / (2 * h)
	}
	if full {
		want := make([]float64, len(x))
		unit := make([]float64, len(x))
		for i := range x {
			unit[i] = 1
			want[i] = diff(unit)
			unit[i] = 0
		}
		s.close(name+" (finite differences)", grad, want, tolFD)
		return
	}
	for k := range 3 {
		v := make([]float64, len(x))
		dot, norm := 0.0, 0.0
		for i := range v {
			v[i] = s.rng.NormFloat64()
			dot += float64(grad[i]) * v[i]
			norm += v[i] * v[i]
		}
		// |grad·v| is at most ‖grad‖‖v‖; the error is bounded against the
		// typical size of the product, max|grad|·‖v‖.
		bound := s.tolerance(tolFD) * gradScale * math.Sqrt(norm)
		if fd := diff(v); math.Abs(fd-dot) > bound || math.IsNaN(dot) {
			s.t.Errorf("%s: along random direction %d the gradient gives %.6g, finite differences %.6g (bound %.3g)", name, k, dot, fd, bound)
		}
	}
}

// weighted is the scalar Σ w·f(x) whose gradient a backward pass with dout
// = w computes.
func weighted(w []float32, f func([]float64) []float64) func([]float64) float64 {
	return func(x []float64) float64 {
		y := f(x)
		s := 0.0
		for i, v := range y {
			s += float64(w[i]) * v
		}
		return s
	}
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func label(format string, args ...any) string { return fmt.Sprintf(format, args...) }
