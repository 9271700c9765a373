package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// Evaluation classifies many batches of images against the same classes:
// ClassFeatures once, VisualPrompts once, then ImageLogits per batch.

// ClassFeatures returns the L2-normalised text features [classes,EmbedDim]
// of the class sequences, with the embeddings of ctxIDs in the nCtx context
// slots (nil: the sequences' own tokens). The caller owns the buffer and
// frees it.
func (r *Runner) ClassFeatures(tokens [][]int, ctxIDs []int, nCtx int) (backend.Buffer, error) {
	if err := r.model.CheckTokens(tokens, nCtx); err != nil {
		return nil, err
	}
	var ctx backend.Buffer
	if ctxIDs != nil {
		var err error
		if ctx, err = r.contextBuffer(ctxIDs, nCtx); err != nil {
			return nil, err
		}
		defer r.b.Free(ctx)
	}
	w, err := r.textWork(textKey{classes: len(tokens), length: textLength(tokens), nCtx: nCtx})
	if err != nil {
		return nil, err
	}
	w.setTokens(r.b, tokens)
	r.textForward(w, ctx)
	return r.normalizedCopy(w.head.features, len(tokens))
}

// ContextPrompts returns the visual prompts [nCtx,VisionWidth] of the
// context E[ctxIDs] through the projection projW, projB. The caller owns the
// buffer and frees it.
func (r *Runner) ContextPrompts(ctxIDs []int, projW, projB backend.Buffer) (backend.Buffer, error) {
	nCtx := len(ctxIDs)
	ctx, err := r.contextBuffer(ctxIDs, nCtx)
	if err != nil {
		return nil, err
	}
	defer r.b.Free(ctx)
	prompts, err := r.b.Alloc(backend.Float32, nCtx*r.model.Config.VisionWidth)
	if err != nil {
		return nil, err
	}
	r.VisualPrompts(prompts, ctx, projW, projB, nCtx)
	return prompts, nil
}

// contextBuffer returns a new buffer holding E[ids], [nCtx,TextWidth].
func (r *Runner) contextBuffer(ids []int, nCtx int) (backend.Buffer, error) {
	c := r.model.Config
	if len(ids) != nCtx {
		return nil, fmt.Errorf("clip: %d context token ids for %d slots", len(ids), nCtx)
	}
	for i, id := range ids {
		if id < 0 || id >= c.VocabSize {
			return nil, fmt.Errorf("clip: context token %d at slot %d is outside the vocabulary of %d", id, i, c.VocabSize)
		}
	}
	idBuf, err := backend.Int32FromHost(r.b, ids)
	if err != nil {
		return nil, err
	}
	defer r.b.Free(idBuf)
	ctx, err := r.b.Alloc(backend.Float32, nCtx*c.TextWidth)
	if err != nil {
		return nil, err
	}
	r.b.GatherRows(ctx, r.w.tokenEmbedding, idBuf, nCtx, c.TextWidth)
	return ctx, nil
}

// normalizedCopy returns a new buffer holding the rows of features
// [rows,EmbedDim] divided by their norms.
func (r *Runner) normalizedCopy(features backend.Buffer, rows int) (backend.Buffer, error) {
	E := r.model.Config.EmbedDim
	var a arena
	a.b = r.b
	out, norm := a.f32(rows*E), a.f32(rows)
	if err := a.done(); err != nil {
		return nil, err
	}
	r.b.L2NormalizeForward(out, norm, features, rows, E)
	r.b.Free(norm)
	return out, nil
}

// logitsKey is the shape of an image classification.
type logitsKey struct{ batch, classes int }

// logitsWork holds the normalised image features and logits of a batch.
type logitsWork struct {
	mem               arena
	img, norm, logits backend.Buffer
}

func (r *Runner) logitsWork(key logitsKey) (*logitsWork, error) {
	if w, ok := r.classify[key]; ok {
		return w, nil
	}
	E := r.model.Config.EmbedDim
	w := &logitsWork{mem: arena{b: r.b}}
	w.img, w.norm, w.logits = w.mem.f32(key.batch*E), w.mem.f32(key.batch), w.mem.f32(key.batch*key.classes)
	if err := w.mem.done(); err != nil {
		return nil, err
	}
	r.classify[key] = w
	return w, nil
}

// ImageLogits writes to dst (batch × classes) the logits of images (batch ×
// 3 × R × R, normalised) against the normalised class features (from
// ClassFeatures), with prompts (from ContextPrompts; nil for none) appended
// to the ViT. The images go through the ViT ImageChunk at a time: each
// image's logits are the same whatever images share its pass, and the
// memory of an evaluation stays that of a chunk however large its batches.
func (r *Runner) ImageLogits(dst, images []float32, batch int, prompts, classes backend.Buffer, nClasses int) error {
	c := r.model.Config
	per := 3 * c.ImageResolution * c.ImageResolution
	if batch <= 0 || len(images) != batch*per || len(dst) < batch*nClasses {
		return fmt.Errorf("clip: %d image values and %d logits for a batch of %d, want batch × 3 × %d × %d and batch × %d",
			len(images), len(dst), batch, c.ImageResolution, c.ImageResolution, nClasses)
	}
	for first := 0; first < batch; first += r.ImageChunk {
		n := min(r.ImageChunk, batch-first)
		if err := r.chunkLogits(dst[first*nClasses:(first+n)*nClasses], images[first*per:(first+n)*per], n, prompts, classes, nClasses); err != nil {
			return err
		}
	}
	return nil
}

// chunkLogits is ImageLogits for one pass of n images through the ViT.
func (r *Runner) chunkLogits(dst, images []float32, n int, prompts, classes backend.Buffer, nClasses int) error {
	c := r.model.Config
	nExtra := 0
	if prompts != nil {
		nExtra = prompts.Len() / c.VisionWidth
	}
	v, err := r.visionWork(visionKey{batch: n, nExtra: nExtra})
	if err != nil {
		return err
	}
	h, err := r.logitsWork(logitsKey{n, nClasses})
	if err != nil {
		return err
	}
	r.visionForward(v, images, prompts)
	r.b.L2NormalizeForward(h.img, h.norm, v.head.features, n, c.EmbedDim)
	r.Logits(h.logits, h.img, classes, n, nClasses)
	return r.b.Download(dst, h.logits)
}
