package clip

import (
	"reflect"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/backend/backendtest"
	"github.com/fomo-grid/grid/engine/cpu"
)

// TestTextPassReuseChangesNothing runs the same steps with and without the
// reuse of the text forward pass: the numbers are identical, and the reuse
// skips exactly the text forward passes of steps whose context ids did not
// change (the backward passes all run).
func TestTextPassReuseChangesNothing(t *testing.T) {
	m := NewRandom(tinyConfig, 31)
	counting := &backendtest.Counter{Backend: cpu.New()}
	reusing, err := m.On(counting)
	if err != nil {
		t.Fatal(err)
	}
	fresh := runner(t, m)
	fresh.reuseText = false
	cs := tinyDPTCase(m, true)
	ids := [][]int{{31, 17}, {31, 17}, {4, 17}, {4, 17}, {31, 17}}
	layers := tinyConfig.TextLayers
	for i, stepIDs := range ids {
		cs.in.CtxIDs = stepIDs
		counting.Reset()
		got := step(t, reusing, cs.input(t, reusing), true)
		want := step(t, fresh, cs.input(t, fresh), true)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d (ids %v): reusing the text pass changed the result", i, stepIDs)
		}
		wantForwards := layers
		if i > 0 && reflect.DeepEqual(ids[i-1], stepIDs) {
			wantForwards = 0
		}
		if counting.CausalForward != wantForwards || counting.CausalBackward != layers {
			t.Errorf("step %d (ids %v): %d text attention forwards and %d backwards, want %d and %d",
				i, stepIDs, counting.CausalForward, counting.CausalBackward, wantForwards, layers)
		}
	}
	// Other class tokens with the same ids run the text pass again.
	counting.Reset()
	cs.in.ClassTokens = append([][]int{}, cs.in.ClassTokens...)
	cs.in.ClassTokens[0] = []int{48, 20, 21, 7, 49}
	got := step(t, reusing, cs.input(t, reusing), true)
	if want := step(t, fresh, cs.input(t, fresh), true); !reflect.DeepEqual(got, want) || counting.CausalForward != layers {
		t.Fatalf("new class tokens: %d text forwards, results equal %v", counting.CausalForward, reflect.DeepEqual(got, want))
	}
}

// TestNoSharedRunsNoVisionBackward: without visual prompts no gradient
// reaches the vision tower, so a step runs its forward pass only (and keeps
// no activations for a backward pass).
func TestNoSharedRunsNoVisionBackward(t *testing.T) {
	m := NewRandom(tinyConfig, 32)
	counting := &backendtest.Counter{Backend: cpu.New()}
	r, err := m.On(counting)
	if err != nil {
		t.Fatal(err)
	}
	step(t, r, tinyDPTCase(m, false).input(t, r), true)
	if counting.FullForward != tinyConfig.VisionLayers || counting.FullBackward != 0 || counting.CausalBackward != tinyConfig.TextLayers {
		t.Fatalf("noshared step: %d vision attention forwards, %d backwards, %d text backwards; want %d, 0, %d",
			counting.FullForward, counting.FullBackward, counting.CausalBackward, tinyConfig.VisionLayers, tinyConfig.TextLayers)
	}
	for key := range r.visions {
		if key.keep {
			t.Fatalf("noshared step made a vision workspace that keeps activations: %+v", key)
		}
	}
	counting.Reset()
	step(t, r, tinyDPTCase(m, true).input(t, r), true)
	if counting.FullBackward != tinyConfig.VisionLayers {
		t.Fatalf("shared step: %d vision attention backwards, want %d", counting.FullBackward, tinyConfig.VisionLayers)
	}
}

// inertBackend moves data like the CPU backend but computes nothing: with
// it, every allocation a step makes is the model's own, not the kernels'
// (whose goroutine fan-out allocates a little per call).
type inertBackend struct{ backend.Backend }

func (inertBackend) MatmulForward(out, inp, weight, bias backend.Buffer, rows, inDim, outDim int) {}
func (inertBackend) MatmulBackward(dinp, dweight, dbias, dout, inp, weight backend.Buffer, rows, inDim, outDim int) {
}
func (inertBackend) LayerNormForward(out, mean, rstd, inp, weight, bias backend.Buffer, rows, dim int) {
}
func (inertBackend) LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd backend.Buffer, rows, dim int) {
}
func (inertBackend) AttentionForward(out, saved, qkv backend.Buffer, B, T, C, NH int, causal bool) {}
func (inertBackend) AttentionBackward(dqkv, dout, qkv, saved backend.Buffer, B, T, C, NH int, causal bool) {
}
func (inertBackend) QuickGELUForward(out, inp backend.Buffer, n int)                         {}
func (inertBackend) QuickGELUBackward(dinp, inp, dout backend.Buffer, n int)                 {}
func (inertBackend) Add(out, a, b backend.Buffer, n int)                                     {}
func (inertBackend) Accumulate(dst, src backend.Buffer, n int)                               {}
func (inertBackend) Scale(out, inp backend.Buffer, alpha float32, n int)                     {}
func (inertBackend) L2NormalizeForward(out, norm, inp backend.Buffer, rows, dim int)         {}
func (inertBackend) L2NormalizeBackward(dinp, dout, out, norm backend.Buffer, rows, dim int) {}
func (inertBackend) CrossEntropyForward(losses, probs, logits, labels backend.Buffer, batch, classes int) {
}
func (inertBackend) CrossEntropyBackward(dlogits, probs, labels backend.Buffer, batch, classes int, dloss float32) {
}
func (inertBackend) GatherRows(dst, src, rows backend.Buffer, n, dim int)     {}
func (inertBackend) ScatterAddRows(dst, src, rows backend.Buffer, n, dim int) {}
func (inertBackend) EmbedTokensForward(out, ids, table, pos, ctx backend.Buffer, seqs, T, dim, nCtx int) {
}
func (inertBackend) EmbedTokensBackward(dctx, dout backend.Buffer, seqs, T, dim, nCtx int)       {}
func (inertBackend) Patchify(out, images backend.Buffer, batch, channels, size, patch int)       {}
func (inertBackend) EmbedPatchesBackward(dextra, dout backend.Buffer, batch, P, nExtra, dim int) {}
func (inertBackend) EmbedPatchesForward(out, patches, class, pos, extra backend.Buffer, batch, P, nExtra, dim int) {
}

// TestDPTStepAllocatesNothing: once a shape's workspace exists, a training
// step (with a new context every time, so that nothing is reused) and the
// score gradient allocate nothing in the model. (BenchmarkDPTStepDemo
// reports the allocations of a step on the CPU backend, kernels included.)
func TestDPTStepAllocatesNothing(t *testing.T) {
	m := NewRandom(tinyConfig, 33)
	r, err := m.On(inertBackend{cpu.New()})
	if err != nil {
		t.Fatal(err)
	}
	for _, shared := range []bool{true, false} {
		cs := tinyDPTCase(m, shared)
		in := cs.input(t, r)
		scores := upload(t, r, make([]float32, in.NCtx*tinyConfig.VocabSize))
		ids := [][]int{{31, 17}, {4, 17}}
		i := 0
		run := func() {
			in.CtxIDs = ids[i%2]
			i++
			out, err := r.DPTStep(in, true)
			if err != nil {
				t.Fatal(err)
			}
			r.ScoresGrad(scores, out.DCtx, in.NCtx)
		}
		run() // makes the workspace
		if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
			t.Errorf("shared=%v: %v allocations per step", shared, allocs)
		}
	}
}

// TestImageLogitsInChunksChangesNothing: an evaluation batch sent through
// the ViT a few images at a time gives the logits of one pass over all.
func TestImageLogitsInChunksChangesNothing(t *testing.T) {
	m := NewRandom(tinyConfig, 34)
	r := runner(t, m)
	cs := tinyDPTCase(m, true)
	in := cs.input(t, r)
	prompts, err := r.ContextPrompts(in.CtxIDs, in.ProjW, in.ProjB)
	if err != nil {
		t.Fatal(err)
	}
	classes, err := r.ClassFeatures(in.ClassTokens, in.CtxIDs, in.NCtx)
	if err != nil {
		t.Fatal(err)
	}
	K := len(in.ClassTokens)
	whole, chunked := make([]float32, in.Batch*K), make([]float32, in.Batch*K)
	if err := r.ImageLogits(whole, in.Images, in.Batch, prompts, classes, K); err != nil {
		t.Fatal(err)
	}
	r.ImageChunk = 3 // a chunk of 3, then one of 1
	if err := r.ImageLogits(chunked, in.Images, in.Batch, prompts, classes, K); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(whole, chunked) {
		t.Fatalf("logits in chunks of 3 differ from one pass:\n%v\n%v", chunked, whole)
	}
	// The step's logits (the training path) are the same numbers.
	if out := step(t, r, in, false); !reflect.DeepEqual(out.logits, whole) {
		t.Fatalf("DPTStep logits %v, ImageLogits %v", out.logits, whole)
	}
}

// matmulRows counts the rows the matmuls of a pass run over.
type matmulRows struct {
	backend.Backend
	forward, backward int
}

func (c *matmulRows) MatmulForward(out, inp, weight, bias backend.Buffer, rows, inDim, outDim int) {
	c.forward += rows
	c.Backend.MatmulForward(out, inp, weight, bias, rows, inDim, outDim)
}

func (c *matmulRows) MatmulBackward(dinp, dweight, dbias, dout, inp, weight backend.Buffer, rows, inDim, outDim int) {
	c.backward += rows
	c.Backend.MatmulBackward(dinp, dweight, dbias, dout, inp, weight, rows, inDim, outDim)
}

// TestLastBlockAtHeadChangesNothing: a pass whose towers end at their
// heads (no observer) runs out_proj and the MLP of each tower's last block
// at the head's rows only, forward and backward, and gets the numbers of
// the full last blocks (an observed pass) bit for bit.
func TestLastBlockAtHeadChangesNothing(t *testing.T) {
	m := NewRandom(tinyConfig, 35)
	observed := *m
	observed.Observe = func(string, int, []float32, int, int, int) {}
	for _, shared := range []bool{true, false} {
		cs := tinyDPTCase(m, shared)
		trimmedRows, fullRows := &matmulRows{Backend: cpu.New()}, &matmulRows{Backend: cpu.New()}
		trimmed, err := m.On(trimmedRows)
		if err != nil {
			t.Fatal(err)
		}
		full, err := observed.On(fullRows)
		if err != nil {
			t.Fatal(err)
		}
		got := step(t, trimmed, cs.input(t, trimmed), true)
		want := step(t, full, cs.input(t, full), true)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shared %v: the step with the last blocks at the heads differs from the full one", shared)
		}
		// Three of the last block's four matmuls (out_proj, c_fc, c_proj)
		// run at K or B rows instead of K·T or B·T, in each direction.
		K, B := len(cs.in.ClassTokens), cs.in.Batch
		textSaved := 3 * (K*textLength(cs.in.ClassTokens) - K)
		visionSaved := 3 * (B*tinyConfig.visionLength(cs.in.NCtx) - B)
		wantBackward := textSaved
		if !shared {
			visionSaved = 3 * (B*tinyConfig.visionLength(0) - B)
		} else {
			wantBackward += visionSaved
		}
		if d := fullRows.forward - trimmedRows.forward; d != textSaved+visionSaved {
			t.Errorf("shared %v: the forward matmuls ran over %d fewer rows, want %d", shared, d, textSaved+visionSaved)
		}
		if d := fullRows.backward - trimmedRows.backward; d != wantBackward {
			t.Errorf("shared %v: the backward matmuls ran over %d fewer rows, want %d", shared, d, wantBackward)
		}
	}
}
