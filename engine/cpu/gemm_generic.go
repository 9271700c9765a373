package cpu

// genericKernel is the portable micro-kernel: plain Go, a 4×2 register
// tile (eight accumulators and six operands fit the 15 SSE registers Go
// allocates on amd64; larger tiles spill). It is the fallback where no
// assembly kernel fits the CPU, and the kernel every assembly kernel is
// tested against.
var genericKernel = &microKernel{name: "go", mr: 4, nr: 2, kc: 256, ncMax: 512, tile: genericTile}

func genericTile(kc int, a []float32, ars, aps int, b []float32, c []float32, ldc int, init []float32, load bool) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	switch {
	case load:
		c00, c01 = c[0], c[1]
		c10, c11 = c[ldc], c[ldc+1]
		c20, c21 = c[2*ldc], c[2*ldc+1]
		c30, c31 = c[3*ldc], c[3*ldc+1]
	case init != nil:
		c00, c01 = init[0], init[1]
		c10, c11, c20, c21, c30, c31 = c00, c01, c00, c01, c00, c01
	}
	// Gather the A panel first so the loop below reads both operands
	// sequentially, with one bounds check per step.
	var panel [4 * 256]float32
	ap := panel[:kc*4]
	for p := range kc {
		o := p * aps
		ap[p*4], ap[p*4+1], ap[p*4+2], ap[p*4+3] = a[o], a[o+ars], a[o+2*ars], a[o+3*ars]
	}
	b = b[:kc*2]
	for p := range kc {
		bp := b[p*2 : p*2+2]
		b0, b1 := bp[0], bp[1]
		aq := ap[p*4 : p*4+4]
		a0, a1, a2, a3 := aq[0], aq[1], aq[2], aq[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
	}
	c[0], c[1] = c00, c01
	c[ldc], c[ldc+1] = c10, c11
	c[2*ldc], c[2*ldc+1] = c20, c21
	c[3*ldc], c[3*ldc+1] = c30, c31
}
