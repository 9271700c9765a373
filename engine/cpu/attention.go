package cpu

import (
	"math"
	"sync"
)

// Attention runs one (image or sequence, head) pair at a time, spread over
// the cores, and does each pair's three products with the matrix kernel
// (gemm.go) straight on the packed qkv rows: scores S = Q·Kᵀ, the row
// softmax in place, then out = P·V. Only the T×T probabilities of the pair
// being worked on exist at once, unless the caller keeps them for the
// backward pass. Rows of a causal pair are computed over all T keys with
// the masked probabilities exactly zero, and a product's summation order
// does not depend on the number of rows (gemm.go), so a causal row's result
// does not depend on how many tokens follow it.

// attnScratch is one worker's T×T buffers.
type attnScratch struct {
	gemm     gemmScratch
	p, dp    []float32
	capacity int
}

var attnScratchPool sync.Pool

func getAttnScratch(T int) *attnScratch {
	s, _ := attnScratchPool.Get().(*attnScratch)
	if s == nil {
		s = new(attnScratch)
	}
	if s.capacity < T*T {
		s.p, s.dp, s.capacity = make([]float32, T*T), make([]float32, T*T), T*T
	}
	return s
}

// headViews returns the query, key and value views ([T,hs] each, row
// stride 3C) of head h of sequence b in qkv [B,T,3C].
func headViews(qkv []float32, b, h, T, C, hs int) (q, k, v []float32) {
	base := b*T*3*C + h*hs
	return qkv[base:], qkv[base+C:], qkv[base+2*C:]
}

// AttentionForward is the core of multi-head self-attention, after the input
// projection and before the output projection. qkv [B,T,3C] holds, per token,
// the query, key and value vectors side by side (the layout of CLIP's packed
// in_proj); head h uses columns [h·C/NH, (h+1)·C/NH) of each. out [B,T,C]
// receives the heads' outputs concatenated. att [B,NH,T,T] receives the
// softmax probabilities for the backward pass; nil keeps none (inference).
// The scores are scaled by 1/sqrt(C/NH); with causal set, token t attends
// only to tokens 0..t.
func AttentionForward(out, att, qkv []float32, B, T, C, NH int, causal bool) {
	hs := C / NH
	scale := float32(1 / math.Sqrt(float64(hs)))
	parallelFor(B*NH, B*NH*T*T*hs < gemmParallelFlops, func(bh int) {
		b, h := bh/NH, bh%NH
		s := getAttnScratch(T)
		defer attnScratchPool.Put(s)
		p := s.p[:T*T]
		if att != nil {
			p = att[bh*T*T : (bh+1)*T*T]
		}
		q, k, v := headViews(qkv, b, h, T, C, hs)
		gemmSerial(&s.gemm, T, T, hs, rowMajor(q, 3*C), transposedOf(k, 3*C), p, T, false)
		for t := range T {
			keys := T
			if causal {
				keys = t + 1
			}
			row := p[t*T : t*T+T]
			softmaxScaled(row[:keys], scale)
			clear(row[keys:])
		}
		gemmSerial(&s.gemm, T, hs, T, rowMajor(p, T), rowMajor(v, 3*C), out[b*T*C+h*hs:], C, false)
	})
}

// softmaxScaled replaces x by softmax(scale·x).
func softmaxScaled(x []float32, scale float32) {
	sum := vec.expShiftSum(x, vec.maxOf(x), scale)
	vec.scale(x, x, 1/sum)
}

// AttentionBackward adds to dqkv [B,T,3C] the gradient of AttentionForward
// with respect to its queries, keys and values, given dout [B,T,C] and the
// saved probabilities att.
func AttentionBackward(dqkv, dout, qkv, att []float32, B, T, C, NH int, causal bool) {
	hs := C / NH
	scale := float32(1 / math.Sqrt(float64(hs)))
	parallelFor(B*NH, B*NH*T*T*hs < gemmParallelFlops, func(bh int) {
		b, h := bh/NH, bh%NH
		s := getAttnScratch(T)
		defer attnScratchPool.Put(s)
		p := att[bh*T*T : (bh+1)*T*T]
		dp := s.dp[:T*T]
		q, k, v := headViews(qkv, b, h, T, C, hs)
		dq, dk, dv := headViews(dqkv, b, h, T, C, hs)
		dy := dout[b*T*C+h*hs:]
		// Through out = P·V: dP = dY·Vᵀ, dV += Pᵀ·dY.
		gemmSerial(&s.gemm, T, T, hs, rowMajor(dy, C), transposedOf(v, 3*C), dp, T, false)
		gemmSerial(&s.gemm, T, hs, T, transposedOf(p, T), rowMajor(dy, C), dv, 3*C, true)
		// Through the softmax: dS = P ⊙ (dP − Σ_j P·dP) · scale. Masked
		// entries have P = 0 and stay 0.
		for t := range T {
			keys := T
			if causal {
				keys = t + 1
			}
			softmaxBackwardScaled(dp[t*T:t*T+keys], p[t*T:t*T+keys], scale)
			clear(dp[t*T+keys : t*T+T])
		}
		// Through S = Q·Kᵀ: dQ += dS·K, dK += dSᵀ·Q.
		gemmSerial(&s.gemm, T, hs, T, rowMajor(dp, T), rowMajor(k, 3*C), dq, 3*C, true)
		gemmSerial(&s.gemm, T, hs, T, transposedOf(dp, T), rowMajor(q, 3*C), dk, 3*C, true)
	})
}

// softmaxBackwardScaled turns dp, the gradient with respect to the softmax
// output p, into the gradient with respect to its scaled input:
// dp ← scale·p⊙(dp − p·dp).
func softmaxBackwardScaled(dp, p []float32, scale float32) {
	vec.softmaxGrad(dp, p, vec.dot(p, dp), scale)
}
