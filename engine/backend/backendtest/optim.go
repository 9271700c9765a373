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

func testAdamWStep(s *suite) {
	n := 3*4096 + 5
	// Magnitudes a 16-bit store still holds: a second moment of 1e-10
	// would be zero in fp16.
	param, grad := s.random(n, 0.02), s.random(n, 1e-2)
	m, v := s.random(n, 1e-2), s.random(n, 1e-2)
	for i := range v {
		v[i] *= v[i] // a second moment is never negative
	}
	zero := make([]float32, n)
	for _, c := range []struct {
		name                string
		lr, b1, b2, eps, wd float64
		step                int
		freshMoments        bool
	}{
		{"first step", 1e-2, 0.9, 0.98, 1e-6, 0.1, 1, true},
		{"later step", 3e-4, 0.9, 0.999, 1e-8, 0.01, 57, false},
		{"no decay", 1e-3, 0.8, 0.98, 1e-6, 0, 3, false},
	} {
		m0, v0 := m, v
		if c.freshMoments {
			m0, v0 = zero, zero
		}
		pb, gb, mb, vb := s.buf(param), s.buf(grad), s.buf(m0), s.buf(v0)
		// The reference starts from what the backend holds (a 16-bit store
		// rounds, and a tiny second moment becomes a subnormal) and takes
		// the hyperparameters it got: 1−beta2 of the float32 0.999 is 1e-3
		// only to 1e-5.
		heldP, heldG, heldM, heldV := s.get(pb), s.get(gb), s.get(mb), s.get(vb)
		lr, b1, b2, eps, wd := float32(c.lr), float32(c.b1), float32(c.b2), float32(c.eps), float32(c.wd)
		s.b.AdamWStep(pb, gb, mb, vb, n, lr, b1, b2, eps, wd, c.step)
		wantP, wantM, wantV := refAdamW(heldP, heldG, heldM, heldV, float64(lr), float64(b1), float64(b2), float64(eps), float64(wd), c.step)
		s.close(c.name+": parameters", s.get(pb), wantP, tolForward)
		s.close(c.name+": first moment", s.get(mb), wantM, tolForward)
		s.close(c.name+": second moment", s.get(vb), wantV, tolForward)
		s.close(c.name+": gradient unchanged", s.get(gb), to64(heldG), 0)
	}
}
