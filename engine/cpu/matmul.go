package cpu

// The matmul kernel computes C = A·Bᵀ with A [m,k] and B [n,k] both
// row-major, so every output element is a dot product of two contiguous rows.
// Other layouts are turned into this one by transposing an operand first.
//
// Blocking: the output is cut into tiles (tileRows × tileCols) that goroutines
// take one at a time; within a tile the depth is walked in depthBlock chunks
// so the 4 A rows and 2 B rows of the micro-kernel stay in L1 and the tile's
// B rows stay in L2 while all A rows of the tile pass over them.
//
// Every output element is summed in the same order (depth blocks in order, and
// within a block k ascending from a zero accumulator) whichever micro-kernel or
// tile computes it, so a row's result does not depend on how many other rows
// the call has. The CLIP text tower relies on that to truncate sequences.
const (
	tileRows   = 64
	tileCols   = 128
	depthBlock = 256
	// serialFlops is the work below which goroutines cost more than they save.
	serialFlops = 1 << 18
)

// gemmNT sets c[i,j] = Σ_p a[i,p]·b[j,p] for i<m, j<n, p<k, or adds that sum
// to c[i,j] when accumulate is set.
func gemmNT(c, a, b []float32, m, n, k int, accumulate bool) {
	if m <= 0 || n <= 0 {
		return
	}
	c = c[:m*n]
	if k <= 0 {
		if !accumulate {
			clear(c)
		}
		return
	}
	a = a[:m*k]
	b = b[:n*k]
	tilesN := (n + tileCols - 1) / tileCols
	tiles := ((m + tileRows - 1) / tileRows) * tilesN
	serial := m*n*k < serialFlops
	parallelFor(tiles, serial, func(t int) {
		i0 := (t / tilesN) * tileRows
		j0 := (t % tilesN) * tileCols
		i1 := min(i0+tileRows, m)
		j1 := min(j0+tileCols, n)
		for k0 := 0; k0 < k; k0 += depthBlock {
			k1 := min(k0+depthBlock, k)
			gemmTile(c, a, b, n, k, i0, i1, j0, j1, k0, k1, accumulate || k0 > 0)
		}
	})
}

// gemmTile handles rows [i0,i1) × columns [j0,j1) of c over depth [k0,k1).
func gemmTile(c, a, b []float32, n, k, i0, i1, j0, j1, k0, k1 int, add bool) {
	i := i0
	for ; i+4 <= i1; i += 4 {
		a0 := a[i*k+k0 : i*k+k1]
		a1 := a[(i+1)*k+k0 : (i+1)*k+k1]
		a2 := a[(i+2)*k+k0 : (i+2)*k+k1]
		a3 := a[(i+3)*k+k0 : (i+3)*k+k1]
		c0 := c[i*n : i*n+n]
		c1 := c[(i+1)*n : (i+1)*n+n]
		c2 := c[(i+2)*n : (i+2)*n+n]
		c3 := c[(i+3)*n : (i+3)*n+n]
		j := j0
		for ; j+2 <= j1; j += 2 {
			b0 := b[j*k+k0 : j*k+k1]
			b1 := b[(j+1)*k+k0 : (j+1)*k+k1]
			s00, s01, s10, s11, s20, s21, s30, s31 := dot4x2(a0, a1, a2, a3, b0, b1)
			if add {
				c0[j] += s00
				c0[j+1] += s01
				c1[j] += s10
				c1[j+1] += s11
				c2[j] += s20
				c2[j+1] += s21
				c3[j] += s30
				c3[j+1] += s31
			} else {
				c0[j], c0[j+1] = s00, s01
				c1[j], c1[j+1] = s10, s11
				c2[j], c2[j+1] = s20, s21
				c3[j], c3[j+1] = s30, s31
			}
		}
		if j < j1 {
			s0, s1, s2, s3 := dot4x1(a0, a1, a2, a3, b[j*k+k0:j*k+k1])
			if add {
				c0[j] += s0
				c1[j] += s1
				c2[j] += s2
				c3[j] += s3
			} else {
				c0[j], c1[j], c2[j], c3[j] = s0, s1, s2, s3
			}
		}
	}
	for ; i < i1; i++ {
		ar := a[i*k+k0 : i*k+k1]
		cr := c[i*n : i*n+n]
		for j := j0; j < j1; j++ {
			s := dot1x1(ar, b[j*k+k0:j*k+k1])
			if add {
				cr[j] += s
			} else {
				cr[j] = s
			}
		}
	}
}

// dot4x2 returns the 8 dot products of rows a0..a3 with rows b0, b1. Eight
// accumulators and six live inputs fit the 15 SSE registers Go allocates on
// amd64; larger register tiles spill and run slower.
func dot4x2(a0, a1, a2, a3, b0, b1 []float32) (s00, s01, s10, s11, s20, s21, s30, s31 float32) {
	n := len(a0)
	a1 = a1[:n]
	a2 = a2[:n]
	a3 = a3[:n]
	b0 = b0[:n]
	b1 = b1[:n]
	for p := 0; p < n; p++ {
		x0, x1, x2, x3 := a0[p], a1[p], a2[p], a3[p]
		y0, y1 := b0[p], b1[p]
		s00 += x0 * y0
		s01 += x0 * y1
		s10 += x1 * y0
		s11 += x1 * y1
		s20 += x2 * y0
		s21 += x2 * y1
		s30 += x3 * y0
		s31 += x3 * y1
	}
	return
}

func dot4x1(a0, a1, a2, a3, b0 []float32) (s0, s1, s2, s3 float32) {
	n := len(a0)
	a1 = a1[:n]
	a2 = a2[:n]
	a3 = a3[:n]
	b0 = b0[:n]
	for p := 0; p < n; p++ {
		y := b0[p]
		s0 += a0[p] * y
		s1 += a1[p] * y
		s2 += a2[p] * y
		s3 += a3[p] * y
	}
	return
}

func dot1x1(a0, b0 []float32) (s float32) {
	b0 = b0[:len(a0)]
	for p, x := range a0 {
		s += x * b0[p]
	}
	return
}

// Transpose writes dst [cols,rows] = srcᵀ for src [rows,cols]. It walks
// square blocks so both sides stay in cache.
func Transpose(dst, src []float32, rows, cols int) {
	const block = 32
	src = src[:rows*cols]
	dst = dst[:rows*cols]
	for r0 := 0; r0 < rows; r0 += block {
		r1 := min(r0+block, rows)
		for c0 := 0; c0 < cols; c0 += block {
			c1 := min(c0+block, cols)
			for r := r0; r < r1; r++ {
				row := src[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = row[c]
				}
			}
		}
	}
}

// MatmulForward computes out[rows,outDim] = inp[rows,inDim]·weightᵀ + bias,
// with weight [outDim,inDim] laid out like a PyTorch Linear weight. bias
// [outDim] may be nil.
func MatmulForward(out, inp, weight, bias []float32, rows, inDim, outDim int) {
	gemmNT(out, inp, weight, rows, outDim, inDim, false)
	if bias == nil {
		return
	}
	bias = bias[:outDim]
	for r := range rows {
		row := out[r*outDim : r*outDim+outDim]
		for o, b := range bias {
			row[o] += b
		}
	}
}

// smallRows is the row count below which the backward pass accumulates rank-1
// updates directly instead of transposing operands for the tiled kernel: with
// few rows the transposes would cost as much as the products.
const smallRows = 16

// MatmulBackward is the backward pass of MatmulForward. It adds
// dinp += dout·weight, dweight += doutᵀ·inp and dbias += Σ_rows dout; any of
// dinp, dweight, dbias may be nil to skip it (frozen weights, or an input that
// needs no gradient).
func MatmulBackward(dinp, dweight, dbias, dout, inp, weight []float32, rows, inDim, outDim int) {
	if rows <= 0 {
		return
	}
	dout = dout[:rows*outDim]
	if dinp != nil {
		if rows < smallRows {
			for r := range rows {
				dr := dinp[r*inDim : r*inDim+inDim]
				for o, g := range dout[r*outDim : r*outDim+outDim] {
					if g != 0 {
						axpy(dr, weight[o*inDim:o*inDim+inDim], g)
					}
				}
			}
		} else {
			weightT := getScratch(inDim * outDim)
			Transpose(*weightT, weight, outDim, inDim)
			gemmNT(dinp, dout, *weightT, rows, inDim, outDim, true)
			putScratch(weightT)
		}
	}
	if dweight != nil {
		if rows < smallRows {
			parallelFor(outDim, rows*inDim*outDim < serialFlops, func(o int) {
				dw := dweight[o*inDim : o*inDim+inDim]
				for r := range rows {
					if g := dout[r*outDim+o]; g != 0 {
						axpy(dw, inp[r*inDim:r*inDim+inDim], g)
					}
				}
			})
		} else {
			doutT := getScratch(rows * outDim)
			inpT := getScratch(rows * inDim)
			Transpose(*doutT, dout, rows, outDim)
			Transpose(*inpT, inp, rows, inDim)
			gemmNT(dweight, *doutT, *inpT, outDim, inDim, rows, true)
			putScratch(doutT)
			putScratch(inpT)
		}
	}
	if dbias != nil {
		dbias = dbias[:outDim]
		for r := range rows {
			for o, g := range dout[r*outDim : r*outDim+outDim] {
				dbias[o] += g
			}
		}
	}
}

// axpy adds alpha·x to y.
func axpy(y, x []float32, alpha float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * x[i]
	}
}
