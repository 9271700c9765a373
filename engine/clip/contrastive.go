package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// CLIP's own objective, for training the towers: a batch of B images and
// their B captions, logits = exp(logit_scale)·normalize(img)·normalize(txt)ᵀ,
// and the symmetric InfoNCE loss, the mean of the cross-entropy of each
// image over the captions and of each caption over the images, the right
// partner being the one at the same index.

// contrastKey is the shape of a contrastive pass: batch pairs, captions of
// length tokens, nExtra tokens appended to every image's ViT input.
type contrastKey struct{ batch, length, nExtra int }

// ContrastiveBatch is one batch of a Training step.
type ContrastiveBatch struct {
	Images   []float32 // B × 3 × R × R, normalised, CHW
	Captions [][]int   // B tokenised captions, Images' partners
	// ExtraTokens, when not empty, are n × VisionWidth values: n tokens
	// appended to every image's ViT input after its patches, without a
	// position, as DPT appends its visual prompts. They are inputs, not
	// weights: random ones teach a small ViT, whose few patches such
	// tokens would otherwise outweigh, to see through them.
	ExtraTokens []float32
}

// key is the shape of the batch's pass.
func (cb ContrastiveBatch) key(c Config) contrastKey {
	return contrastKey{batch: len(cb.Captions), length: textLength(cb.Captions), nExtra: len(cb.ExtraTokens) / c.VisionWidth}
}

// contrastWork is the workspace of a contrastive pass: the two towers'
// training workspaces and the loss between them, in both directions (rows
// of logits are images, rows of logitsT captions).
type contrastWork struct {
	mem    arena
	key    contrastKey
	text   *textWork
	vision *visionWork
	extra  backend.Buffer // [nExtra,VisionWidth]; nil when nExtra is 0

	labels                backend.Buffer // Int32 [B]: 0..B-1, each row's partner
	txt, txtNorm          backend.Buffer // normalised caption features and norms
	img, imgNorm          backend.Buffer // normalised image features and norms
	logits, probs, losses backend.Buffer // [B,B], [B,B], [B]
	logitsT, probsT       backend.Buffer
	lossesT               backend.Buffer
	hostLosses            []float32 // [2B]: losses, then lossesT

	dLogits, dLogitsT             backend.Buffer
	dImg, dTxt                    backend.Buffer
	dImageFeatures, dTextFeatures backend.Buffer
	scaleTerms                    backend.Buffer // [2]: Σ dLogits⊙logits per direction
}

func (r *Runner) contrastWork(key contrastKey) (*contrastWork, error) {
	if w, ok := r.contrasts[key]; ok {
		return w, nil
	}
	B, E := key.batch, r.model.Config.EmbedDim
	text, err := r.textWork(textKey{classes: B, length: key.length, train: true})
	if err != nil {
		return nil, err
	}
	vision, err := r.visionWork(visionKey{batch: B, nExtra: key.nExtra, train: true})
	if err != nil {
		return nil, err
	}
	w := &contrastWork{mem: arena{b: r.b}, key: key, text: text, vision: vision}
	a := &w.mem
	w.labels = a.i32(B)
	w.txt, w.txtNorm, w.img, w.imgNorm = a.f32(B*E), a.f32(B), a.f32(B*E), a.f32(B)
	w.logits, w.probs, w.losses = a.f32(B*B), a.f32(B*B), a.f32(B)
	w.logitsT, w.probsT, w.lossesT = a.f32(B*B), a.f32(B*B), a.f32(B)
	w.dLogits, w.dLogitsT, w.dImg, w.dTxt = a.f32(B*B), a.f32(B*B), a.f32(B*E), a.f32(B*E)
	w.dImageFeatures, w.dTextFeatures, w.scaleTerms = a.f32(B*E), a.f32(B*E), a.f32(2)
	if key.nExtra > 0 {
		w.extra = a.f32(key.nExtra * r.w.vision.width)
	}
	w.hostLosses = make([]float32, 2*B)
	if err := a.done(); err != nil {
		return nil, err
	}
	labels := make([]int32, B)
	for i := range labels {
		labels[i] = int32(i)
	}
	r.b.UploadInt32(w.labels, labels)
	r.contrasts[key] = w
	return w, nil
}

// checkContrastive reports why a contrastive pass would reject a batch.
func (m *Model) checkContrastive(cb ContrastiveBatch) error {
	if err := m.CheckTokens(cb.Captions, 0); err != nil {
		return err
	}
	c := m.Config
	R := c.ImageResolution
	if len(cb.Images) != len(cb.Captions)*3*R*R {
		return fmt.Errorf("clip: %d image values for %d captions, want %d × 3 × %d × %d", len(cb.Images), len(cb.Captions), len(cb.Captions), R, R)
	}
	if len(cb.ExtraTokens)%c.VisionWidth != 0 {
		return fmt.Errorf("clip: %d extra token values, want a multiple of the vision width %d", len(cb.ExtraTokens), c.VisionWidth)
	}
	return nil
}

// contrastiveForward runs both towers and the loss, returning the loss.
func (r *Runner) contrastiveForward(w *contrastWork, cb ContrastiveBatch) (float32, error) {
	b, B, E := r.b, w.key.batch, r.model.Config.EmbedDim
	w.text.setTokens(b, cb.Captions)
	r.textForward(w.text, nil)
	if w.extra != nil {
		b.Upload(w.extra, cb.ExtraTokens)
	}
	r.visionForward(w.vision, cb.Images, w.extra)
	b.L2NormalizeForward(w.txt, w.txtNorm, w.text.head.features, B, E)
	b.L2NormalizeForward(w.img, w.imgNorm, w.vision.head.features, B, E)
	r.Logits(w.logits, w.img, w.txt, B, B)
	r.Logits(w.logitsT, w.txt, w.img, B, B)
	b.CrossEntropyForward(w.losses, w.probs, w.logits, w.labels, B, B)
	b.CrossEntropyForward(w.lossesT, w.probsT, w.logitsT, w.labels, B, B)
	if err := b.Download(w.hostLosses[:B], w.losses); err != nil {
		return 0, err
	}
	if err := b.Download(w.hostLosses[B:], w.lossesT); err != nil {
		return 0, err
	}
	var total float64
	for _, l := range w.hostLosses {
		total += float64(l)
	}
	return float32(total / float64(2*B)), nil
}

// contrastiveBackward adds the gradient of the loss with respect to every
// tower weight to grads, and writes the one with respect to logit_scale
// to dScale [1].
func (r *Runner) contrastiveBackward(w *contrastWork, grads *deviceWeights, dScale backend.Buffer) {
	b, B, E := r.b, w.key.batch, r.model.Config.EmbedDim
	// The loss is the mean of the two directions' mean cross-entropies.
	b.Zero(w.dLogits)
	b.CrossEntropyBackward(w.dLogits, w.probs, w.labels, B, B, 0.5)
	b.Zero(w.dLogitsT)
	b.CrossEntropyBackward(w.dLogitsT, w.probsT, w.labels, B, B, 0.5)
	// logits = exp(s)·cos, so dLoss/ds = Σ dLogits⊙logits: a dot product,
	// which is a matmul of one row.
	b.MatmulForward(b.View(w.scaleTerms, 0, 1), w.dLogits, w.logits, nil, 1, B*B, 1)
	b.MatmulForward(b.View(w.scaleTerms, 1, 1), w.dLogitsT, w.logitsT, nil, 1, B*B, 1)
	b.Add(dScale, b.View(w.scaleTerms, 0, 1), b.View(w.scaleTerms, 1, 1), 1)
	// dLoss/dcos = exp(s)·dLogits, in place.
	scale := r.model.LogitScale()
	b.Scale(w.dLogits, w.dLogits, scale, B*B)
	b.Scale(w.dLogitsT, w.dLogitsT, scale, B*B)
	b.Zero(w.dImg)
	b.Zero(w.dTxt)
	b.MatmulBackward(w.dImg, w.dTxt, nil, w.dLogits, w.img, w.txt, B, E, B)
	b.MatmulBackward(w.dTxt, w.dImg, nil, w.dLogitsT, w.txt, w.img, B, E, B)
	b.Zero(w.dTextFeatures)
	b.L2NormalizeBackward(w.dTextFeatures, w.dTxt, w.txt, w.txtNorm, B, E)
	b.Zero(w.dImageFeatures)
	b.L2NormalizeBackward(w.dImageFeatures, w.dImg, w.img, w.imgNorm, B, E)
	r.textBackward(w.text, w.dTextFeatures, nil, grads)
	r.visionBackward(w.vision, w.dImageFeatures, nil, grads)
}
