package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/cpu"
)

// VisionState is a vision forward pass kept for its backward pass.
type VisionState struct {
	// Features are the projected class-token features, batch × EmbedDim,
	// before L2 normalisation.
	Features []float32

	batch, length, nExtra int
	preIn                 []float32 // ln_pre input [batch·length, width]
	preMean, preRstd      []float32
	acts                  *stackActs
	postIn, postOut       []float32 // ln_post input and output at the class tokens
	postMean, postRstd    []float32
}

// patchify writes the image patches of images (batch × 3 × R × R, CHW) as
// rows of 3·p·p values in conv1's weight order (channel, row, column).
func (m *Model) patchify(images []float32, batch int) []float32 {
	c := m.Config
	R, p, g := c.ImageResolution, c.PatchSize, c.Grid()
	rowLen := 3 * p * p
	out := make([]float32, batch*g*g*rowLen)
	for b := range batch {
		img := images[b*3*R*R : (b+1)*3*R*R]
		for gy := range g {
			for gx := range g {
				dst := out[((b*g+gy)*g+gx)*rowLen:]
				for ch := range 3 {
					for ky := range p {
						src := img[ch*R*R+(gy*p+ky)*R+gx*p:]
						copy(dst[(ch*p+ky)*p:(ch*p+ky+1)*p], src[:p])
					}
				}
			}
		}
	}
	return out
}

// VisionForward encodes a batch of normalised images (batch × 3 × R × R,
// CHW) with extra prompt tokens (nExtra × VisionWidth, the same for every
// image, no positional embedding; nil for plain CLIP) appended after the
// patch tokens, keeping the activations for VisionBackward. It panics on
// inputs of the wrong size.
func (m *Model) VisionForward(images []float32, batch int, extra []float32) *VisionState {
	return m.visionForward(images, batch, extra, true)
}

// ImageFeatures returns the L2-normalised image features (batch ×
// EmbedDim), keeping no activations.
func (m *Model) ImageFeatures(images []float32, batch int, extra []float32) []float32 {
	s := m.visionForward(images, batch, extra, false)
	return normalized(s.Features, batch, m.Config.EmbedDim)
}

func (m *Model) visionForward(images []float32, batch int, extra []float32, keep bool) *VisionState {
	c := m.Config
	w, R := c.VisionWidth, c.ImageResolution
	if batch <= 0 || len(images) != batch*3*R*R {
		panic(fmt.Sprintf("clip: %d image values for a batch of %d, want batch × 3 × %d × %d", len(images), batch, R, R))
	}
	if len(extra)%w != 0 {
		panic(fmt.Sprintf("clip: %d visual prompt values are not a whole number of %d-wide tokens", len(extra), w))
	}
	P := c.Grid() * c.Grid()
	s := &VisionState{batch: batch, nExtra: len(extra) / w}
	T := 1 + P + s.nExtra
	s.length = T

	patchEmb := make([]float32, batch*P*w)
	cpu.MatmulForward(patchEmb, m.patchify(images, batch), m.conv1, nil, batch*P, 3*c.PatchSize*c.PatchSize, w)
	x := make([]float32, batch*T*w)
	for b := range batch {
		seq := x[b*T*w : (b+1)*T*w]
		cpu.Add(seq[:w], m.classEmbedding, m.visionPos[:w])
		cpu.Add(seq[w:(1+P)*w], patchEmb[b*P*w:(b+1)*P*w], m.visionPos[w:(1+P)*w])
		copy(seq[(1+P)*w:], extra)
	}
	N := batch * T
	s.preIn = x
	s.preMean, s.preRstd = make([]float32, N), make([]float32, N)
	h := make([]float32, N*w)
	cpu.LayerNormForward(h, s.preMean, s.preRstd, x, m.lnPreW, m.lnPreB, N, w)
	observe := m.streamObserver(VisionTower, batch, T, w)
	if keep {
		s.acts = m.vision.forward(h, batch, T, false, observe)
		h = s.acts.inputs[len(s.acts.inputs)-1]
	} else {
		m.vision.forwardInPlace(h, batch, T, false, observe)
	}
	s.postIn = make([]float32, batch*w)
	for b := range batch {
		copy(s.postIn[b*w:(b+1)*w], h[b*T*w:(b*T+1)*w])
	}
	s.postOut = make([]float32, batch*w)
	s.postMean, s.postRstd = make([]float32, batch), make([]float32, batch)
	cpu.LayerNormForward(s.postOut, s.postMean, s.postRstd, s.postIn, m.lnPostW, m.lnPostB, batch, w)
	s.Features = make([]float32, batch*c.EmbedDim)
	cpu.MatmulForward(s.Features, s.postOut, m.visualProjT, nil, batch, w, c.EmbedDim)
	return s
}

// VisionBackward returns the gradient with respect to the extra tokens
// (nExtra × VisionWidth, summed over the batch) given dFeatures, the
// gradient with respect to s.Features. The tower is frozen.
func (m *Model) VisionBackward(s *VisionState, dFeatures []float32) []float32 {
	if s.acts == nil {
		panic("clip: VisionBackward needs a state from VisionForward")
	}
	c := m.Config
	w, T, B := c.VisionWidth, s.length, s.batch
	dExtra := make([]float32, s.nExtra*w)
	if s.nExtra == 0 {
		return dExtra
	}
	dPostOut := make([]float32, B*w)
	cpu.MatmulBackward(dPostOut, nil, nil, dFeatures, s.postOut, m.visualProjT, B, w, c.EmbedDim)
	dPostIn := make([]float32, B*w)
	cpu.LayerNormBackward(dPostIn, nil, nil, dPostOut, s.postIn, m.lnPostW, s.postMean, s.postRstd, B, w)
	dh := make([]float32, B*T*w)
	for b := range B {
		copy(dh[b*T*w:(b*T+1)*w], dPostIn[b*w:(b+1)*w])
	}
	dh = m.vision.backward(s.acts, dh)
	// ln_pre is per row: only the extra tokens' rows need its backward.
	// Summing over the batch happens in place: the backward adds.
	first := T - s.nExtra
	for b := range B {
		rows := b*T + first
		cpu.LayerNormBackward(dExtra, nil, nil, dh[rows*w:(rows+s.nExtra)*w], s.preIn[rows*w:(rows+s.nExtra)*w],
			m.lnPreW, s.preMean[rows:rows+s.nExtra], s.preRstd[rows:rows+s.nExtra], s.nExtra, w)
	}
	return dExtra
}
