package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// EOTIndex is the position CLIP reads the text feature from: the argmax of
// the token ids (the end-of-text token has the largest id), first occurrence.
func EOTIndex(tokens []int) int {
	best := 0
	for i, id := range tokens {
		if id > tokens[best] {
			best = i
		}
	}
	return best
}

// CheckTokens reports why a batch of class sequences cannot go through the
// text tower with nCtx learned slots, or nil. Each sequence is
// [SOT][nCtx slots][rest...][EOT][pad...], at most ContextLength long, so its
// EOT (argmax) must come after the slots.
func (m *Model) CheckTokens(tokens [][]int, nCtx int) error {
	c := m.Config
	if len(tokens) == 0 {
		return fmt.Errorf("clip: no class token sequences")
	}
	if nCtx < 0 {
		return fmt.Errorf("clip: n_ctx %d is negative", nCtx)
	}
	for i, seq := range tokens {
		if len(seq) == 0 || len(seq) > c.ContextLength {
			return fmt.Errorf("clip: class %d: %d tokens, want 1..%d", i, len(seq), c.ContextLength)
		}
		for j, id := range seq {
			if id < 0 || id >= c.VocabSize {
				return fmt.Errorf("clip: class %d: token %d at position %d is outside the vocabulary of %d", i, id, j, c.VocabSize)
			}
		}
		if eot := EOTIndex(seq); eot <= nCtx {
			return fmt.Errorf("clip: class %d: end-of-text (argmax) at position %d does not follow the %d context slots", i, eot, nCtx)
		}
	}
	return nil
}

// textLength is the number of positions the text tower computes for
// tokens: max(EOT)+1. The attention is causal and the feature is read at
// the EOT position, so later positions cannot change any feature.
func textLength(tokens [][]int) int {
	T := 0
	for _, seq := range tokens {
		T = max(T, EOTIndex(seq)+1)
	}
	return T
}

// textKey is the shape of a text pass. keep: a backward pass follows;
// train: it forms the weights' gradients too (then nCtx is 0).
type textKey struct {
	classes, length, nCtx int
	keep, train           bool
}

// textWork is the workspace of a text pass: its inputs on the device, the
// tower's workspace, and the head at the EOT rows.
type textWork struct {
	mem   arena
	key   textKey
	stack *stackWork
	head  towerHead // its rows are c·T+EOT_c

	ids      backend.Buffer // Int32 [classes,T], padded with 0 as clip.tokenize pads
	posRows  backend.Buffer // training only: Int32 [classes,T], each row's position t
	hostIDs  []int32        // what ids and head.rows hold, to upload only when tokens change
	hostEOTs []int32
	uploaded bool // ids and eotRows hold hostIDs and hostEOTs
	// ctxIDs are the token ids of the context of the last forward pass,
	// when ctxKnown (a DPT step sets them; every other pass clears it).
	ctxIDs   []int32
	ctxKnown bool
}

// textWork returns the workspace for a pass of this shape, making it on
// first use.
func (r *Runner) textWork(key textKey) (*textWork, error) {
	if w, ok := r.texts[key]; ok {
		return w, nil
	}
	K, T := key.classes, key.length
	w := &textWork{mem: arena{b: r.b}, key: key}
	a := &w.mem
	w.stack = newStackWork(a, &r.w.text, K, T, true, key.keep, key.train)
	w.head = newTowerHead(a, K, &r.w.textHead, key.keep || key.train)
	w.stack.endAtHead(a, &r.w.text, &w.head)
	w.ids = a.i32(K * T)
	w.hostIDs, w.hostEOTs = make([]int32, K*T), make([]int32, K)
	if key.train {
		w.posRows = a.i32(K * T)
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	if key.train {
		r.b.UploadInt32(w.posRows, positionRows(K, T))
	}
	r.texts[key] = w
	return w, nil
}

// setTokens uploads the class sequences (cut or padded to the pass's
// length) and their EOT rows, unless the workspace already holds them. It
// reports whether it uploaded.
func (w *textWork) setTokens(b backend.Backend, tokens [][]int) bool {
	T := w.key.length
	changed := false
	for c, seq := range tokens {
		for t := range T {
			id := int32(0)
			if t < len(seq) {
				id = int32(seq[t])
			}
			if w.hostIDs[c*T+t] != id {
				w.hostIDs[c*T+t], changed = id, true
			}
		}
		if eot := int32(c*T + EOTIndex(seq)); w.hostEOTs[c] != eot {
			w.hostEOTs[c], changed = eot, true
		}
	}
	if !changed && w.uploaded {
		return false
	}
	b.UploadInt32(w.ids, w.hostIDs)
	b.UploadInt32(w.head.rows, w.hostEOTs)
	w.uploaded = true
	return true
}

// textForward encodes the class sequences set in w (setTokens), with ctx
// [nCtx,TextWidth] in the context slots (nil keeps the token embeddings),
// leaving the projected EOT features in w.head.features.
func (r *Runner) textForward(w *textWork, ctx backend.Buffer) {
	b := r.b
	K, T, tw := w.key.classes, w.key.length, r.w.text.width
	w.ctxKnown = false
	b.EmbedTokensForward(w.stack.input(), w.ids, r.w.tokenEmbedding, r.w.positionalEmbedding, ctx, K, T, tw, w.key.nCtx)
	r.w.text.forward(b, w.stack, r.model.streamObserver(TextTower, b, K, T, tw))
	w.head.forward(b, &r.w.textHead, w.stack)
}

// textBackward takes dFeatures, the gradient with respect to
// w.head.features, back through the text tower. A DPT step's pass adds to
// dctx [nCtx,TextWidth] the gradient of the context slots, summed over the
// classes; the tower is frozen. A training pass (grads not nil, dctx nil)
// adds the gradient of every text weight to grads.
func (r *Runner) textBackward(w *textWork, dFeatures, dctx backend.Buffer, grads *deviceWeights) {
	b := r.b
	K, T, tw := w.key.classes, w.key.length, r.w.text.width
	var gHead *headWeights
	var gTower *deviceTower
	if grads != nil {
		gHead, gTower = &grads.textHead, &grads.text
	}
	w.head.backward(b, &r.w.textHead, gHead, dFeatures, w.stack)
	dx := r.w.text.backward(b, w.stack, gTower)
	if grads == nil {
		b.EmbedTokensBackward(dctx, dx, K, T, tw, w.key.nCtx)
		return
	}
	// Row (c,t) of the tower's input is E[ids[c,t]] + pos[t].
	b.ScatterAddRows(grads.tokenEmbedding, dx, w.ids, K*T, tw)
	b.ScatterAddRows(grads.positionalEmbedding, dx, w.posRows, K*T, tw)
}

// positionRows is, for n sequences of T tokens, each row's position.
func positionRows(n, T int) []int32 {
	rows := make([]int32, n*T)
	for i := range rows {
		rows[i] = int32(i % T)
	}
	return rows
}
