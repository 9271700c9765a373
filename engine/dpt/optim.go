package dpt

import (
	"fmt"
	"math"
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

// Param is one trained tensor, flattened, with the gradient of this step.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32 // nil when the parameter got no gradient this step
}

// SGD is torch.optim.SGD as Dassl builds it: weight decay added to the
// gradient, momentum without dampening, no Nesterov. Momentum buffers are kept
// per parameter name. The zero value is ready to use (no momentum, no decay).
type SGD struct {
	Momentum    float64
	WeightDecay float64
	buffers     map[string][]float32
}

// NewSGD returns an optimiser with no momentum buffers yet.
func NewSGD(momentum, weightDecay float64) *SGD {
	return &SGD{Momentum: momentum, WeightDecay: weightDecay, buffers: map[string][]float32{}}
}

// Step updates every parameter that has a gradient, as torch does in
// float32:
//
//	g ← grad + weightDecay·p
//	if momentum ≠ 0: buf ← g on the parameter's first step, else
//	                 buf ← momentum·buf + g; then g ← buf
//	p ← p − lr·g
//
// Parameters whose Grad is nil are skipped entirely (no decay, no buffer
// change), like parameters whose .grad is None. Grad is not modified.
func (o *SGD) Step(lr float64, params []Param) error {
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		if len(p.Grad) != len(p.Value) {
			return fmt.Errorf("dpt: sgd: %s has %d values but %d gradients", p.Name, len(p.Value), len(p.Grad))
		}
		if buf, ok := o.buffers[p.Name]; ok && len(buf) != len(p.Value) {
			return fmt.Errorf("dpt: sgd: %s has %d values but its momentum buffer has %d", p.Name, len(p.Value), len(buf))
		}
	}
	if o.buffers == nil {
		o.buffers = map[string][]float32{}
	}
	wd, mu, step := float32(o.WeightDecay), float32(o.Momentum), float32(lr)
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		var buf []float32
		first := false
		if mu != 0 {
			var ok bool
			if buf, ok = o.buffers[p.Name]; !ok {
				buf = make([]float32, len(p.Value))
				o.buffers[p.Name] = buf
				first = true
			}
		}
		// Each product is rounded to float32 before the sum, as torch's
		// separate mul/add kernels do; the conversions stop Go from fusing
		// them into an FMA on platforms that have one.
		for i, v := range p.Value {
			g := p.Grad[i] + float32(wd*v)
			if buf != nil {
				if first {
					buf[i] = g
				} else {
					buf[i] = float32(mu*buf[i]) + g
				}
				g = buf[i]
			}
			p.Value[i] = v - float32(step*g)
		}
	}
	return nil
}

// Buffer returns the momentum buffer of the named parameter (nil before its
// first step or without momentum). The slice is the optimiser's own.
func (o *SGD) Buffer(name string) []float32 { return o.buffers[name] }
