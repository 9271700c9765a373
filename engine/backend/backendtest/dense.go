package backendtest

// A matmulShape is rows × in → out, named after where CLIP uses it.
type matmulShape struct {
	name           string
	rows, in, out  int
	large, forward bool // forward: skip the backward checks (too costly here)
}

var matmulShapes = []matmulShape{
	{"tiny", 3, 5, 7, false, false},
	{"tiled", 17, 9, 33, false, false},
	{"one row", 1, 4, 6, false, false},
	// Edges of blocked kernels: one element, rows and columns that are no
	// multiple of a register tile, depths just past a power of two, more
	// rows and columns than one cache block.
	{"one element", 1, 1, 1, false, false},
	{"depth 256", 4, 256, 2, false, false},
	{"depth 257", 5, 257, 3, false, false},
	{"odd blocks", 67, 300, 129, false, false},
	{"several blocks", 130, 520, 257, false, false},
	{"wide", 9, 64, 1000, false, false},
	{"ViT-B/16 in_proj", 199, 768, 2304, true, true},
	{"text c_proj", 130, 2048, 512, true, false},
	{"ViT-B/16 c_proj", 199, 3072, 768, true, true},
	{"visual projection", 4, 768, 512, true, false},
	{"logits", 4, 512, 10, true, false},
	{"visual prompts", 2, 512, 768, true, false},
	{"scores gradient", 2, 512, 49408, true, true},
}

func testMatmul(s *suite) {
	for _, sh := range matmulShapes {
		if sh.large && !s.viewed {
			continue // the large shapes run once, on views
		}
		x, w, bias := s.random(sh.rows*sh.in, 1), s.random(sh.out*sh.in, 0.05), s.random(sh.out, 0.5)
		xb, wb, bb := s.buf(x), s.buf(w), s.buf(bias)
		out := s.zeros(sh.rows * sh.out)
		s.b.MatmulForward(out, xb, wb, bb, sh.rows, sh.in, sh.out)
		x64, w64, b64 := to64(x), to64(w), to64(bias)
		s.close(sh.name+": forward", s.get(out), refMatmul(x64, w64, b64, sh.rows, sh.in, sh.out), tolForward)
		s.b.MatmulForward(out, xb, wb, nil, sh.rows, sh.in, sh.out)
		s.close(sh.name+": forward without bias", s.get(out), refMatmul(x64, w64, nil, sh.rows, sh.in, sh.out), tolForward)
		if sh.forward {
			continue
		}
		dout := s.random(sh.rows*sh.out, 1)
		dx, dw, db := refMatmulGrads(to64(dout), x64, w64, sh.rows, sh.in, sh.out)
		priorX, priorW, priorB := s.random(len(x), 1), s.random(len(w), 1), s.random(len(bias), 1)
		dxb, dwb, dbb := s.buf(priorX), s.buf(priorW), s.buf(priorB)
		doutb := s.buf(dout)
		s.b.MatmulBackward(dxb, dwb, dbb, doutb, xb, wb, sh.rows, sh.in, sh.out)
		s.close(sh.name+": dinp", s.added(dxb, priorX), dx, tolBackward)
		s.close(sh.name+": dweight", s.added(dwb, priorW), dw, tolBackward)
		s.close(sh.name+": dbias", s.added(dbb, priorB), db, tolBackward)
		// Each gradient alone, the others nil; without dweight the input
		// is not needed either.
		only := s.zeros(len(x))
		s.b.MatmulBackward(only, nil, nil, doutb, nil, wb, sh.rows, sh.in, sh.out)
		s.close(sh.name+": dinp alone", s.get(only), dx, tolBackward)
		only = s.zeros(len(w))
		s.b.MatmulBackward(nil, only, nil, doutb, xb, wb, sh.rows, sh.in, sh.out)
		s.close(sh.name+": dweight alone", s.get(only), dw, tolBackward)
		only = s.zeros(len(bias))
		s.b.MatmulBackward(nil, nil, only, doutb, xb, wb, sh.rows, sh.in, sh.out)
		s.close(sh.name+": dbias alone", s.get(only), db, tolBackward)
		if sh.rows*sh.in*sh.out <= 1000 {
			// The analytic references, held to finite differences.
			gx := s.added(dxb, priorX)
			s.gradient(sh.name+": dinp", gx, weighted(dout, func(v []float64) []float64 {
				return refMatmul(v, w64, b64, sh.rows, sh.in, sh.out)
			}), x64, true)
			gw := s.added(dwb, priorW)
			s.gradient(sh.name+": dweight", gw, weighted(dout, func(v []float64) []float64 {
				return refMatmul(x64, v, b64, sh.rows, sh.in, sh.out)
			}), w64, true)
		}
	}
}

// testMatmulRowIndependence checks that a row's result does not depend on
// the rows computed with it (the text tower stops at the end-of-text token).
func testMatmulRowIndependence(s *suite) {
	rows, in, out := 37, 512, 1536
	x, w, bias := s.random(rows*in, 1), s.random(out*in, 0.05), s.random(out, 0.5)
	wb, bb := s.buf(w), s.buf(bias)
	all := s.zeros(rows * out)
	s.b.MatmulForward(all, s.buf(x), wb, bb, rows, in, out)
	full := s.get(all)
	for _, r := range []int{0, 5, 36} {
		one := s.zeros(out)
		s.b.MatmulForward(one, s.buf(x[r*in:(r+1)*in]), wb, bb, 1, in, out)
		s.close(label("row %d alone", r), s.get(one), to64(full[r*out:(r+1)*out]), tolForward)
	}
}

type layerNormShape struct {
	name      string
	rows, dim int
	large     bool
}

func testLayerNorm(s *suite) {
	for _, sh := range []layerNormShape{{"tiny", 3, 7, false}, {"ViT-B/16 stream", 398, 768, true}, {"text final", 10, 512, true}} {
		if sh.large && !s.viewed {
			continue
		}
		n := sh.rows * sh.dim
		x := s.random(n, 2)
		for i := range x {
			x[i] += float32(i%sh.dim) * 0.01 // rows with a mean
		}
		w, bias := s.random(sh.dim, 1), s.random(sh.dim, 1)
		xb, wb, bb := s.buf(x), s.buf(w), s.buf(bias)
		out, mean, rstd := s.zeros(n), s.zeros(sh.rows), s.zeros(sh.rows)
		s.b.LayerNormForward(out, mean, rstd, xb, wb, bb, sh.rows, sh.dim)
		x64, w64, b64 := to64(x), to64(w), to64(bias)
		y, m, r := refLayerNorm(x64, w64, b64, sh.rows, sh.dim)
		s.close(sh.name+": forward", s.get(out), y, tolForward)
		s.close(sh.name+": mean", s.get(mean), m, tolForward)
		s.close(sh.name+": rstd", s.get(rstd), r, tolForward)

		dout := s.random(n, 1)
		doutb := s.buf(dout)
		priorX, priorW, priorB := s.random(n, 1), s.random(sh.dim, 1), s.random(sh.dim, 1)
		dxb, dwb, dbb := s.buf(priorX), s.buf(priorW), s.buf(priorB)
		s.b.LayerNormBackward(dxb, dwb, dbb, doutb, xb, wb, mean, rstd, sh.rows, sh.dim)
		full := !sh.large
		s.gradient(sh.name+": dinp", s.added(dxb, priorX), weighted(dout, func(v []float64) []float64 {
			y, _, _ := refLayerNorm(v, w64, b64, sh.rows, sh.dim)
			return y
		}), x64, full)
		gw := s.added(dwb, priorW)
		s.gradient(sh.name+": dweight", gw, weighted(dout, func(v []float64) []float64 {
			y, _, _ := refLayerNorm(x64, v, b64, sh.rows, sh.dim)
			return y
		}), w64, full)
		gb := s.added(dbb, priorB)
		s.gradient(sh.name+": dbias", gb, weighted(dout, func(v []float64) []float64 {
			y, _, _ := refLayerNorm(x64, w64, v, sh.rows, sh.dim)
			return y
		}), b64, full)
		// The input gradient alone (frozen weights).
		only := s.zeros(n)
		s.b.LayerNormBackward(only, nil, nil, doutb, xb, wb, mean, rstd, sh.rows, sh.dim)
		s.close(sh.name+": dinp alone", s.get(only), to64(s.added(dxb, priorX)), tolForward)
	}
}

type attentionShape struct {
	name          string
	B, T, C, NH   int
	causal, large bool
}

var attentionShapes = []attentionShape{
	{"tiny", 2, 5, 8, 2, false, false},
	{"tiny causal", 2, 5, 8, 2, true, false},
	{"text (causal, full context)", 2, 77, 512, 8, true, true},
	{"ViT-B/16 with 2 prompts", 1, 199, 768, 12, false, true},
}

func testAttention(s *suite) {
	for _, sh := range attentionShapes {
		if sh.large && !s.viewed {
			continue
		}
		n := sh.B * sh.T * 3 * sh.C
		qkv := s.random(n, 1)
		qkvb := s.buf(qkv)
		out := s.zeros(sh.B * sh.T * sh.C)
		saved := s.zeros(s.b.AttentionSavedLen(sh.B, sh.T, sh.C, sh.NH))
		s.b.AttentionForward(out, saved, qkvb, sh.B, sh.T, sh.C, sh.NH, sh.causal)
		ref := func(v []float64) []float64 { return refAttention(v, sh.B, sh.T, sh.C, sh.NH, sh.causal) }
		qkv64 := to64(qkv)
		s.close(sh.name+": forward", s.get(out), ref(qkv64), tolForward)

		dout := s.random(sh.B*sh.T*sh.C, 1)
		prior := s.random(n, 1)
		dqkv := s.buf(prior)
		s.b.AttentionBackward(dqkv, s.buf(dout), qkvb, saved, sh.B, sh.T, sh.C, sh.NH, sh.causal)
		s.gradient(sh.name+": dqkv", s.added(dqkv, prior), weighted(dout, ref), qkv64, !sh.large)
	}
}

// testAttentionCausalPrefix checks that causal attention over the first T'
// tokens gives the first T' rows of the pass over all T.
func testAttentionCausalPrefix(s *suite) {
	B, T, short, C, NH := 3, 20, 7, 128, 2
	qkv := s.random(B*T*3*C, 1)
	out := s.zeros(B * T * C)
	s.b.AttentionForward(out, s.zeros(s.b.AttentionSavedLen(B, T, C, NH)), s.buf(qkv), B, T, C, NH, true)
	full := s.get(out)
	prefix := make([]float32, 0, B*short*3*C)
	want := make([]float64, 0, B*short*C)
	for b := range B {
		prefix = append(prefix, qkv[b*T*3*C:(b*T+short)*3*C]...)
		want = append(want, to64(full[b*T*C:(b*T+short)*C])...)
	}
	cut := s.zeros(B * short * C)
	s.b.AttentionForward(cut, s.zeros(s.b.AttentionSavedLen(B, short, C, NH)), s.buf(prefix), B, short, C, NH, true)
	s.close("causal prefix", s.get(cut), want, tolForward)
}
