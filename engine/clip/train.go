package clip

import (
	"fmt"
	"math"

	"github.com/fomo-grid/grid/engine/backend"
)

// AdamW is the optimiser of a Training step: torch.optim.AdamW's settings
// (see backend.Backend.AdamWStep). Weight decay applies to the matrices
// (every weight of two or more dimensions), not to gains, biases, the
// class embedding or logit_scale, as OpenCLIP trains CLIP.
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
}

// MaxLogitScale is CLIP's bound on logit_scale, ln 100, applied after every
// step.
var MaxLogitScale = float32(math.Log(100))

// Training trains every weight of a model, and its logit_scale, with CLIP's
// contrastive objective on one backend. It updates the weights the model's
// Runners on that backend use, in place; Finish brings them back into the
// model on the host (on the CPU backend most of them are already there).
// A Training is for one goroutine, and no DPT step or evaluation of the
// model should run while it trains.
type Training struct {
	r       *Runner
	mem     arena
	weights []weightParam
	grads   *deviceWeights
	steps   int

	// logit_scale on the device, with its gradient and moments ([1] each);
	// the model's host copy is what the passes read.
	scale, dScale, scaleM, scaleV backend.Buffer
}

// weightParam is one trained weight with its gradient and AdamW moments.
type weightParam struct {
	name             string
	decay            bool
	value, grad      backend.Buffer
	moment1, moment2 backend.Buffer
}

// Train returns a Training of m on b: zero gradients and moments beside
// the weights m has (or now puts) on b.
func (m *Model) Train(b backend.Backend) (*Training, error) {
	r, err := m.On(b)
	if err != nil {
		return nil, err
	}
	t := &Training{r: r, mem: arena{b: b}}
	a := &t.mem
	t.grads = zerosLike(m, r.w, a)
	m1, m2 := zerosLike(m, r.w, a), zerosLike(m, r.w, a)
	ps, values, grads := m.params(), r.w.fields(), t.grads.fields()
	first, second := m1.fields(), m2.fields()
	for i := range values {
		t.weights = append(t.weights, weightParam{name: ps[i].name, decay: len(ps[i].shape) >= 2,
			value: *values[i], grad: *grads[i], moment1: *first[i], moment2: *second[i]})
	}
	t.scale, t.dScale, t.scaleM, t.scaleV = a.f32(1), a.f32(1), a.f32(1), a.f32(1)
	if err := a.done(); err != nil {
		return nil, fmt.Errorf("clip: training on the %s backend: %w", b.Name(), err)
	}
	b.Upload(t.scale, m.logitScale)
	return t, nil
}

// Step runs one contrastive step on a batch and one AdamW update of every
// weight. It returns the batch's loss, before the update.
func (t *Training) Step(cb ContrastiveBatch, opt AdamW) (float32, error) {
	loss, err := t.gradients(cb)
	if err != nil {
		return 0, err
	}
	return loss, t.update(opt)
}

// gradients zeroes the gradients and sets them to those of the batch's
// loss, which it returns.
func (t *Training) gradients(cb ContrastiveBatch) (float32, error) {
	r := t.r
	if err := r.model.checkContrastive(cb); err != nil {
		return 0, err
	}
	w, err := r.contrastWork(cb.key(r.model.Config))
	if err != nil {
		return 0, err
	}
	loss, err := r.contrastiveForward(w, cb)
	if err != nil {
		return 0, err
	}
	for _, p := range t.weights {
		r.b.Zero(p.grad)
	}
	r.b.Zero(t.dScale)
	r.contrastiveBackward(w, t.grads, t.dScale)
	return loss, nil
}

// update takes one AdamW step and brings the new logit_scale, clamped, to
// the host, where the next pass reads it.
func (t *Training) update(opt AdamW) error {
	b := t.r.b
	t.steps++
	for _, p := range t.weights {
		decay := float32(0)
		if p.decay {
			decay = opt.WeightDecay
		}
		b.AdamWStep(p.value, p.grad, p.moment1, p.moment2, p.value.Len(), opt.LR, opt.Beta1, opt.Beta2, opt.Eps, decay, t.steps)
	}
	b.AdamWStep(t.scale, t.dScale, t.scaleM, t.scaleV, 1, opt.LR, opt.Beta1, opt.Beta2, opt.Eps, 0, t.steps)
	host := t.r.model.logitScale
	if err := b.Download(host, t.scale); err != nil {
		return err
	}
	if host[0] > MaxLogitScale {
		host[0] = MaxLogitScale
		b.Upload(t.scale, host)
	}
	return nil
}

// Finish copies the trained weights into the model's host tensors (the
// projections back from the transposed layout the backend holds), so that
// Tensors and Save see them, and frees the gradients and moments.
func (t *Training) Finish() error {
	m, b := t.r.model, t.r.b
	ps := m.params()
	for i, p := range t.weights {
		host := *ps[i].data
		if !isProjection(p.name) {
			if err := b.Download(host, p.value); err != nil {
				return err
			}
			continue
		}
		projT := make([]float32, len(host))
		if err := b.Download(projT, p.value); err != nil {
			return err
		}
		copy(host, transposed(projT, ps[i].shape[1], ps[i].shape[0]))
	}
	t.r.Release()
	t.mem.free()
	return nil
}
