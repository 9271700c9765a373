package cpu

import "math"

// AttentionForward is the core of multi-head self-attention, after the input
// projection and before the output projection. qkv [B,T,3C] holds, per token,
// the query, key and value vectors side by side (the layout of CLIP's packed
// in_proj); head h uses columns [h·C/NH, (h+1)·C/NH) of each. out [B,T,C]
// receives the heads' outputs concatenated; att [B,NH,T,T] receives the
// softmax probabilities for the backward pass. The scores are scaled by
// 1/sqrt(C/NH); with causal set, token t attends only to tokens 0..t.
func AttentionForward(out, att, qkv []float32, B, T, C, NH int, causal bool) {
	hs := C / NH
	scale := float32(1 / math.Sqrt(float64(hs)))
	C3 := 3 * C
	parallelFor(B*NH, B*NH*T*T*hs < serialFlops, func(bh int) {
		b, h := bh/NH, bh%NH
		base := b * T * C3
		for t := range T {
			q := qkv[base+t*C3+h*hs : base+t*C3+h*hs+hs]
			row := att[(bh*T+t)*T : (bh*T+t)*T+T]
			keys := T
			if causal {
				keys = t + 1
			}
			maxScore := float32(math.Inf(-1))
			for t2 := range keys {
				k := qkv[base+t2*C3+C+h*hs : base+t2*C3+C+h*hs+hs]
				s := dot1x1(q, k) * scale
				row[t2] = s
				maxScore = max(maxScore, s)
			}
			var sum float32
			for t2 := range keys {
				e := float32(math.Exp(float64(row[t2] - maxScore)))
				row[t2] = e
				sum += e
			}
			inv := 1 / sum
			for t2 := range keys {
				row[t2] *= inv
			}
			clear(row[keys:])
			o := out[(b*T+t)*C+h*hs : (b*T+t)*C+h*hs+hs]
			clear(o)
			for t2 := range keys {
				v := qkv[base+t2*C3+2*C+h*hs : base+t2*C3+2*C+h*hs+hs]
				axpy(o, v, row[t2])
			}
		}
	})
}

// AttentionBackward adds to dqkv [B,T,3C] the gradient of AttentionForward
// with respect to its queries, keys and values, given dout [B,T,C] and the
// saved probabilities att.
func AttentionBackward(dqkv, dout, qkv, att []float32, B, T, C, NH int, causal bool) {
	hs := C / NH
	scale := float32(1 / math.Sqrt(float64(hs)))
	C3 := 3 * C
	parallelFor(B*NH, B*NH*T*T*hs < serialFlops, func(bh int) {
		b, h := bh/NH, bh%NH
		base := b * T * C3
		datt := make([]float32, T)
		for t := range T {
			keys := T
			if causal {
				keys = t + 1
			}
			p := att[(bh*T+t)*T : (bh*T+t)*T+keys]
			dy := dout[(b*T+t)*C+h*hs : (b*T+t)*C+h*hs+hs]
			// Through the weighted sum of values.
			var pd float32
			for t2, pt := range p {
				v := qkv[base+t2*C3+2*C+h*hs : base+t2*C3+2*C+h*hs+hs]
				datt[t2] = dot1x1(dy, v)
				pd += pt * datt[t2]
				axpy(dqkv[base+t2*C3+2*C+h*hs:base+t2*C3+2*C+h*hs+hs], dy, pt)
			}
			// Through the softmax and the scaled dot products.
			q := qkv[base+t*C3+h*hs : base+t*C3+h*hs+hs]
			dq := dqkv[base+t*C3+h*hs : base+t*C3+h*hs+hs]
			for t2, pt := range p {
				ds := pt * (datt[t2] - pd) * scale
				if ds == 0 {
					continue
				}
				k := qkv[base+t2*C3+C+h*hs : base+t2*C3+C+h*hs+hs]
				axpy(dq, k, ds)
				axpy(dqkv[base+t2*C3+C+h*hs:base+t2*C3+C+h*hs+hs], q, ds)
			}
		}
	})
}
