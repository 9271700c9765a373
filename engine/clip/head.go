package clip

import "github.com/fomo-grid/grid/engine/backend"

// towerHead is the end of a tower in one pass: the rows of the residual
// stream a feature is read from (the text tower: each class's end-of-text
// token; the ViT: each image's class token), LayerNorm over those rows only
// (it works per row, so the others need none) and the projection to the
// joint embedding.
type towerHead struct {
	n                   int
	rows                backend.Buffer // Int32 [n]: the rows of the stream
	in, out, mean, rstd backend.Buffer // the LayerNorm at those rows
	features            backend.Buffer // [n,EmbedDim], before normalisation
	dOut, dIn           backend.Buffer // backward only: gradients at out and in
}

// headWeights are a head's weights (or, in a training pass, their
// gradients): ln_final or ln_post, and the projection stored transposed
// ([embed,width]) so that x@P is x·Wᵀ.
type headWeights struct {
	width, embed int
	lnW, lnB     backend.Buffer
	projT        backend.Buffer
}

func newTowerHead(a *arena, n int, w *headWeights, keep bool) towerHead {
	h := towerHead{n: n, rows: a.i32(n), in: a.f32(n * w.width), out: a.f32(n * w.width), mean: a.f32(n), rstd: a.f32(n),
		features: a.f32(n * w.embed)}
	if keep {
		h.dOut, h.dIn = a.f32(n*w.width), a.f32(n*w.width)
	}
	return h
}

// forward reads the head's rows out of the stack's output (or finds them
// in h.in, where a stack that ends at the head leaves them) and leaves the
// projected features in h.features.
func (h *towerHead) forward(b backend.Backend, w *headWeights, s *stackWork) {
	if !s.trimmed {
		b.GatherRows(h.in, s.output(), h.rows, h.n, w.width)
	}
	b.LayerNormForward(h.out, h.mean, h.rstd, h.in, w.lnW, w.lnB, h.n, w.width)
	b.MatmulForward(h.features, h.out, w.projT, nil, h.n, w.width, w.embed)
}

// backward writes to s.dOut (the whole stream's gradient, zero outside the
// head's rows) the gradient of the features given dFeatures; a stack that
// ended at the head takes it from h.dIn instead. With grads not nil it
// also adds the gradients of the head's weights there.
func (h *towerHead) backward(b backend.Backend, w, grads *headWeights, dFeatures backend.Buffer, s *stackWork) {
	var g headWeights // all nil: frozen
	var out backend.Buffer
	if grads != nil {
		g, out = *grads, h.out
	}
	b.Zero(h.dOut)
	b.MatmulBackward(h.dOut, g.projT, nil, dFeatures, out, w.projT, h.n, w.width, w.embed)
	b.Zero(h.dIn)
	b.LayerNormBackward(h.dIn, g.lnW, g.lnB, h.dOut, h.in, w.lnW, h.mean, h.rstd, h.n, w.width)
	if s.trimmed {
		return
	}
	b.Zero(s.dOut)
	b.ScatterAddRows(s.dOut, h.dIn, h.rows, h.n, w.width)
}
