package cpu

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
// [outDim] may be nil. Each output row depends only on its own input row,
// bit for bit (see gemm.go).
func MatmulForward(out, inp, weight, bias []float32, rows, inDim, outDim int) {
	gemm(rows, outDim, inDim, rowMajor(inp, inDim), transposedOf(weight, inDim), out, outDim, false)
	if bias != nil {
		addRowVector(out[:rows*outDim], bias[:outDim])
	}
}

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
		gemm(rows, inDim, outDim, rowMajor(dout, outDim), rowMajor(weight, inDim), dinp, inDim, true)
	}
	if dweight != nil {
		gemm(outDim, inDim, rows, transposedOf(dout, outDim), rowMajor(inp, inDim), dweight, inDim, true)
	}
	if dbias != nil {
		dbias = dbias[:outDim]
		for r := range rows {
			addTo(dbias, dout[r*outDim:r*outDim+outDim])
		}
	}
}

// addRowVector adds v to every len(v)-long row of x.
func addRowVector(x, v []float32) {
	for r := 0; r+len(v) <= len(x); r += len(v) {
		addTo(x[r:r+len(v)], v)
	}
}

// addTo adds x to y elementwise.
func addTo(y, x []float32) { vec.axpy(y, x, 1) }
