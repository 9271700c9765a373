package clip

import (
	"fmt"
	"math"
	"slices"

	"github.com/fomo-grid/grid/engine/backend"
)

// DPTInput is one batch of the DPT objective.
type DPTInput struct {
	// ClassTokens holds one tokenised prompt per class:
	// [SOT][NCtx slots][class words...][EOT][pad...].
	ClassTokens [][]int
	NCtx        int
	// CtxIDs are the NCtx selected token ids: their embeddings fill the
	// slots (the context).
	CtxIDs []int
	// ProjW ([VisionWidth,TextWidth], a PyTorch Linear weight) and ProjB
	// ([VisionWidth]), on the Runner's backend, map the context to the
	// visual prompts appended to the ViT. ProjW nil means NoShared: plain
	// CLIP vision, and no vision backward pass.
	ProjW, ProjB backend.Buffer
	// Images are normalised, Batch × 3 × R × R (CHW).
	Images []float32
	Batch  int
	Labels []int // Batch class indices into ClassTokens
}

// DPTOutput is the loss of one batch and, when asked for, its gradients.
// Logits and the gradient buffers belong to the step's workspace: they are
// valid until the next step of the same shape.
type DPTOutput struct {
	Loss   float32   // mean cross-entropy over the batch
	Logits []float32 // Batch × nClasses
	// DCtx ([NCtx,TextWidth]) is dLoss/dContext through both the text
	// slots and the visual prompts. DProjW and DProjB are nil without
	// ProjW. All three are nil unless gradients were asked for.
	DCtx           backend.Buffer
	DProjW, DProjB backend.Buffer
}

// CheckDPTInput reports why DPTStep would reject in, or nil.
func (m *Model) CheckDPTInput(in DPTInput) error {
	c := m.Config
	if err := m.CheckTokens(in.ClassTokens, in.NCtx); err != nil {
		return err
	}
	if len(in.CtxIDs) != in.NCtx {
		return fmt.Errorf("clip: DPT context has %d token ids, want n_ctx %d", len(in.CtxIDs), in.NCtx)
	}
	for i, id := range in.CtxIDs {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("clip: DPT context token %d at slot %d is outside the vocabulary of %d", id, i, c.VocabSize)
		}
	}
	if in.ProjW != nil {
		if in.ProjW.Len() != c.VisionWidth*c.TextWidth {
			return fmt.Errorf("clip: DPT projection weight has %d values, want %d × %d", in.ProjW.Len(), c.VisionWidth, c.TextWidth)
		}
		if in.ProjB == nil || in.ProjB.Len() != c.VisionWidth {
			return fmt.Errorf("clip: DPT projection bias must have %d values", c.VisionWidth)
		}
	} else if in.ProjB != nil {
		return fmt.Errorf("clip: DPT projection bias given without a weight")
	}
	R := c.ImageResolution
	if in.Batch <= 0 || len(in.Images) != in.Batch*3*R*R {
		return fmt.Errorf("clip: DPT batch of %d with %d image values, want batch × 3 × %d × %d", in.Batch, len(in.Images), R, R)
	}
	if len(in.Labels) != in.Batch {
		return fmt.Errorf("clip: DPT batch of %d with %d labels", in.Batch, len(in.Labels))
	}
	for i, y := range in.Labels {
		if y < 0 || y >= len(in.ClassTokens) {
			return fmt.Errorf("clip: DPT label %d of image %d is outside the %d classes", y, i, len(in.ClassTokens))
		}
	}
	return nil
}

// stepKey is the shape of a DPT step.
type stepKey struct {
	classes, length, batch, nCtx int
	shared, grad                 bool
}

// stepWork is the workspace of a DPT step: the two towers' workspaces and
// the head around them.
type stepWork struct {
	mem    arena
	key    stepKey
	text   *textWork
	vision *visionWork

	ctxIDs, labels         backend.Buffer // Int32 [nCtx], [batch]
	hostIDs, hostLabels    []int32
	ctx, prompts           backend.Buffer // [nCtx,TextWidth], [nCtx,VisionWidth]
	txt, txtNorm           backend.Buffer // normalised text features and norms
	img, imgNorm           backend.Buffer // normalised image features and norms
	logits, probs, losses  backend.Buffer
	hostLogits, hostLosses []float32

	// Backward only.
	dLogits, dImg, dTxt, dTextFeatures, dImageFeatures backend.Buffer
	dPrompts, dCtx, dProjW, dProjB                     backend.Buffer
}

func (r *Runner) stepWork(key stepKey) (*stepWork, error) {
	if w, ok := r.steps[key]; ok {
		return w, nil
	}
	c := r.model.Config
	K, B, E, tw, vw := key.classes, key.batch, c.EmbedDim, c.TextWidth, c.VisionWidth
	nExtra := 0
	if key.shared {
		nExtra = key.nCtx
	}
	text, err := r.textWork(textKey{classes: K, length: key.length, nCtx: key.nCtx, keep: key.grad})
	if err != nil {
		return nil, err
	}
	vision, err := r.visionWork(visionKey{batch: B, nExtra: nExtra, keep: key.grad && key.shared})
	if err != nil {
		return nil, err
	}
	w := &stepWork{mem: arena{b: r.b}, key: key, text: text, vision: vision}
	a := &w.mem
	w.ctxIDs, w.labels = a.i32(key.nCtx), a.i32(B)
	w.hostIDs, w.hostLabels = make([]int32, key.nCtx), make([]int32, B)
	w.ctx, w.prompts = a.f32(key.nCtx*tw), a.f32(nExtra*vw)
	w.txt, w.txtNorm, w.img, w.imgNorm = a.f32(K*E), a.f32(K), a.f32(B*E), a.f32(B)
	w.logits, w.probs, w.losses = a.f32(B*K), a.f32(B*K), a.f32(B)
	w.hostLogits, w.hostLosses = make([]float32, B*K), make([]float32, B)
	if key.grad {
		w.dLogits, w.dImg, w.dTxt = a.f32(B*K), a.f32(B*E), a.f32(K*E)
		w.dTextFeatures, w.dImageFeatures = a.f32(K*E), a.f32(B*E)
		w.dCtx, w.dPrompts = a.f32(key.nCtx*tw), a.f32(nExtra*vw)
		if key.shared {
			w.dProjW, w.dProjB = a.f32(vw*tw), a.f32(vw)
		}
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	r.steps[key] = w
	return w, nil
}

// DPTStep evaluates the DPT objective on one batch: visual prompts
// ctx·ProjWᵀ + ProjB appended to the ViT, text features with the context
// ctx = E[CtxIDs] in the slots, logits = exp(logit_scale)·
// normalize(img)·normalize(txt)ᵀ, loss = mean cross-entropy. With wantGrad
// it also computes the gradients with respect to the context, ProjW and
// ProjB.
//
// While the class tokens and CtxIDs stay those of the previous step of the
// same shape, the text forward pass of that step is reused (the towers are
// frozen, so it cannot have changed); its backward pass runs every step.
func (r *Runner) DPTStep(in DPTInput, wantGrad bool) (DPTOutput, error) {
	if err := r.model.CheckDPTInput(in); err != nil {
		return DPTOutput{}, err
	}
	key := stepKey{classes: len(in.ClassTokens), length: textLength(in.ClassTokens), batch: in.Batch, nCtx: in.NCtx,
		shared: in.ProjW != nil, grad: wantGrad}
	w, err := r.stepWork(key)
	if err != nil {
		return DPTOutput{}, err
	}
	w.hostIDs = backend.ToInt32(w.hostIDs, in.CtxIDs)
	r.b.UploadInt32(w.ctxIDs, w.hostIDs)
	r.b.GatherRows(w.ctx, r.w.tokenEmbedding, w.ctxIDs, in.NCtx, r.w.text.width)
	return r.dptStep(w, in, w.hostIDs)
}

// dptStep runs a step with the context in w.ctx. ids are the token ids it
// was gathered from, or nil when it holds other values (tests that perturb
// it), which also rules out reusing the text pass.
func (r *Runner) dptStep(w *stepWork, in DPTInput, ids []int32) (DPTOutput, error) {
	b, c := r.b, r.model.Config
	K, B, E := w.key.classes, w.key.batch, c.EmbedDim
	if w.key.shared {
		r.VisualPrompts(w.prompts, w.ctx, in.ProjW, in.ProjB, in.NCtx)
	}
	r.stepText(w, in.ClassTokens, ids)
	r.visionForward(w.vision, in.Images, w.prompts)
	b.L2NormalizeForward(w.txt, w.txtNorm, w.text.head.features, K, E)
	b.L2NormalizeForward(w.img, w.imgNorm, w.vision.head.features, B, E)
	r.Logits(w.logits, w.img, w.txt, B, K)
	w.hostLabels = backend.ToInt32(w.hostLabels, in.Labels)
	b.UploadInt32(w.labels, w.hostLabels)
	b.CrossEntropyForward(w.losses, w.probs, w.logits, w.labels, B, K)
	if err := b.Download(w.hostLosses, w.losses); err != nil {
		return DPTOutput{}, err
	}
	if err := b.Download(w.hostLogits, w.logits); err != nil {
		return DPTOutput{}, err
	}
	var total float64
	for _, l := range w.hostLosses {
		total += float64(l)
	}
	out := DPTOutput{Loss: float32(total / float64(B)), Logits: w.hostLogits}
	if w.key.grad {
		r.dptBackward(w, in)
		out.DCtx, out.DProjW, out.DProjB = w.dCtx, w.dProjW, w.dProjB
	}
	return out, nil
}

// stepText runs the text forward pass of a step unless the text workspace
// still holds the pass for these tokens and context ids.
func (r *Runner) stepText(w *stepWork, tokens [][]int, ids []int32) {
	t := w.text
	uploaded := t.setTokens(r.b, tokens)
	if r.reuseText && !uploaded && ids != nil && t.ctxKnown && slices.Equal(t.ctxIDs, ids) && r.model.Observe == nil {
		return
	}
	r.textForward(t, w.ctx)
	if ids != nil {
		t.ctxIDs = append(t.ctxIDs[:0], ids...)
		t.ctxKnown = true
	}
}

// dptBackward computes the step's gradients into w.dCtx, w.dProjW and
// w.dProjB. Without visual prompts the vision tower gets no backward pass
// (its forward kept nothing for one).
func (r *Runner) dptBackward(w *stepWork, in DPTInput) {
	b, c := r.b, r.model.Config
	K, B, E := w.key.classes, w.key.batch, c.EmbedDim
	tw, vw := c.TextWidth, c.VisionWidth
	b.Zero(w.dLogits)
	// d/dcos = scale·d/dlogits: the logit scale enters as the loss's scale.
	b.CrossEntropyBackward(w.dLogits, w.probs, w.labels, B, K, r.model.LogitScale())
	b.Zero(w.dTxt)
	var dImg backend.Buffer
	if w.key.shared {
		dImg = w.dImg
		b.Zero(dImg)
	}
	b.MatmulBackward(dImg, w.dTxt, nil, w.dLogits, w.img, w.txt, B, E, K)
	b.Zero(w.dTextFeatures)
	b.L2NormalizeBackward(w.dTextFeatures, w.dTxt, w.txt, w.txtNorm, K, E)
	b.Zero(w.dCtx)
	r.textBackward(w.text, w.dTextFeatures, w.dCtx, nil)
	if !w.key.shared {
		return
	}
	b.Zero(w.dImageFeatures)
	b.L2NormalizeBackward(w.dImageFeatures, w.dImg, w.img, w.imgNorm, B, E)
	b.Zero(w.dPrompts)
	r.visionBackward(w.vision, w.dImageFeatures, w.dPrompts, nil)
	b.Zero(w.dProjW)
	b.Zero(w.dProjB)
	b.MatmulBackward(w.dCtx, w.dProjW, w.dProjB, w.dPrompts, w.ctx, in.ProjW, in.NCtx, tw, vw)
}

// VisualPrompts writes dst [nCtx,VisionWidth] = ctx·projWᵀ + projB: the
// context [nCtx,TextWidth] mapped to the tokens appended to the ViT.
func (r *Runner) VisualPrompts(dst, ctx, projW, projB backend.Buffer, nCtx int) {
	c := r.model.Config
	r.b.MatmulForward(dst, ctx, projW, projB, nCtx, c.TextWidth, c.VisionWidth)
}

// Logits writes dst [batch,classes] = exp(logit_scale)·img·txtᵀ for
// normalised image features img [batch,EmbedDim] and text features txt
// [classes,EmbedDim].
func (r *Runner) Logits(dst, img, txt backend.Buffer, batch, classes int) {
	r.b.MatmulForward(dst, img, txt, nil, batch, r.model.Config.EmbedDim, classes)
	r.b.Scale(dst, dst, r.model.LogitScale(), batch*classes)
}

// ScoresGrad writes dst [nCtx,VocabSize] = dctx·Eᵀ: the straight-through
// gradient of the DPT scores, given dctx [nCtx,TextWidth], the gradient with
// respect to the context embeddings, and E the token embedding matrix.
func (r *Runner) ScoresGrad(dst, dctx backend.Buffer, nCtx int) {
	c := r.model.Config
	r.b.MatmulForward(dst, dctx, r.w.tokenEmbedding, nil, nCtx, c.TextWidth, c.VocabSize)
}

// SetLogitScale sets logit_scale, the natural log of the logit multiplier
// (CLIP starts training at ln(1/0.07)). Every pass reads it from the host.
func (m *Model) SetLogitScale(v float32) { m.logitScale[0] = v }

// LogitScale is the multiplier of the cosine similarities, exp(logit_scale)
// (100 for the pretrained models).
func (m *Model) LogitScale() float32 {
	return float32(math.Exp(float64(m.logitScale[0])))
}
