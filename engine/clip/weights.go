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
	w := &deviceWeights{mem: arena{b: b}}
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
	c := m.Config
	w.tokenEmbedding, w.positionalEmbedding = put(m.tokenEmbedding), put(m.positionalEmbedding)
	w.text = uploadTower(&m.text, put)
	w.textHead = headWeights{width: c.TextWidth, embed: c.EmbedDim, lnW: put(m.lnFinalW), lnB: put(m.lnFinalB),
		projT: put(transposed(m.textProjection, c.TextWidth, c.EmbedDim))}
	w.conv1, w.classEmbedding, w.visionPos = put(m.conv1), put(m.classEmbedding), put(m.visionPos)
	w.lnPreW, w.lnPreB = put(m.lnPreW), put(m.lnPreB)
	w.vision = uploadTower(&m.vision, put)
	w.visionHead = headWeights{width: c.VisionWidth, embed: c.EmbedDim, lnW: put(m.lnPostW), lnB: put(m.lnPostB),
		projT: put(transposed(m.visualProj, c.VisionWidth, c.EmbedDim))}
	if err != nil {
		w.mem.free()
		return nil, err
	}
	return w, nil
}

func uploadTower(t *transformer, put func([]float32) backend.Buffer) deviceTower {
	d := deviceTower{width: t.width, heads: t.heads, blocks: make([]deviceBlock, len(t.blocks))}
	for i := range t.blocks {
		b := &t.blocks[i]
		d.blocks[i] = deviceBlock{
			ln1W: put(b.ln1W), ln1B: put(b.ln1B),
			inProjW: put(b.inProjW), inProjB: put(b.inProjB),
			outW: put(b.outW), outB: put(b.outB),
			ln2W: put(b.ln2W), ln2B: put(b.ln2B),
			fcW: put(b.fcW), fcB: put(b.fcB),
			projW: put(b.projW), projB: put(b.projB),
		}
	}
	return d
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
