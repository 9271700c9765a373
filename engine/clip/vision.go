package clip

import "github.com/fomo-grid/grid/engine/backend"

// visionKey is the shape of a vision pass: nExtra tokens appended after
// the patches (DPT's visual prompts; in training, stand-ins for them).
// keep: a backward pass follows; train: it forms the weights' gradients
// too.
type visionKey struct {
	batch, nExtra int
	keep, train   bool
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

	// Training only: Int32 row maps: the patch rows b·T+1+p of the stream
	// [B·T,w], their positions 1+p, and zeros (the one class embedding and
	// position of every class row); the gradients at the class and patch
	// rows. The extra rows have no position and no weight of their own.
	patchRows, patchPositions, zeroRows backend.Buffer
	dClass, dPatchEmb                   backend.Buffer
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
	keep := key.keep || key.train
	w.stack = newStackWork(a, &r.w.vision, B, T, false, key.keep, key.train)
	w.images, w.patches, w.patchEmb = a.f32(B*3*R*R), a.f32(B*P*patchLen), a.f32(B*P*vw)
	w.embedded, w.preMean, w.preRstd = a.f32(B*T*vw), a.f32(B*T), a.f32(B*T)
	w.head = newTowerHead(a, B, &r.w.visionHead, keep)
	w.stack.endAtHead(a, &r.w.vision, &w.head)
	if keep {
		w.dEmbedded = a.f32(B * T * vw)
	}
	if key.train {
		w.patchRows, w.patchPositions, w.zeroRows = a.i32(B*P), a.i32(B*P), a.i32(B)
		w.dClass, w.dPatchEmb = a.f32(B*vw), a.f32(B*P*vw)
	}
	if err := a.done(); err != nil {
		return nil, err
	}
	r.b.UploadInt32(w.head.rows, classRows(B, T))
	if key.train {
		r.b.UploadInt32(w.patchRows, patchRows(B, P, T))
		r.b.UploadInt32(w.patchPositions, patchRows(B, P, 0))
	}
	r.visions[key] = w
	return w, nil
}

// classRows are the class-token rows b·T of a stream of batch sequences.
func classRows(batch, T int) []int32 {
	rows := make([]int32, batch)
	for i := range rows {
		rows[i] = int32(i * T)
	}
	return rows
}

// patchRows are the patch rows b·T+1+p of a stream of batch sequences
// (with T = 0, each patch row's position 1+p).
func patchRows(batch, P, T int) []int32 {
	rows := make([]int32, 0, batch*P)
	for i := range batch {
		for p := range P {
			rows = append(rows, int32(i*T+1+p))
		}
	}
	return rows
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
	w.head.forward(b, &r.w.visionHead, w.stack)
}

// visionBackward takes dFeatures, the gradient with respect to
// w.head.features, back through the ViT. A DPT step's pass adds to dExtra
// [nExtra,VisionWidth] the gradient of the visual prompts, summed over the
// batch; the tower is frozen. A training pass (grads not nil, dExtra nil)
// adds the gradient of every vision weight to grads.
func (r *Runner) visionBackward(w *visionWork, dFeatures, dExtra backend.Buffer, grads *deviceWeights) {
	b, c := r.b, r.model.Config
	B, P, vw := w.key.batch, c.Grid()*c.Grid(), r.w.vision.width
	T := c.visionLength(w.key.nExtra)
	var gHead *headWeights
	var gTower *deviceTower
	var gPreW, gPreB backend.Buffer
	if grads != nil {
		gHead, gTower, gPreW, gPreB = &grads.visionHead, &grads.vision, grads.lnPreW, grads.lnPreB
	}
	w.head.backward(b, &r.w.visionHead, gHead, dFeatures, w.stack)
	dh := r.w.vision.backward(b, w.stack, gTower)
	// ln_pre's backward over every row costs little next to the tower; a
	// DPT step uses only the prompt rows of its result.
	b.Zero(w.dEmbedded)
	b.LayerNormBackward(w.dEmbedded, gPreW, gPreB, dh, w.embedded, r.w.lnPreW, w.preMean, w.preRstd, B*T, vw)
	if grads == nil {
		b.EmbedPatchesBackward(dExtra, w.dEmbedded, B, P, w.key.nExtra, vw)
		return
	}
	// Row (b,0) is class + pos[0]; row (b,1+p) is conv1·patch_p + pos[1+p].
	b.GatherRows(w.dClass, w.dEmbedded, w.head.rows, B, vw)
	b.ScatterAddRows(grads.classEmbedding, w.dClass, w.zeroRows, B, vw)
	b.ScatterAddRows(grads.visionPos, w.dClass, w.zeroRows, B, vw)
	b.GatherRows(w.dPatchEmb, w.dEmbedded, w.patchRows, B*P, vw)
	b.ScatterAddRows(grads.visionPos, w.dPatchEmb, w.patchPositions, B*P, vw)
	b.MatmulBackward(nil, grads.conv1, nil, w.dPatchEmb, w.patches, r.w.conv1, B*P, 3*c.PatchSize*c.PatchSize, vw)
}
