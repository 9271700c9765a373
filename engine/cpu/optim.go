package cpu

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
