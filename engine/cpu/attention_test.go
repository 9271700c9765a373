package cpu

import (
	"math/rand/v2"
	"testing"
)

// The conformance suite holds attention to a float64 reference at CLIP's
// shapes; these tests check what only this backend promises.

func TestAttentionKeepingNoProbabilities(t *testing.T) {
	// Inference keeps no probabilities (att nil): the output is the same,
	// bit for bit, as when they are kept.
	rng := rand.New(rand.NewPCG(21, 22))
	B, C, NH := 2, 128, 2
	for _, T := range []int{13, 50} {
		for _, causal := range []bool{false, true} {
			qkv := randSlice(rng, B*T*3*C, 1)
			out, att := make([]float32, B*T*C), make([]float32, B*NH*T*T)
			AttentionForward(out, att, qkv, B, T, C, NH, causal)
			kept := make([]float32, B*T*C)
			AttentionForward(kept, nil, qkv, B, T, C, NH, causal)
			for i := range out {
				if out[i] != kept[i] {
					t.Fatalf("T=%d causal=%v: output %d is %g keeping no probabilities, %g keeping them", T, causal, i, kept[i], out[i])
				}
			}
		}
	}
}

func TestCausalAttentionRowDoesNotDependOnLength(t *testing.T) {
	// A causal token's output is bit-identical whatever tokens follow it:
	// the text tower computes only up to the last end-of-text token.
	rng := rand.New(rand.NewPCG(23, 24))
	C, NH, full := 128, 2, 77
	qkvFull := randSlice(rng, full*3*C, 1)
	outFull, attFull := make([]float32, full*C), make([]float32, NH*full*full)
	AttentionForward(outFull, attFull, qkvFull, 1, full, C, NH, true)
	for _, T := range []int{1, 9, 40} {
		out, att := make([]float32, T*C), make([]float32, NH*T*T)
		AttentionForward(out, att, qkvFull[:T*3*C], 1, T, C, NH, true)
		for i := range out {
			if out[i] != outFull[i] {
				t.Fatalf("T=%d: output %d = %g, with %d tokens %g", T, i, out[i], full, outFull[i])
			}
		}
	}
}
