package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// The methods in this file take and return host slices. They are for tests
// and tools that look at single passes (the golden tests compare them with
// PyTorch's); each call uploads its inputs and downloads its results.

// Features are a pass's features on the host, before and after L2
// normalisation (rows × EmbedDim each).
type Features struct {
	Raw, Normalized []float32
}

// TextFeatures encodes the class sequences with ctx (nCtx × TextWidth; nil
// keeps the token embeddings) in the context slots.
func (r *Runner) TextFeatures(tokens [][]int, ctx []float32, nCtx int) (Features, error) {
	if err := r.model.CheckTokens(tokens, nCtx); err != nil {
		return Features{}, err
	}
	var ctxBuf backend.Buffer
	if ctx != nil {
		if len(ctx) != nCtx*r.model.Config.TextWidth {
			return Features{}, fmt.Errorf("clip: text context has %d values, want n_ctx %d × width %d", len(ctx), nCtx, r.model.Config.TextWidth)
		}
		var err error
		if ctxBuf, err = backend.FromHost(r.b, ctx); err != nil {
			return Features{}, err
		}
		defer r.b.Free(ctxBuf)
	}
	w, err := r.textWork(textKey{classes: len(tokens), length: textLength(tokens), nCtx: nCtx})
	if err != nil {
		return Features{}, err
	}
	w.setTokens(r.b, tokens)
	r.textForward(w, ctxBuf)
	return r.hostFeatures(w.head.features, len(tokens))
}

// ImageFeatures encodes images (batch × 3 × R × R, normalised) with extra
// (nExtra × VisionWidth, nil for none) appended to the ViT.
func (r *Runner) ImageFeatures(images []float32, batch int, extra []float32) (Features, error) {
	c := r.model.Config
	R, vw := c.ImageResolution, c.VisionWidth
	if batch <= 0 || len(images) != batch*3*R*R {
		return Features{}, fmt.Errorf("clip: %d image values for a batch of %d, want batch × 3 × %d × %d", len(images), batch, R, R)
	}
	if len(extra)%vw != 0 {
		return Features{}, fmt.Errorf("clip: %d visual prompt values are not a whole number of %d-wide tokens", len(extra), vw)
	}
	var extraBuf backend.Buffer
	if len(extra) > 0 {
		var err error
		if extraBuf, err = backend.FromHost(r.b, extra); err != nil {
			return Features{}, err
		}
		defer r.b.Free(extraBuf)
	}
	w, err := r.visionWork(visionKey{batch: batch, nExtra: len(extra) / vw})
	if err != nil {
		return Features{}, err
	}
	r.visionForward(w, images, extraBuf)
	return r.hostFeatures(w.head.features, batch)
}

// hostFeatures downloads features [rows,EmbedDim] and their normalised
// rows.
func (r *Runner) hostFeatures(features backend.Buffer, rows int) (Features, error) {
	norm, err := r.normalizedCopy(features, rows)
	if err != nil {
		return Features{}, err
	}
	defer r.b.Free(norm)
	E := r.model.Config.EmbedDim
	f := Features{Raw: make([]float32, rows*E), Normalized: make([]float32, rows*E)}
	if err := r.b.Download(f.Raw, features); err != nil {
		return Features{}, err
	}
	if err := r.b.Download(f.Normalized, norm); err != nil {
		return Features{}, err
	}
	return f, nil
}

// ContextEmbeddings returns the token embeddings of ids (len(ids) ×
// TextWidth): the context DPT puts in the slots.
func (r *Runner) ContextEmbeddings(ids []int) ([]float32, error) {
	ctx, err := r.contextBuffer(ids, len(ids))
	if err != nil {
		return nil, err
	}
	defer r.b.Free(ctx)
	return backend.ToHost(r.b, ctx)
}
