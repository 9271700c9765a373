package dpt

import (
	"fmt"
	"math"

	"github.com/fomo-grid/grid/engine/backend"
)

// LR is the learning rate the reference uses during 0-based epoch epoch of
// a run of epochs epochs: Dassl's CosineAnnealingLR(T_max=epochs, eta_min=0)
// wrapped in ConstantWarmupScheduler (WARMUP_RECOUNT true) and stepped once at
// the end of every epoch. The first warmupEpochs epochs run at warmupLR; after
// them the cosine starts from its beginning, so
//
//	LR(e) = warmupLR                                     for e < warmupEpochs
//	LR(e) = base·(1 + cos(π·(e−warmupEpochs)/epochs))/2  otherwise
//
// With one warmup epoch the cosine is shifted by one epoch and never reaches
// 0: for 8 epochs, base 0.0035 and warmup 1e-5 the values are 1e-5, .0035,
// .0033668, .0029874, .0024197, .00175, .0010803, .00051256. For epochs < 1
// (which Dassl cannot run) LR returns base.
func LR(epoch, epochs int, base, warmupLR float64, warmupEpochs int) float64 {
	if epoch < warmupEpochs {
		return warmupLR
	}
	if epochs < 1 {
		return base
	}
	t := float64(epoch - warmupEpochs)
	return base * (1 + math.Cos(math.Pi*t/float64(epochs))) / 2
}

// Param is one trained tensor on the optimiser's backend, with the gradient
// of this step.
type Param struct {
	Name  string
	Value backend.Buffer
	Grad  backend.Buffer // nil when the parameter got no gradient this step
}

// SGD is torch.optim.SGD as Dassl builds it: weight decay added to the
// gradient, momentum without dampening, no Nesterov. The update runs on the
// backend holding the parameters (backend.Backend.SGDStep, which fixes the
// float32 rounding to torch's); momentum buffers are kept there, per
// parameter name, from each parameter's first step on.
type SGD struct {
	Momentum    float64
	WeightDecay float64
	b           backend.Backend
	buffers     map[string]backend.Buffer
}

// NewSGD returns an optimiser on b with no momentum buffers yet.
func NewSGD(b backend.Backend, momentum, weightDecay float64) *SGD {
	return &SGD{Momentum: momentum, WeightDecay: weightDecay, b: b, buffers: map[string]backend.Buffer{}}
}

// Step updates every parameter that has a gradient:
//
//	g ← grad + weightDecay·p
//	if momentum ≠ 0: buf ← g on the parameter's first step, else
//	                 buf ← momentum·buf + g; then g ← buf
//	p ← p − lr·g
//
// Parameters whose Grad is nil are skipped entirely (no decay, no buffer
// change), like parameters whose .grad is None. Grad is not modified. When
// a length is wrong nothing is updated.
func (o *SGD) Step(lr float64, params []Param) error {
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		if p.Grad.Len() != p.Value.Len() {
			return fmt.Errorf("dpt: sgd: %s has %d values but %d gradients", p.Name, p.Value.Len(), p.Grad.Len())
		}
		if buf, ok := o.buffers[p.Name]; ok && buf.Len() != p.Value.Len() {
			return fmt.Errorf("dpt: sgd: %s has %d values but its momentum buffer has %d", p.Name, p.Value.Len(), buf.Len())
		}
	}
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		var velocity backend.Buffer
		first := false
		if o.Momentum != 0 {
			var ok bool
			if velocity, ok = o.buffers[p.Name]; !ok {
				var err error
				if velocity, err = o.b.Alloc(backend.Float32, p.Value.Len()); err != nil {
					return fmt.Errorf("dpt: sgd: momentum buffer of %s: %w", p.Name, err)
				}
				o.buffers[p.Name] = velocity
				first = true
			}
		}
		o.b.SGDStep(p.Value, p.Grad, velocity, p.Value.Len(), float32(lr), float32(o.Momentum), float32(o.WeightDecay), first)
	}
	return nil
}

// Buffer returns the momentum buffer of the named parameter (nil before its
// first step or without momentum). The buffer is the optimiser's own.
func (o *SGD) Buffer(name string) backend.Buffer { return o.buffers[name] }

// Free releases the momentum buffers.
func (o *SGD) Free() {
	for name, buf := range o.buffers {
		o.b.Free(buf)
		delete(o.buffers, name)
	}
}
