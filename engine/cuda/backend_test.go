package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
)

// newEmuBackend makes a Backend on the emulator, closed at the end of the
// test.
func newEmuBackend(t *testing.T, opts Options, cfg Config) *Backend {
	t.Helper()
	rt, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, b.err) {
			t.Error(err)
		}
	})
	return b
}

// rig makes inputs for one run of a case on one backend: the same seed
// gives the same values on every backend.
type rig struct {
	t   *testing.T
	b   backend.Backend
	rng *rand.Rand
}

func (r *rig) buf(n int, std float64) backend.Buffer {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.rng.NormFloat64() * std)
	}
	b, err := backend.FromHost(r.b, x)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rig) zeros(n int) backend.Buffer {
	b, err := r.b.Alloc(backend.Float32, n)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rig) ints(v ...int) backend.Buffer {
	b, err := backend.Int32FromHost(r.b, v)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rig) get(bufs ...backend.Buffer) [][]float32 {
	var out [][]float32
	for _, b := range bufs {
		x, err := backend.ToHost(r.b, b)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// opCases run each operation (forward and backward) on small shapes,
// including a head size of 64 and sequences longer than a tile.
var opCases = []struct {
	name string
	run  func(r *rig) [][]float32
}{
	{"matmul", func(r *rig) [][]float32 {
		rows, in, out := 13, 40, 24
		x, w, bias, y := r.buf(rows*in, 1), r.buf(out*in, 0.1), r.buf(out, 0.5), r.zeros(rows*out)
		r.b.MatmulForward(y, x, w, bias, rows, in, out)
		dy, dx, dw, db := r.buf(rows*out, 1), r.buf(rows*in, 1), r.buf(out*in, 1), r.buf(out, 1)
		r.b.MatmulBackward(dx, dw, db, dy, x, w, rows, in, out)
		return r.get(y, dx, dw, db)
	}},
	{"layernorm", func(r *rig) [][]float32 {
		rows, dim := 9, 80
		x, w, bias := r.buf(rows*dim, 2), r.buf(dim, 1), r.buf(dim, 1)
		y, mean, rstd := r.zeros(rows*dim), r.zeros(rows), r.zeros(rows)
		r.b.LayerNormForward(y, mean, rstd, x, w, bias, rows, dim)
		dy, dx, dw, db := r.buf(rows*dim, 1), r.buf(rows*dim, 1), r.zeros(dim), r.zeros(dim)
		r.b.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, rows, dim)
		return r.get(y, mean, rstd, dx, dw, db)
	}},
	{"attention", func(r *rig) [][]float32 {
		var out [][]float32
		for _, causal := range []bool{false, true} {
			B, T, C, NH := 2, 41, 128, 2
			qkv, y := r.buf(B*T*3*C, 1), r.zeros(B*T*C)
			saved := r.zeros(r.b.AttentionSavedLen(B, T, C, NH))
			r.b.AttentionForward(y, saved, qkv, B, T, C, NH, causal)
			dy, dqkv := r.buf(B*T*C, 1), r.buf(B*T*3*C, 1)
			r.b.AttentionBackward(dqkv, dy, qkv, saved, B, T, C, NH, causal)
			out = append(out, r.get(y, dqkv)...)
		}
		return out
	}},
	{"pointwise", func(r *rig) [][]float32 {
		n := 300
		x, y, g := r.buf(n, 2), r.zeros(n), r.zeros(n)
		r.b.QuickGELUForward(y, x, n)
		dy, dx := r.buf(n, 1), r.buf(n, 1)
		r.b.QuickGELUBackward(dx, x, dy, n)
		r.b.Add(g, x, dy, n)
		r.b.Accumulate(g, dx, n)
		r.b.Scale(g, g, -0.75, n)
		return r.get(y, dx, g)
	}},
	{"heads", func(r *rig) [][]float32 {
		rows, dim, classes := 3, 48, 11
		x, y, norm := r.buf(rows*dim, 1), r.zeros(rows*dim), r.zeros(rows)
		r.b.L2NormalizeForward(y, norm, x, rows, dim)
		dy, dx := r.buf(rows*dim, 1), r.buf(rows*dim, 1)
		r.b.L2NormalizeBackward(dx, dy, y, norm, rows, dim)
		logits, labels := r.buf(rows*classes, 3), r.ints(4, 0, 10)
		losses, probs, dl := r.zeros(rows), r.zeros(rows*classes), r.buf(rows*classes, 1)
		r.b.CrossEntropyForward(losses, probs, logits, labels, rows, classes)
		r.b.CrossEntropyBackward(dl, probs, labels, rows, classes, 1.5)
		return r.get(y, norm, dx, losses, probs, dl)
	}},
	{"rows", func(r *rig) [][]float32 {
		dim := 24
		src, dst := r.buf(7*dim, 1), r.zeros(4*dim)
		idx := r.ints(6, 0, 6, 3)
		r.b.GatherRows(dst, src, idx, 4, dim)
		acc := r.buf(7*dim, 1)
		r.b.ScatterAddRows(acc, dst, idx, 4, dim)
		seqs, T, nctx := 3, 6, 2
		table, pos, ctx := r.buf(10*dim, 1), r.buf(T*dim, 1), r.buf(nctx*dim, 1)
		ids := r.ints(1, 2, 3, 4, 5, 9, 9, 8, 7, 6, 5, 4, 0, 0, 1, 1, 2, 2)
		emb := r.zeros(seqs * T * dim)
		r.b.EmbedTokensForward(emb, ids, table, pos, ctx, seqs, T, dim, nctx)
		dctx := r.buf(nctx*dim, 1)
		r.b.EmbedTokensBackward(dctx, emb, seqs, T, dim, nctx)
		return r.get(dst, acc, emb, dctx)
	}},
	{"patches", func(r *rig) [][]float32 {
		batch, ch, size, patch, dim, extra := 2, 3, 8, 4, 16, 2
		P := (size / patch) * (size / patch)
		img, cut := r.buf(batch*ch*size*size, 1), r.zeros(batch*P*ch*patch*patch)
		r.b.Patchify(cut, img, batch, ch, size, patch)
		patches, cls, pos, ex := r.buf(batch*P*dim, 1), r.buf(dim, 1), r.buf((1+P)*dim, 1), r.buf(extra*dim, 1)
		seq := r.zeros(batch * (1 + P + extra) * dim)
		r.b.EmbedPatchesForward(seq, patches, cls, pos, ex, batch, P, extra, dim)
		dex := r.buf(extra*dim, 1)
		r.b.EmbedPatchesBackward(dex, seq, batch, P, extra, dim)
		return r.get(cut, seq, dex)
	}},
	{"sgd", func(r *rig) [][]float32 {
		n := 70
		p, g, v := r.buf(n, 1), r.buf(n, 0.1), r.zeros(n)
		r.b.SGDStep(p, g, v, n, 0.5, 0.9, 0.01, true)
		r.b.SGDStep(p, g, v, n, 0.5, 0.9, 0.01, false)
		q := r.buf(n, 1)
		r.b.SGDStep(q, g, nil, n, 0.25, 0, 0.1, false)
		return r.get(p, v, q)
	}},
}

func runCase(t *testing.T, b backend.Backend, run func(*rig) [][]float32) [][]float32 {
	return run(&rig{t: t, b: b, rng: rand.New(rand.NewPCG(3, 5))})
}

// maxRelDiff is max|a−b| over max|b|.
func maxRelDiff(a, b []float32) float64 {
	scale, diff := 0.0, 0.0
	for i := range b {
		scale = math.Max(scale, math.Abs(float64(b[i])))
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		diff = math.Max(diff, d)
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// TestSixteenBitPrecisionsAgreeWithFP32 holds the fp16 and bf16 storage
// paths (16-bit GEMM inputs, conversions in every kernel) to the fp32
// backend, within the rounding of their inputs and outputs: an fp16 value
// has 11 significant bits, a bf16 value 8.
func TestSixteenBitPrecisionsAgreeWithFP32(t *testing.T) {
	opts := emuOptions(t)
	ref := newEmuBackend(t, opts, Config{})
	for _, c := range []struct {
		prec Precision
		tol  float64
	}{{FP16, 6e-3}, {BF16, 5e-2}} {
		b := newEmuBackend(t, opts, Config{Precision: c.prec})
		for _, oc := range opCases {
			want, got := runCase(t, ref, oc.run), runCase(t, b, oc.run)
			for i := range want {
				if d := maxRelDiff(got[i], want[i]); d > c.tol {
					t.Errorf("%s %s output %d: off by %.3g of its scale (tolerance %.0e)", c.prec, oc.name, i, d, c.tol)
				}
			}
		}
	}
}

// TestGraphsReplayRepeatedSequences runs the same sequence of operations
// (a training step's shape) several times: the second run is captured, the
// later ones are graph launches, and every run gives exactly what direct
// launches give.
func TestGraphsReplayRepeatedSequences(t *testing.T) {
	opts := emuOptions(t)
	direct := newEmuBackend(t, opts, Config{NoGraphs: true})
	graphs := newEmuBackend(t, opts, Config{})
	step := func(b backend.Backend, x, w, y, h backend.Buffer, input []float32) []float32 {
		b.Upload(x, input)
		for range 4 {
			b.MatmulForward(h, x, w, nil, 8, 16, 16)
			b.QuickGELUForward(h, h, 128)
			b.Add(y, h, x, 128)
		}
		out, err := backend.ToHost(b, y)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	bufs := func(b backend.Backend) (x, w, y, h backend.Buffer) {
		r := &rig{t: t, b: b, rng: rand.New(rand.NewPCG(1, 2))}
		return r.zeros(128), r.buf(256, 0.3), r.zeros(128), r.zeros(128)
	}
	dx, dw, dy, dh := bufs(direct)
	gx, gw, gy, gh := bufs(graphs)
	before := emuCounter(t, "grid_emu_graph_launches")
	for i := range 5 {
		input := make([]float32, 128)
		for j := range input {
			input[j] = float32(math.Sin(float64(i*128 + j)))
		}
		want, got := step(direct, dx, dw, dy, dh, input), step(graphs, gx, gw, gy, gh, input)
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: graph replay differs from direct launches", i)
		}
	}
	// Step 0 is issued directly, step 1 captured and launched, steps 2-4
	// launched from the cache.
	if n := emuCounter(t, "grid_emu_graph_launches") - before; n != 4 {
		t.Errorf("%d graph launches, want 4", n)
	}
	if len(graphs.graphs.entries) != 1 {
		t.Errorf("%d graphs cached, want 1", len(graphs.graphs.entries))
	}
}

func TestDeviceFailureIsReportedByTheNextDownload(t *testing.T) {
	b := newEmuBackend(t, emuOptions(t), Config{})
	x, err := backend.FromHost(b, []float32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRID_EMU_LAUNCH_FAIL", "1")
	b.Scale(x, x, 2, 3)
	_, err = backend.ToHost(b, x)
	if err == nil || !strings.Contains(err.Error(), "cuLaunchKernel") || !strings.Contains(err.Error(), "CUDA_ERROR_LAUNCH_FAILED") {
		t.Fatalf("Download after a failed launch: %v", err)
	}
	// The failure sticks: the job's state on the device is unknown.
	_, again := backend.ToHost(b, x)
	if !errors.Is(again, err) {
		t.Errorf("a later Download reports %v", again)
	}
	if cerr := b.Close(); !errors.Is(cerr, err) {
		t.Errorf("Close reports %v", cerr)
	}
}

func TestAllocOutOfMemory(t *testing.T) {
	opts := emuOptions(t)
	t.Setenv("GRID_EMU_MEMORY", fmt.Sprint(64<<20))
	b := newEmuBackend(t, opts, Config{Precision: FP16})
	_, err := b.Alloc(backend.Float32, 40<<20)
	if !IsOutOfMemory(err) || !strings.Contains(err.Error(), "83886080 bytes") {
		t.Errorf("allocating 80 MiB of 64: %v", err)
	}
	small, err := b.Alloc(backend.Float32, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if peak := b.PeakBytes(); peak != workspaceBytes+2000 {
		t.Errorf("peak %d bytes, want the workspace and 1000 fp16 values", peak)
	}
	b.Free(small)
}

func TestBuffersAreSharedByBackendsOfADevice(t *testing.T) {
	opts := emuOptions(t)
	rt, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := New(rt, Config{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := New(rt, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	defer user.Close()
	weights, _ := backend.FromHost(owner, []float32{1, 2, 3, 4})
	out, _ := user.Alloc(backend.Float32, 4)
	user.Scale(out, weights, 10, 4)
	if got, err := backend.ToHost(user, out); err != nil || !slices.Equal(got, []float32{10, 20, 30, 40}) {
		t.Errorf("another backend read %v (%v)", got, err)
	}
	other, err := New(rt, Config{Precision: FP16})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "fp32 buffer used by a fp16 backend") {
			t.Errorf("an fp32 buffer on an fp16 backend: %v", r)
		}
	}()
	other.Scale(out, weights, 1, 4)
}

// A GEMM shape cuBLASLt has no algorithm for runs on the fallback kernel,
// with the same results.
func TestGEMMWithoutACuBLASLtAlgorithm(t *testing.T) {
	opts := emuOptions(t)
	want := runCase(t, newEmuBackend(t, opts, Config{}), opCases[0].run)
	t.Setenv("GRID_EMU_NO_ALGO", "1")
	before := emuCounter(t, "grid_emu_launches")
	b := newEmuBackend(t, opts, Config{})
	got := runCase(t, b, opCases[0].run)
	for i := range want {
		if d := maxRelDiff(got[i], want[i]); d > 1e-6 {
			t.Errorf("output %d: off by %.3g of its scale", i, d)
		}
	}
	if len(b.plans) == 0 || emuCounter(t, "grid_emu_launches") == before {
		t.Fatal("no GEMM went through the fallback")
	}
	for s, p := range b.plans {
		if p != nil {
			t.Errorf("shape %+v got a cuBLASLt plan", s)
		}
	}
}
