package clip

import "github.com/fomo-grid/grid/engine/backend"

// blockSaved is what one block's backward pass needs from its forward pass,
// and no more. With frozen weights no matmul needs its input (that is only
// for weight gradients), and LayerNorm's and QuickGELU's backward passes need
// only their inputs and statistics, so the LayerNorm outputs, the attention
// output before out_proj and the QuickGELU output are kept only by a pass
// that trains the weights (stackWork.train).
type blockSaved struct {
	ln1Mean, ln1Rstd backend.Buffer // [N]
	qkv              backend.Buffer // [N,3w]
	att              backend.Buffer // what the backend's attention keeps
	x1               backend.Buffer // [N,w] residual stream after the attention branch
	ln2Mean, ln2Rstd backend.Buffer // [N]
	fc               backend.Buffer // [N,4w] before QuickGELU

	// The inputs of the four matmuls, training only (else nil): ln_1's
	// and ln_2's outputs [N,w], the heads' output [N,w] and QuickGELU's
	// output [N,4w].
	ln1Out, attnOut, ln2Out, hidden backend.Buffer
}

// stackWork is the workspace of one transformer pass over B sequences of T
// tokens. With keep, streams[l] is the residual stream entering block l
// (streams[L] the output) and saved[l] block l's activations. Without it
// the pass runs in place in streams[0] and one blockSaved serves every
// block. With train (which implies keep) the blocks also keep their
// matmuls' inputs, for the weight gradients.
type stackWork struct {
	B, T                int
	causal, keep, train bool
	streams             []backend.Buffer
	saved               []blockSaved

	// Forward scratch, overwritten by every block.
	ln, attnOut, branch, hidden backend.Buffer
	// Backward scratch (keep only): the gradients flowing through a block.
	dOut, dIn, dNarrow, dQKV, dHidden, dFC backend.Buffer

	// atHead, when set, runs the last block at its head's rows only;
	// trimmed says the last forward pass did (it had no observer).
	atHead  *headRows
	trimmed bool
}

// headRows is the last block of a pass whose output only its head reads
// (no observer, no weight gradients). Every row still goes through ln_1,
// in_proj and the attention, since the head's rows attend to all of them,
// but out_proj, the residual additions, ln_2 and the MLP run at the head's
// rows only (the class token of each image, the EOT of each class: a
// twelfth of the ViT's linear work), and so does their backward pass. The
// backend computes a row the same whatever rows come with it, so the head
// gets the numbers a full block gives.
type headRows struct {
	head                  *towerHead     // its rows; the block writes its output rows to head.in, its backward starts from head.dIn
	x, attn, branch, ln   backend.Buffer // [n,w]: the block's input, the heads' output, a branch, ln_2's output
	x1                    backend.Buffer // [n,w] after the attention branch
	lnMean, lnRstd        backend.Buffer // [n] ln_2's statistics
	fc, hidden            backend.Buffer // [n,4w] before and after QuickGELU
	dHidden, dFC, dNarrow backend.Buffer // backward only
}

// endAtHead makes the stack's last block run at h's rows only (headRows),
// unless the pass forms weight gradients, which need every row.
func (s *stackWork) endAtHead(a *arena, t *deviceTower, h *towerHead) {
	if s.train {
		return
	}
	n, w := h.n, t.width
	s.atHead = &headRows{head: h, x: a.f32(n * w), attn: a.f32(n * w), branch: a.f32(n * w), ln: a.f32(n * w),
		x1: a.f32(n * w), lnMean: a.f32(n), lnRstd: a.f32(n), fc: a.f32(n * 4 * w), hidden: a.f32(n * 4 * w)}
	if s.keep {
		s.atHead.dHidden, s.atHead.dFC, s.atHead.dNarrow = a.f32(n*4*w), a.f32(n*4*w), a.f32(n*w)
	}
}

func newStackWork(a *arena, t *deviceTower, B, T int, causal, keep, train bool) *stackWork {
	N, w := B*T, t.width
	keep = keep || train
	s := &stackWork{B: B, T: T, causal: causal, keep: keep, train: train}
	saves := 1
	if keep {
		saves = len(t.blocks)
	}
	s.streams = []backend.Buffer{a.f32(N * w)}
	for range saves {
		s.saved = append(s.saved, blockSaved{
			ln1Mean: a.f32(N), ln1Rstd: a.f32(N),
			qkv: a.f32(N * 3 * w), att: a.f32(a.b.AttentionSavedLen(B, T, w, t.heads)),
			ln2Mean: a.f32(N), ln2Rstd: a.f32(N),
			fc: a.f32(N * 4 * w),
		})
		if keep {
			s.saved[len(s.saved)-1].x1 = a.f32(N * w)
			s.streams = append(s.streams, a.f32(N*w))
		}
		if train {
			saved := &s.saved[len(s.saved)-1]
			saved.ln1Out, saved.attnOut, saved.ln2Out, saved.hidden = a.f32(N*w), a.f32(N*w), a.f32(N*w), a.f32(N*4*w)
		}
	}
	if !keep {
		s.saved[0].x1 = s.streams[0] // in place
	}
	s.ln, s.attnOut, s.branch, s.hidden = a.f32(N*w), a.f32(N*w), a.f32(N*w), a.f32(N*4*w)
	if keep {
		s.dOut, s.dIn, s.dNarrow = a.f32(N*w), a.f32(N*w), a.f32(N*w)
		s.dQKV, s.dHidden, s.dFC = a.f32(N*3*w), a.f32(N*4*w), a.f32(N*4*w)
	}
	return s
}

// input is the residual stream entering the stack, written by the caller.
func (s *stackWork) input() backend.Buffer { return s.streams[0] }

// output is the residual stream leaving the stack.
func (s *stackWork) output() backend.Buffer { return s.streams[len(s.streams)-1] }

// streamObserver sees the residual stream [B·T, w] that has been through
// depth blocks (0: entering the first). nil observes nothing.
type streamObserver func(depth int, x backend.Buffer)

// forward runs the tower over s.input(), leaving the result in s.output(),
// or, when the pass ends at its head (s.trimmed), the result at the head's
// rows in its input.
func (t *deviceTower) forward(b backend.Backend, s *stackWork, observe streamObserver) {
	if observe != nil {
		observe(0, s.input())
	}
	s.trimmed = s.atHead != nil && observe == nil
	for l := range t.blocks {
		in, out, saved := s.streams[0], s.streams[0], &s.saved[0]
		if s.keep {
			in, out, saved = s.streams[l], s.streams[l+1], &s.saved[l]
		}
		if s.trimmed && l == len(t.blocks)-1 {
			t.headBlockForward(b, &t.blocks[l], s, saved, in)
			return
		}
		t.blockForward(b, &t.blocks[l], s, saved, in, out)
		if observe != nil {
			observe(l+1, out)
		}
	}
}

// blockForward runs one block, x += attn(ln_1(x)); x += mlp(ln_2(x)), from
// xin into xout (the same buffer in place). The matmuls' inputs go to the
// scratch buffers, or where a training pass keeps them.
func (t *deviceTower) blockForward(b backend.Backend, bw *deviceBlock, s *stackWork, a *blockSaved, xin, xout backend.Buffer) {
	N, w := s.B*s.T, t.width
	attnOut := t.attend(b, bw, s, a, xin)
	ln2, hidden := orScratch(a.ln2Out, s.ln), orScratch(a.hidden, s.hidden)
	b.MatmulForward(s.branch, attnOut, bw.outW, bw.outB, N, w, w)
	b.Add(a.x1, xin, s.branch, N*w)
	b.LayerNormForward(ln2, a.ln2Mean, a.ln2Rstd, a.x1, bw.ln2W, bw.ln2B, N, w)
	b.MatmulForward(a.fc, ln2, bw.fcW, bw.fcB, N, w, 4*w)
	b.QuickGELUForward(hidden, a.fc, N*4*w)
	b.MatmulForward(s.branch, hidden, bw.projW, bw.projB, N, 4*w, w)
	b.Add(xout, a.x1, s.branch, N*w)
}

// attend runs ln_1, in_proj and the heads over every row of xin and
// returns the buffer holding the heads' output.
func (t *deviceTower) attend(b backend.Backend, bw *deviceBlock, s *stackWork, a *blockSaved, xin backend.Buffer) backend.Buffer {
	N, w := s.B*s.T, t.width
	ln1, attnOut := orScratch(a.ln1Out, s.ln), orScratch(a.attnOut, s.attnOut)
	b.LayerNormForward(ln1, a.ln1Mean, a.ln1Rstd, xin, bw.ln1W, bw.ln1B, N, w)
	b.MatmulForward(a.qkv, ln1, bw.inProjW, bw.inProjB, N, w, 3*w)
	b.AttentionForward(attnOut, a.att, a.qkv, s.B, s.T, w, t.heads, s.causal)
	return attnOut
}

// headBlockForward is blockForward for the last block at the head's rows
// (headRows), writing the output rows to the head's input.
func (t *deviceTower) headBlockForward(b backend.Backend, bw *deviceBlock, s *stackWork, a *blockSaved, xin backend.Buffer) {
	h, w := s.atHead, t.width
	n, rows := h.head.n, h.head.rows
	attnOut := t.attend(b, bw, s, a, xin)
	b.GatherRows(h.attn, attnOut, rows, n, w)
	b.GatherRows(h.x, xin, rows, n, w)
	b.MatmulForward(h.branch, h.attn, bw.outW, bw.outB, n, w, w)
	b.Add(h.x1, h.x, h.branch, n*w)
	b.LayerNormForward(h.ln, h.lnMean, h.lnRstd, h.x1, bw.ln2W, bw.ln2B, n, w)
	b.MatmulForward(h.fc, h.ln, bw.fcW, bw.fcB, n, w, 4*w)
	b.QuickGELUForward(h.hidden, h.fc, n*4*w)
	b.MatmulForward(h.branch, h.hidden, bw.projW, bw.projB, n, 4*w, w)
	b.Add(h.head.in, h.x1, h.branch, n*w)
}

// orScratch is kept when a pass keeps that activation, else scratch.
func orScratch(kept, scratch backend.Buffer) backend.Buffer {
	if kept != nil {
		return kept
	}
	return scratch
}

// backward turns the gradient with respect to the stack's output, which
// the caller has written to s.dOut (or, when the forward pass ended at the
// head, the head to its dIn), into the gradient with respect to its input,
// which it returns (one of s's scratch buffers). With grads nil the
// weights are frozen and no weight gradient is formed; else (a training
// pass only) the gradients of the blocks' weights are added to grads.
func (t *deviceTower) backward(b backend.Backend, s *stackWork, grads *deviceTower) backend.Buffer {
	dOut, dIn := s.dOut, s.dIn
	last := len(t.blocks) - 1
	if s.trimmed {
		t.headBlockBackward(b, &t.blocks[last], s, &s.saved[last], last, dOut)
		last--
	}
	for l := last; l >= 0; l-- {
		var g deviceBlock // all nil: no weight gradients
		if grads != nil {
			g = grads.blocks[l]
		}
		t.blockBackward(b, &t.blocks[l], &g, s, &s.saved[l], l, dOut, dIn)
		dOut, dIn = dIn, dOut
	}
	return dOut
}

// blockBackward takes dOut, the gradient at block l's output, back to its
// input, into dIn; dOut is overwritten.
func (t *deviceTower) blockBackward(b backend.Backend, bw, g *deviceBlock, s *stackWork, a *blockSaved, l int, dOut, dIn backend.Buffer) {
	N, w := s.B*s.T, t.width
	// MLP branch: out = x1 + c_proj(gelu(c_fc(ln_2(x1)))). dOut becomes
	// the gradient with respect to x1.
	b.Zero(s.dHidden)
	b.MatmulBackward(s.dHidden, g.projW, g.projB, dOut, a.hidden, bw.projW, N, 4*w, w)
	b.Zero(s.dFC)
	b.QuickGELUBackward(s.dFC, a.fc, s.dHidden, N*4*w)
	b.Zero(s.dNarrow)
	b.MatmulBackward(s.dNarrow, g.fcW, g.fcB, s.dFC, a.ln2Out, bw.fcW, N, w, 4*w)
	b.LayerNormBackward(dOut, g.ln2W, g.ln2B, s.dNarrow, a.x1, bw.ln2W, a.ln2Mean, a.ln2Rstd, N, w)
	// Attention branch: x1 = x + out_proj(attn(in_proj(ln_1(x)))).
	b.Copy(dIn, dOut)
	b.Zero(s.dNarrow)
	b.MatmulBackward(s.dNarrow, g.outW, g.outB, dOut, a.attnOut, bw.outW, N, w, w)
	t.attendBackward(b, bw, g, s, a, l, dIn)
}

// attendBackward takes s.dNarrow, the gradient at the heads' output of
// block l, back through the heads, in_proj and ln_1, adding the gradient
// at the block's input to dIn.
func (t *deviceTower) attendBackward(b backend.Backend, bw, g *deviceBlock, s *stackWork, a *blockSaved, l int, dIn backend.Buffer) {
	N, w := s.B*s.T, t.width
	b.Zero(s.dQKV)
	b.AttentionBackward(s.dQKV, s.dNarrow, a.qkv, a.att, s.B, s.T, w, t.heads, s.causal)
	b.Zero(s.dNarrow)
	b.MatmulBackward(s.dNarrow, g.inProjW, g.inProjB, s.dQKV, a.ln1Out, bw.inProjW, N, w, 3*w)
	b.LayerNormBackward(dIn, g.ln1W, g.ln1B, s.dNarrow, s.streams[l], bw.ln1W, a.ln1Mean, a.ln1Rstd, N, w)
}

// headBlockBackward is blockBackward for the last block run at the head's
// rows: from the head's dIn to dIn, the gradient at the block's input (all
// rows: the attention spreads it). Outside the head's rows the gradient at
// the output is zero, so the MLP and out_proj contribute nothing there.
func (t *deviceTower) headBlockBackward(b backend.Backend, bw *deviceBlock, s *stackWork, a *blockSaved, l int, dIn backend.Buffer) {
	h, w := s.atHead, t.width
	n, rows, dx := h.head.n, h.head.rows, h.head.dIn
	b.Zero(h.dHidden)
	b.MatmulBackward(h.dHidden, nil, nil, dx, nil, bw.projW, n, 4*w, w)
	b.Zero(h.dFC)
	b.QuickGELUBackward(h.dFC, h.fc, h.dHidden, n*4*w)
	b.Zero(h.dNarrow)
	b.MatmulBackward(h.dNarrow, nil, nil, h.dFC, nil, bw.fcW, n, w, 4*w)
	b.LayerNormBackward(dx, nil, nil, h.dNarrow, h.x1, bw.ln2W, h.lnMean, h.lnRstd, n, w)
	b.Zero(dIn)
	b.ScatterAddRows(dIn, dx, rows, n, w)
	b.Zero(h.dNarrow)
	b.MatmulBackward(h.dNarrow, nil, nil, dx, nil, bw.outW, n, w, w)
	b.Zero(s.dNarrow)
	b.ScatterAddRows(s.dNarrow, h.dNarrow, rows, n, w)
	t.attendBackward(b, bw, &deviceBlock{}, s, a, l, dIn)
}
