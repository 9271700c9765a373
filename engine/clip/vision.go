package clip

import "github.com/fomo-grid/grid/engine/backend"

// visionKey is the shape of a vision pass.
type visionKey struct {
	batch, nExtra int
	keep          bool
}

// visionWork is the workspace of a vision pass: the images and their
// patches, the ViT input before ln_pre, the tower's workspace, and the head
// at the class tokens.
type visionWork struct {
	mem   arena
	key   visionKey
	stack *stackWork
	head  towerHead // its rows are b·T

	images, patches, patchEmb backend.Buffer
	embedded                  backend.Buffer // [B·T,w], ln_pre's input
	preMean, preRstd          backend.Buffer
	dEmbedded                 backend.Buffer // backward only
}

// visionLength is the ViT sequence length: class token, patches, prompts.
func (c Config) visionLength(nExtra int) int { return 1 + c.Grid()*c.Grid() + nExtra }

func (r *Runner) visionWork(key visionKey) (*visionWork, error) {
	if w, ok := r.visions[key]; ok {
		return w, nil
	}
	c, vw := r.model.Config, r.w.vision.width
	B, P, T := key.batch, c.Grid()*c.Grid(), c.visionLength(key.nExtra)
	R, patchLen := c.ImageResolution, 3*c.PatchSize*c.PatchSize
	w := &visionWork{mem: arena{b: r.b}, key: key}
	a := &w.mem
	w.stack = newStackWork(a, &r.w.vision, B, T, false, key.keep)
	w.images, w.patches, w.patchEmb = a.f32(B*3*R*R), a.f32(B*P*patchLen), a.f32(B*P*vw)
	w.embedded, w.preMean, w.preRstd = a.f32(B*T*vw), a.f32(B*T), a.f32(B*T)
	w.head = newTowerHead(a, B, &r.w.visionHead, key.keep)
	if key.keep {
		w.dEmbedded = a.f32(B * T * vw)
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	rows := make([]int32, B)
	for i := range rows {
		rows[i] = int32(i * T)
	}
	r.b.UploadInt32(w.head.rows, rows)
	r.visions[key] = w
	return w, nil
}

// visionForward encodes images (batch × 3 × R × R, CHW, normalised) with
// the visual prompts extra [nExtra,VisionWidth] appended after the patch
// tokens (nil for plain CLIP), leaving the projected class-token features in
// w.head.features.
func (r *Runner) visionForward(w *visionWork, images []float32, extra backend.Buffer) {
	b, c := r.b, r.model.Config
	B, P, vw := w.key.batch, c.Grid()*c.Grid(), r.w.vision.width
	T := c.visionLength(w.key.nExtra)
	patchLen := 3 * c.PatchSize * c.PatchSize
	b.Upload(w.images, images)
	b.Patchify(w.patches, w.images, B, 3, c.ImageResolution, c.PatchSize)
	b.MatmulForward(w.patchEmb, w.patches, r.w.conv1, nil, B*P, patchLen, vw)
	b.EmbedPatchesForward(w.embedded, w.patchEmb, r.w.classEmbedding, r.w.visionPos, extra, B, P, w.key.nExtra, vw)
	b.LayerNormForward(w.stack.input(), w.preMean, w.preRstd, w.embedded, r.w.lnPreW, r.w.lnPreB, B*T, vw)
	r.w.vision.forward(b, w.stack, r.model.streamObserver(VisionTower, b, B, T, vw))
	w.head.forward(b, &r.w.visionHead, w.stack.output())
}

// visionBackward adds to dExtra [nExtra,VisionWidth] the gradient of the
// visual prompts, summed over the batch, given dFeatures, the gradient with
// respect to w.head.features. The tower is frozen.
func (r *Runner) visionBackward(w *visionWork, dFeatures, dExtra backend.Buffer) {
	b, c := r.b, r.model.Config
	B, P, vw := w.key.batch, c.Grid()*c.Grid(), r.w.vision.width
	T := c.visionLength(w.key.nExtra)
	w.head.backward(b, &r.w.visionHead, dFeatures, w.stack.dOut)
	dh := r.w.vision.backward(b, w.stack)
	// ln_pre's backward over every row costs little next to the tower; only
	// the prompt rows of its result are used.
	b.Zero(w.dEmbedded)
	b.LayerNormBackward(w.dEmbedded, nil, nil, dh, w.embedded, r.w.lnPreW, w.preMean, w.preRstd, B*T, vw)
	b.EmbedPatchesBackward(dExtra, w.dEmbedded, B, P, w.key.nExtra, vw)
}
