package cpu

import (
	"math"

	"github.com/fomo-grid/grid/engine/backend"
)

// SGDStep is one torch.optim.SGD step over len(param) values (see
// backend.Backend.SGDStep). Each product is converted to float32 before it
// is added: the conversions stop Go from fusing it into an FMA on platforms
// that have one, as torch's separate mul and add kernels round twice.
func SGDStep(param, grad, velocity []float32, lr, momentum, weightDecay float32, first bool) {
	grad = grad[:len(param)]
	if velocity != nil {
		velocity = velocity[:len(param)]
	}
	for i, v := range param {
		g := grad[i] + float32(weightDecay*v)
		if velocity != nil {
			if first {
				velocity[i] = g
			} else {
				velocity[i] = float32(momentum*velocity[i]) + g
			}
			g = velocity[i]
		}
		param[i] = v - float32(lr*g)
	}
}

// AdamWStep is step number step (from 1) of torch.optim.AdamW over
// len(param) values (see backend.Backend.AdamWStep); m and v are the
// moment estimates it updates.
func AdamWStep(param, grad, m, v []float32, lr, beta1, beta2, eps, weightDecay float32, step int) {
	stepSize, rootCorrection := backend.AdamWCorrections(lr, beta1, beta2, step)
	grad, m, v = grad[:len(param)], m[:len(param)], v[:len(param)]
	decay := 1 - lr*weightDecay
	for i, g := range grad {
		m[i] = beta1*m[i] + (1-beta1)*g
		v[i] = beta2*v[i] + (1-beta2)*g*g
		denom := float32(math.Sqrt(float64(v[i])))/rootCorrection + eps
		param[i] = param[i]*decay - stepSize*m[i]/denom
	}
}
