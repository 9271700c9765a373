package backendtest

import "math"

func testL2Normalize(s *suite) {
	for _, sh := range []struct {
		rows, dim int
		large     bool
	}{{3, 6, false}, {10, 512, true}} {
		if sh.large && !s.viewed {
			continue
		}
		n := sh.rows * sh.dim
		x := s.random(n, 1.5)
		x64 := to64(x)
		out, norm := s.zeros(n), s.zeros(sh.rows)
		s.b.L2NormalizeForward(out, norm, s.buf(x), sh.rows, sh.dim)
		y, nr := refL2Normalize(x64, sh.rows, sh.dim)
		s.close("L2 forward", s.get(out), y, tolForward)
		s.close("L2 norm", s.get(norm), nr, tolForward)
		dout := s.random(n, 1)
		prior := s.random(n, 1)
		dx := s.buf(prior)
		s.b.L2NormalizeBackward(dx, s.buf(dout), out, norm, sh.rows, sh.dim)
		s.gradient("L2 backward", s.added(dx, prior), weighted(dout, func(v []float64) []float64 {
			y, _ := refL2Normalize(v, sh.rows, sh.dim)
			return y
		}), x64, !sh.large)
	}
}

func testCrossEntropy(s *suite) {
	for _, sh := range []struct {
		batch, classes int
		scale          float64
	}{{3, 5, 3}, {4, 10, 30}, {32, 100, 30}} {
		logits := s.random(sh.batch*sh.classes, sh.scale)
		labels := s.randomInts(sh.batch, sh.classes)
		z := to64(logits)
		lb := s.buf(logits)
		losses, probs := s.zeros(sh.batch), s.zeros(sh.batch*sh.classes)
		labelsb := s.ints(labels)
		s.b.CrossEntropyForward(losses, probs, lb, labelsb, sh.batch, sh.classes)
		wantLoss, wantProbs := refCrossEntropy(z, labels, sh.batch, sh.classes)
		s.close("cross-entropy losses", s.get(losses), wantLoss, tolForward)
		s.close("cross-entropy probabilities", s.get(probs), wantProbs, tolForward)

		const dloss = 2.5
		prior := s.random(len(logits), 1)
		dz := s.buf(prior)
		s.b.CrossEntropyBackward(dz, probs, labelsb, sh.batch, sh.classes, dloss)
		mean := func(v []float64) float64 {
			l, _ := refCrossEntropy(v, labels, sh.batch, sh.classes)
			sum := 0.0
			for _, x := range l {
				sum += x
			}
			return dloss * sum / float64(sh.batch)
		}
		s.gradient("cross-entropy backward", s.added(dz, prior), mean, z, len(z) <= 50)
	}
	// Logits of CLIP's size (cosines times 100) must not overflow.
	losses, probs := s.zeros(1), s.zeros(3)
	s.b.CrossEntropyForward(losses, probs, s.buf([]float32{1000, 900, 0}), s.ints([]int{1}), 1, 3)
	if got := s.get(losses)[0]; math.Abs(float64(got)-100) > 1e-3 {
		s.t.Errorf("loss of logits [1000 900 0] with label 1 = %v, want 100", got)
	}
}
