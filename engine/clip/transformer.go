package clip

import "github.com/fomo-grid/grid/engine/cpu"

// blockActs holds what one block's backward pass needs from its forward pass.
type blockActs struct {
	ln1, ln1Mean, ln1Rstd []float32
	qkv                   []float32 // [N,3w]
	att                   []float32 // [B,heads,T,T] softmax probabilities
	attnOut               []float32 // [N,w] heads concatenated, before out_proj
	x1                    []float32 // [N,w] residual stream after the attention branch
	ln2, ln2Mean, ln2Rstd []float32
	fc, gelu              []float32 // [N,4w] before and after QuickGELU
}

func newBlockActs(B, T, w, heads int) blockActs {
	N := B * T
	return blockActs{
		ln1: make([]float32, N*w), ln1Mean: make([]float32, N), ln1Rstd: make([]float32, N),
		qkv: make([]float32, N*3*w), att: make([]float32, B*heads*T*T), attnOut: make([]float32, N*w),
		x1:  make([]float32, N*w),
		ln2: make([]float32, N*w), ln2Mean: make([]float32, N), ln2Rstd: make([]float32, N),
		fc: make([]float32, N*4*w), gelu: make([]float32, N*4*w),
	}
}

// stackActs is the saved forward pass of a whole transformer.
type stackActs struct {
	B, T   int
	causal bool
	// inputs[l] is the residual stream entering block l; inputs[L] is the
	// output of the last block.
	inputs [][]float32
	blocks []blockActs
}

// blockForward runs one block from xin into xout. branch is [N,w] scratch.
// With a.x1 and xout aliasing xin it runs in place (inference).
func blockForward(bw *block, a *blockActs, xin, xout, branch []float32, B, T, w, heads int, causal bool) {
	N := B * T
	cpu.LayerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, xin, bw.ln1W, bw.ln1B, N, w)
	cpu.MatmulForward(a.qkv, a.ln1, bw.inProjW, bw.inProjB, N, w, 3*w)
	cpu.AttentionForward(a.attnOut, a.att, a.qkv, B, T, w, heads, causal)
	cpu.MatmulForward(branch, a.attnOut, bw.outW, bw.outB, N, w, w)
	cpu.Add(a.x1, xin, branch)
	cpu.LayerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.x1, bw.ln2W, bw.ln2B, N, w)
	cpu.MatmulForward(a.fc, a.ln2, bw.fcW, bw.fcB, N, w, 4*w)
	cpu.QuickGELUForward(a.gelu, a.fc)
	cpu.MatmulForward(branch, a.gelu, bw.projW, bw.projB, N, 4*w, w)
	cpu.Add(xout, a.x1, branch)
}

// streamObserver sees the residual stream [B·T, w] that has been through
// depth blocks (0: entering the first). nil observes nothing.
type streamObserver func(depth int, x []float32)

// forwardInPlace runs the stack over x [B·T, w] in place, keeping nothing
// for a backward pass: one set of activation buffers serves every layer.
func (t *transformer) forwardInPlace(x []float32, B, T int, causal bool, observe streamObserver) {
	a := newBlockActs(B, T, t.width, t.heads)
	a.x1 = x
	branch := make([]float32, B*T*t.width)
	if observe != nil {
		observe(0, x)
	}
	for i := range t.blocks {
		blockForward(&t.blocks[i], &a, x, x, branch, B, T, t.width, t.heads, causal)
		if observe != nil {
			observe(i+1, x)
		}
	}
}

// forward runs the stack over x [B·T, w] (left unchanged) and saves every
// block's activations.
func (t *transformer) forward(x []float32, B, T int, causal bool, observe streamObserver) *stackActs {
	s := &stackActs{B: B, T: T, causal: causal, inputs: [][]float32{x}}
	branch := make([]float32, B*T*t.width)
	if observe != nil {
		observe(0, x)
	}
	for i := range t.blocks {
		a := newBlockActs(B, T, t.width, t.heads)
		out := make([]float32, B*T*t.width)
		blockForward(&t.blocks[i], &a, s.inputs[i], out, branch, B, T, t.width, t.heads, causal)
		s.blocks = append(s.blocks, a)
		s.inputs = append(s.inputs, out)
		if observe != nil {
			observe(i+1, out)
		}
	}
	return s
}

// backward turns the gradient with respect to the stack's output into the
// gradient with respect to its input. The weights are frozen: no weight
// gradients are formed. dout is consumed (used as scratch).
func (t *transformer) backward(s *stackActs, dout []float32) []float32 {
	B, T, w, heads := s.B, s.T, t.width, t.heads
	N := B * T
	dx := make([]float32, N*w) // gradient w.r.t. the current block's input
	dHidden := make([]float32, N*4*w)
	dFC := make([]float32, N*4*w)
	dQKV := make([]float32, N*3*w)
	dNarrow := make([]float32, N*w) // dln2, d(attnOut), dln1 in turn
	for l := len(t.blocks) - 1; l >= 0; l-- {
		bw, a := &t.blocks[l], &s.blocks[l]
		// MLP branch: out = x1 + c_proj(gelu(c_fc(ln_2(x1)))). dout
		// becomes the gradient w.r.t. x1.
		clear(dHidden)
		cpu.MatmulBackward(dHidden, nil, nil, dout, a.gelu, bw.projW, N, 4*w, w)
		clear(dFC)
		cpu.QuickGELUBackward(dFC, a.fc, dHidden)
		clear(dNarrow)
		cpu.MatmulBackward(dNarrow, nil, nil, dFC, a.ln2, bw.fcW, N, w, 4*w)
		cpu.LayerNormBackward(dout, nil, nil, dNarrow, a.x1, bw.ln2W, a.ln2Mean, a.ln2Rstd, N, w)
		// Attention branch: x1 = x + out_proj(attn(in_proj(ln_1(x)))).
		copy(dx, dout)
		clear(dNarrow)
		cpu.MatmulBackward(dNarrow, nil, nil, dout, a.attnOut, bw.outW, N, w, w)
		clear(dQKV)
		cpu.AttentionBackward(dQKV, dNarrow, a.qkv, a.att, B, T, w, heads, s.causal)
		clear(dNarrow)
		cpu.MatmulBackward(dNarrow, nil, nil, dQKV, a.ln1, bw.inProjW, N, w, 3*w)
		cpu.LayerNormBackward(dx, nil, nil, dNarrow, s.inputs[l], bw.ln1W, a.ln1Mean, a.ln1Rstd, N, w)
		dout, dx = dx, dout
	}
	return dout
}
