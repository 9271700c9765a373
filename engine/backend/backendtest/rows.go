package backendtest

func testGatherScatterRows(s *suite) {
	vocab, dim := 1000, 512
	table := s.random(vocab*dim, 1)
	rows := []int{999, 0, 17, 17, 500}
	dst := s.zeros(len(rows) * dim)
	tb, rb := s.buf(table), s.ints(rows)
	s.b.GatherRows(dst, tb, rb, len(rows), dim)
	want := make([]float64, 0, len(rows)*dim)
	for _, r := range rows {
		want = append(want, to64(table[r*dim:(r+1)*dim])...)
	}
	s.close("GatherRows", s.get(dst), want, 0)

	// The backward: repeated rows sum, other rows keep their values.
	src := s.random(len(rows)*dim, 1)
	prior := s.random(vocab*dim, 1)
	acc := s.buf(prior)
	s.b.ScatterAddRows(acc, s.buf(src), rb, len(rows), dim)
	wantAcc := to64(prior)
	for i, r := range rows {
		for k := range dim {
			wantAcc[r*dim+k] += float64(src[i*dim+k])
		}
	}
	s.close("ScatterAddRows", s.get(acc), wantAcc, tolForward)
}

func testEmbedTokens(s *suite) {
	vocab, seqs, T, dim, nCtx := 1000, 10, 13, 512, 2
	table, pos, ctx := s.random(vocab*dim, 0.02), s.random(77*dim, 0.01), s.random(nCtx*dim, 0.02)
	ids := s.randomInts(seqs*T, vocab)
	tb, pb, cb, ib := s.buf(table), s.buf(pos), s.buf(ctx), s.ints(ids)
	out := s.zeros(seqs * T * dim)
	s.b.EmbedTokensForward(out, ib, tb, pb, nil, seqs, T, dim, nCtx)
	s.close("EmbedTokens without context", s.get(out), refEmbedTokens(ids, to64(table), to64(pos), nil, seqs, T, dim, nCtx), tolForward)
	s.b.EmbedTokensForward(out, ib, tb, pb, cb, seqs, T, dim, nCtx)
	ctx64 := to64(ctx)
	ref := func(c []float64) []float64 { return refEmbedTokens(ids, to64(table), to64(pos), c, seqs, T, dim, nCtx) }
	s.close("EmbedTokens with context", s.get(out), ref(ctx64), tolForward)

	dout := s.random(seqs*T*dim, 1)
	prior := s.random(nCtx*dim, 1)
	dctx := s.buf(prior)
	s.b.EmbedTokensBackward(dctx, s.buf(dout), seqs, T, dim, nCtx)
	s.gradient("EmbedTokens backward", s.added(dctx, prior), weighted(dout, ref), ctx64, false)
	want := make([]float64, nCtx*dim)
	for q := range seqs {
		for j := range nCtx * dim {
			want[j] += float64(dout[(q*T+1)*dim+j])
		}
	}
	s.close("EmbedTokens backward", s.added(dctx, prior), want, tolForward)
}

func testPatchify(s *suite) {
	for _, sh := range []struct{ batch, channels, size, patch int }{{2, 3, 32, 8}, {2, 3, 224, 16}, {1, 1, 6, 3}} {
		n := sh.batch * sh.channels * sh.size * sh.size
		img := s.random(n, 1)
		out := s.zeros(n)
		s.b.Patchify(out, s.buf(img), sh.batch, sh.channels, sh.size, sh.patch)
		s.close(label("Patchify %v", sh), s.get(out), refPatchify(to64(img), sh.batch, sh.channels, sh.size, sh.patch), 0)
	}
}

func testEmbedPatches(s *suite) {
	for _, sh := range []struct{ batch, P, nExtra, dim int }{{2, 196, 2, 768}, {3, 16, 0, 128}, {1, 4, 3, 8}} {
		T := 1 + sh.P + sh.nExtra
		patches, class, pos := s.random(sh.batch*sh.P*sh.dim, 1), s.random(sh.dim, 1), s.random((1+sh.P)*sh.dim, 1)
		extra := s.random(sh.nExtra*sh.dim, 1)
		var extraBuf = s.buf(extra)
		out := s.zeros(sh.batch * T * sh.dim)
		s.b.EmbedPatchesForward(out, s.buf(patches), s.buf(class), s.buf(pos), extraBuf, sh.batch, sh.P, sh.nExtra, sh.dim)
		ref := func(e []float64) []float64 {
			return refEmbedPatches(to64(patches), to64(class), to64(pos), e, sh.batch, sh.P, sh.nExtra, sh.dim)
		}
		s.close(label("EmbedPatches %v", sh), s.get(out), ref(to64(extra)), tolForward)
		if sh.nExtra == 0 {
			s.b.EmbedPatchesForward(out, s.buf(patches), s.buf(class), s.buf(pos), nil, sh.batch, sh.P, 0, sh.dim)
			s.close("EmbedPatches without prompts (nil)", s.get(out), ref(nil), tolForward)
			continue
		}
		dout := s.random(sh.batch*T*sh.dim, 1)
		prior := s.random(sh.nExtra*sh.dim, 1)
		dextra := s.buf(prior)
		s.b.EmbedPatchesBackward(dextra, s.buf(dout), sh.batch, sh.P, sh.nExtra, sh.dim)
		s.gradient(label("EmbedPatches backward %v", sh), s.added(dextra, prior), weighted(dout, ref), to64(extra), sh.dim < 100)
	}
}
