package backendtest

func testSGDStep(s *suite) {
	n := 2 * 49408
	param, grad := s.random(n, 0.02), s.random(n, 1e-3)
	velocity := s.random(n, 1e-3)
	for _, c := range []struct {
		name                string
		lr, momentum, wd    float32
		first, withVelocity bool
	}{
		{"first step with momentum", 0.002, 0.9, 5e-4, true, true},
		{"later step with momentum", 0.0035, 0.9, 5e-4, false, true},
		{"no momentum", 0.01, 0, 5e-4, false, false},
		{"no decay", 0.01, 0.9, 0, false, true},
	} {
		pb, gb := s.buf(param), s.buf(grad)
		var vb = s.buf(velocity)
		var v []float32
		if c.withVelocity {
			v = velocity
		} else {
			vb = nil
		}
		s.b.SGDStep(pb, gb, vb, n, c.lr, c.momentum, c.wd, c.first)
		wantP, wantV := refSGD(param, grad, v, c.lr, c.momentum, c.wd, c.first)
		// The update is specified to the rounding: exact.
		s.close(c.name+": parameters", s.get(pb), to64(wantP), 0)
		if c.withVelocity {
			s.close(c.name+": velocity", s.get(vb), to64(wantV), 0)
		}
		s.close(c.name+": gradient unchanged", s.get(gb), to64(grad), 0)
	}
}
