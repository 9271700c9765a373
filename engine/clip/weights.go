package clip

import "github.com/fomo-grid/grid/engine/backend"

// deviceBlock is one residual block's weights on a backend.
type deviceBlock struct {
	ln1W, ln1B       backend.Buffer
	inProjW, inProjB backend.Buffer
	outW, outB       backend.Buffer
	ln2W, ln2B       backend.Buffer
	fcW, fcB         backend.Buffer
	projW, projB     backend.Buffer
}

// deviceTower is a transformer's weights on a backend.
type deviceTower struct {
	width, heads int
	blocks       []deviceBlock
}

// deviceWeights is a model's weights on a backend. The two projections are
// stored transposed ([embed,width]), so that x@P is the backend's x·Wᵀ.
type deviceWeights struct {
	mem arena

	tokenEmbedding, positionalEmbedding backend.Buffer
	text                                deviceTower
	textHead                            headWeights // ln_final, text_projection

	conv1, classEmbedding, visionPos backend.Buffer
	lnPreW, lnPreB                   backend.Buffer
	vision                           deviceTower
	visionHead                       headWeights // ln_post, visual.proj
}

// uploadWeights puts m's weights on b: in place where b's buffers are host
// memory (backend.Resident), else as device copies.
func uploadWeights(m *Model, b backend.Backend) (*deviceWeights, error) {
	w := newDeviceWeights(m)
	w.mem = arena{b: b}
	var err error
	put := func(data []float32) backend.Buffer {
		if err != nil {
			return nil
		}
		var buf backend.Buffer
		buf, err = backend.Resident(b, data)
		if err == nil {
			if _, wrapped := b.(backend.HostWrapper); !wrapped {
				w.mem.bufs = append(w.mem.bufs, buf)
			}
		}
		return buf
	}
	ps := m.params()
	for i, f := range w.fields() {
		data := *ps[i].data
		if isProjection(ps[i].name) {
			data = transposed(data, ps[i].shape[0], ps[i].shape[1])
		}
		*f = put(data)
	}
	if err != nil {
		w.mem.free()
		return nil, err
	}
	return w, nil
}

// isProjection tells the two parameters a deviceWeights holds transposed.
func isProjection(name string) bool { return name == "text_projection" || name == "visual.proj" }

// newDeviceWeights is m's layout with no buffers yet.
func newDeviceWeights(m *Model) *deviceWeights {
	c := m.Config
	tower := func(t *transformer) deviceTower {
		return deviceTower{width: t.width, heads: t.heads, blocks: make([]deviceBlock, len(t.blocks))}
	}
	return &deviceWeights{
		text: tower(&m.text), textHead: headWeights{width: c.TextWidth, embed: c.EmbedDim},
		vision: tower(&m.vision), visionHead: headWeights{width: c.VisionWidth, embed: c.EmbedDim},
	}
}

// fields are the weight buffers in the order of Model.params, which names
// them (logit_scale, the last, stays on the host): the one list that ties
// a buffer to its parameter.
func (w *deviceWeights) fields() []*backend.Buffer {
	f := []*backend.Buffer{&w.tokenEmbedding, &w.positionalEmbedding}
	f = append(f, w.text.fields()...)
	f = append(f, &w.textHead.lnW, &w.textHead.lnB, &w.textHead.projT,
		&w.conv1, &w.classEmbedding, &w.visionPos, &w.lnPreW, &w.lnPreB)
	f = append(f, w.vision.fields()...)
	return append(f, &w.visionHead.lnW, &w.visionHead.lnB, &w.visionHead.projT)
}

func (t *deviceTower) fields() []*backend.Buffer {
	var f []*backend.Buffer
	for i := range t.blocks {
		b := &t.blocks[i]
		f = append(f, &b.ln1W, &b.ln1B, &b.inProjW, &b.inProjB, &b.outW, &b.outB,
			&b.ln2W, &b.ln2B, &b.fcW, &b.fcB, &b.projW, &b.projB)
	}
	return f
}

// zerosLike returns weights of w's layout with every buffer zero,
// allocated in a: gradients, or an optimiser's moments.
func zerosLike(m *Model, w *deviceWeights, a *arena) *deviceWeights {
	z := newDeviceWeights(m)
	src := w.fields()
	for i, f := range z.fields() {
		*f = a.f32((*src[i]).Len())
	}
	return z
}

// transposed returns the transpose [cols,rows] of a row-major [rows,cols]
// matrix: a layout change made once, when weights are loaded.
func transposed(src []float32, rows, cols int) []float32 {
	dst := make([]float32, rows*cols)
	for r := range rows {
		for c, v := range src[r*cols : (r+1)*cols] {
			dst[c*rows+r] = v
		}
	}
	return dst
}
