package backendtest

func testPointwise(s *suite) {
	for _, n := range []int{11, 199 * 3072} {
		large := n > 1000
		if large && !s.viewed {
			continue
		}
		x, y := s.random(n, 2), s.random(n, 2)
		x64, y64 := to64(x), to64(y)
		xb, yb := s.buf(x), s.buf(y)

		out := s.zeros(n)
		s.b.QuickGELUForward(out, xb, n)
		s.close("QuickGELU forward", s.get(out), refQuickGELU(x64), tolForward)
		dout := s.random(n, 1)
		prior := s.random(n, 1)
		dx := s.buf(prior)
		s.b.QuickGELUBackward(dx, xb, s.buf(dout), n)
		s.gradient("QuickGELU backward", s.added(dx, prior), weighted(dout, refQuickGELU), x64, !large)

		sum := make([]float64, n)
		scaled := make([]float64, n)
		for i := range sum {
			sum[i] = x64[i] + y64[i]
			scaled[i] = -0.75 * x64[i]
		}
		s.b.Add(out, xb, yb, n)
		s.close("Add", s.get(out), sum, tolForward)
		s.b.Scale(out, xb, -0.75, n)
		s.close("Scale", s.get(out), scaled, tolForward)
		acc := s.buf(x)
		s.b.Accumulate(acc, yb, n)
		s.close("Accumulate", s.get(acc), sum, tolForward)

		// In place: out aliases an input.
		inPlace := s.buf(x)
		s.b.Add(inPlace, inPlace, yb, n)
		s.close("Add in place", s.get(inPlace), sum, tolForward)
		inPlace = s.buf(x)
		s.b.Scale(inPlace, inPlace, -0.75, n)
		s.close("Scale in place", s.get(inPlace), scaled, tolForward)
		inPlace = s.buf(x)
		s.b.QuickGELUForward(inPlace, inPlace, n)
		s.close("QuickGELU in place", s.get(inPlace), refQuickGELU(x64), tolForward)
	}
	// Only the first n elements are touched.
	x := []float32{1, 2, 3, 4}
	buf := s.buf(x)
	s.b.Scale(buf, buf, 10, 2)
	s.close("Scale of a prefix", s.get(buf), []float64{10, 20, 3, 4}, 0)
}
