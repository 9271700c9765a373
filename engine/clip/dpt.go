package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/cpu"
)

// DPTInput is one batch of the DPT objective.
type DPTInput struct {
	// ClassTokens holds one tokenised prompt per class:
	// [SOT][NCtx slots][class words...][EOT][pad...].
	ClassTokens [][]int
	NCtx        int
	// Ctx is the context put in the slots, NCtx × TextWidth: the token
	// embeddings of the selected ids.
	Ctx []float32
	// ProjW ([VisionWidth,TextWidth], a PyTorch Linear weight) and ProjB
	// ([VisionWidth]) map Ctx to the visual prompts appended to the ViT.
	// ProjW nil means NoShared: plain CLIP vision.
	ProjW, ProjB []float32
	// Images are normalised, Batch × 3 × R × R (CHW).
	Images []float32
	Batch  int
	Labels []int // Batch class indices into ClassTokens
}

// DPTOutput is the loss of one batch and, when asked for, its gradients.
type DPTOutput struct {
	Loss   float32   // mean cross-entropy over the batch
	Logits []float32 // Batch × nClasses
	// DCtx is dLoss/dCtx through both the text slots and the visual
	// prompts. DProjW and DProjB are nil without ProjW. All three are nil
	// unless gradients were asked for.
	DCtx           []float32
	DProjW, DProjB []float32
}

// CheckDPTInput reports why DPTStep would reject in, or nil.
func (m *Model) CheckDPTInput(in DPTInput) error {
	c := m.Config
	if err := m.CheckTokens(in.ClassTokens, in.NCtx); err != nil {
		return err
	}
	if len(in.Ctx) != in.NCtx*c.TextWidth {
		return fmt.Errorf("clip: DPT context has %d values, want n_ctx %d × text width %d", len(in.Ctx), in.NCtx, c.TextWidth)
	}
	if in.ProjW != nil {
		if len(in.ProjW) != c.VisionWidth*c.TextWidth {
			return fmt.Errorf("clip: DPT projection weight has %d values, want %d × %d", len(in.ProjW), c.VisionWidth, c.TextWidth)
		}
		if len(in.ProjB) != c.VisionWidth {
			return fmt.Errorf("clip: DPT projection bias has %d values, want %d", len(in.ProjB), c.VisionWidth)
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

// DPTStep evaluates the DPT objective on one batch: visual prompts
// Ctx·ProjWᵀ + ProjB appended to the ViT, text features with Ctx in the
// slots, logits = exp(logit_scale)·normalize(img)·normalize(txt)ᵀ, loss =
// mean cross-entropy. With wantGrad it also returns the gradients with
// respect to Ctx, ProjW and ProjB. It panics on input CheckDPTInput rejects.
func (m *Model) DPTStep(in DPTInput, wantGrad bool) DPTOutput {
	if err := m.CheckDPTInput(in); err != nil {
		panic(err)
	}
	c := m.Config
	E, B, K := c.EmbedDim, in.Batch, len(in.ClassTokens)
	tw, vw := c.TextWidth, c.VisionWidth

	var prompts []float32
	if in.ProjW != nil {
		prompts = make([]float32, in.NCtx*vw)
		cpu.MatmulForward(prompts, in.Ctx, in.ProjW, in.ProjB, in.NCtx, tw, vw)
	}
	text := m.textForward(in.ClassTokens, in.Ctx, in.NCtx, wantGrad, false)
	vision := m.visionForward(in.Images, B, prompts, wantGrad && prompts != nil)

	txt, txtNorm := make([]float32, K*E), make([]float32, K)
	cpu.L2NormalizeForward(txt, txtNorm, text.Features, K, E)
	img, imgNorm := make([]float32, B*E), make([]float32, B)
	cpu.L2NormalizeForward(img, imgNorm, vision.Features, B, E)
	scale := m.LogitScale()
	cos := make([]float32, B*K)
	cpu.MatmulForward(cos, img, txt, nil, B, E, K)
	logits := make([]float32, B*K)
	for i, v := range cos {
		logits[i] = scale * v
	}
	probs, losses, labels := make([]float32, B*K), make([]float32, B), make([]int32, B)
	for i, y := range in.Labels {
		labels[i] = int32(y)
	}
	cpu.CrossEntropyForward(losses, probs, logits, labels, B, K)
	var total float64
	for _, l := range losses {
		total += float64(l)
	}
	out := DPTOutput{Loss: float32(total / float64(B)), Logits: logits}
	if !wantGrad {
		return out
	}

	dCos := make([]float32, B*K)
	cpu.CrossEntropyBackward(dCos, probs, labels, B, K, scale) // d/dcos = scale · d/dlogits
	dImg, dTxt := make([]float32, B*E), make([]float32, K*E)
	cpu.MatmulBackward(dImg, dTxt, nil, dCos, img, txt, B, E, K)
	dTextFeat := make([]float32, K*E)
	cpu.L2NormalizeBackward(dTextFeat, dTxt, txt, txtNorm, K, E)
	out.DCtx = m.TextBackward(text, dTextFeat)
	if prompts == nil {
		return out
	}
	dImageFeat := make([]float32, B*E)
	cpu.L2NormalizeBackward(dImageFeat, dImg, img, imgNorm, B, E)
	dPrompts := m.VisionBackward(vision, dImageFeat)
	out.DProjW, out.DProjB = make([]float32, vw*tw), make([]float32, vw)
	cpu.MatmulBackward(out.DCtx, out.DProjW, out.DProjB, dPrompts, in.Ctx, in.ProjW, in.NCtx, tw, vw)
	return out
}
