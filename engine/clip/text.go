package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/cpu"
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

// TextState is a text forward pass kept for its backward pass.
type TextState struct {
	// Features are the projected EOT features, nClasses × EmbedDim, before
	// L2 normalisation.
	Features []float32

	nClasses, length, nCtx int
	eot                    []int
	acts                   *stackActs
	lnIn, lnOut            []float32 // ln_final input and output at the EOT rows
	lnMean, lnRstd         []float32
}

// TextForward encodes each class sequence, with the embeddings at positions
// 1..nCtx replaced by the rows of ctx (nCtx × TextWidth; nil keeps the token
// embeddings), and keeps the activations for TextBackward. Because the
// attention is causal and the feature is read at the EOT position, only the
// first max(EOT)+1 positions are computed: the result is identical to a
// full-length pass. It panics on input CheckTokens rejects or a ctx of the
// wrong size.
func (m *Model) TextForward(tokens [][]int, ctx []float32, nCtx int) *TextState {
	return m.textForward(tokens, ctx, nCtx, true, false)
}

// TextFeatures returns the L2-normalised text features (nClasses ×
// EmbedDim), keeping no activations.
func (m *Model) TextFeatures(tokens [][]int, ctx []float32, nCtx int) []float32 {
	s := m.textForward(tokens, ctx, nCtx, false, false)
	return normalized(s.Features, s.nClasses, m.Config.EmbedDim)
}

// textForward is TextForward with switches: keep saves activations; full
// runs all ContextLength positions (for tests of the truncation).
func (m *Model) textForward(tokens [][]int, ctx []float32, nCtx int, keep, full bool) *TextState {
	if err := m.CheckTokens(tokens, nCtx); err != nil {
		panic(err)
	}
	c := m.Config
	w := c.TextWidth
	if ctx != nil && len(ctx) != nCtx*w {
		panic(fmt.Sprintf("clip: text context has %d values, want n_ctx %d × width %d", len(ctx), nCtx, w))
	}
	s := &TextState{nClasses: len(tokens), nCtx: nCtx, eot: make([]int, len(tokens))}
	for i, seq := range tokens {
		s.eot[i] = EOTIndex(seq)
		s.length = max(s.length, s.eot[i]+1)
	}
	if full {
		s.length = c.ContextLength
	}
	T := s.length
	x := make([]float32, s.nClasses*T*w)
	for i, seq := range tokens {
		for t := range T {
			var emb []float32
			if ctx != nil && t >= 1 && t <= nCtx {
				emb = ctx[(t-1)*w : t*w]
			} else {
				id := 0 // clip.tokenize pads with 0
				if t < len(seq) {
					id = seq[t]
				}
				emb = m.tokenEmbedding[id*w : (id+1)*w]
			}
			cpu.Add(x[(i*T+t)*w:(i*T+t+1)*w], emb, m.positionalEmbedding[t*w:(t+1)*w])
		}
	}
	observe := m.streamObserver(TextTower, s.nClasses, T, w)
	if keep {
		s.acts = m.text.forward(x, s.nClasses, T, true, observe)
		x = s.acts.inputs[len(s.acts.inputs)-1]
	} else {
		m.text.forwardInPlace(x, s.nClasses, T, true, observe)
	}
	// ln_final is per row, so it is applied to the EOT rows only.
	s.lnIn = make([]float32, s.nClasses*w)
	for i, e := range s.eot {
		copy(s.lnIn[i*w:(i+1)*w], x[(i*T+e)*w:(i*T+e+1)*w])
	}
	s.lnOut = make([]float32, s.nClasses*w)
	s.lnMean, s.lnRstd = make([]float32, s.nClasses), make([]float32, s.nClasses)
	cpu.LayerNormForward(s.lnOut, s.lnMean, s.lnRstd, s.lnIn, m.lnFinalW, m.lnFinalB, s.nClasses, w)
	s.Features = make([]float32, s.nClasses*c.EmbedDim)
	cpu.MatmulForward(s.Features, s.lnOut, m.textProjT, nil, s.nClasses, w, c.EmbedDim)
	return s
}

// TextBackward returns the gradient with respect to the context slots
// (nCtx × TextWidth, summed over the classes) given dFeatures, the gradient
// with respect to s.Features. The towers are frozen.
func (m *Model) TextBackward(s *TextState, dFeatures []float32) []float32 {
	if s.acts == nil {
		panic("clip: TextBackward needs a state from TextForward")
	}
	c := m.Config
	w, T := c.TextWidth, s.length
	dLnOut := make([]float32, s.nClasses*w)
	cpu.MatmulBackward(dLnOut, nil, nil, dFeatures, s.lnOut, m.textProjT, s.nClasses, w, c.EmbedDim)
	dLnIn := make([]float32, s.nClasses*w)
	cpu.LayerNormBackward(dLnIn, nil, nil, dLnOut, s.lnIn, m.lnFinalW, s.lnMean, s.lnRstd, s.nClasses, w)
	dx := make([]float32, s.nClasses*T*w)
	for i, e := range s.eot {
		copy(dx[(i*T+e)*w:(i*T+e+1)*w], dLnIn[i*w:(i+1)*w])
	}
	dx = m.text.backward(s.acts, dx)
	dctx := make([]float32, s.nCtx*w)
	for i := range s.nClasses {
		cpu.Accumulate(dctx, dx[(i*T+1)*w:(i*T+1+s.nCtx)*w])
	}
	return dctx
}

// normalized returns the rows of x [rows,dim] divided by their norms.
func normalized(x []float32, rows, dim int) []float32 {
	out := make([]float32, rows*dim)
	cpu.L2NormalizeForward(out, make([]float32, rows), x, rows, dim)
	return out
}
