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
	if bias != nil {
		bias = bias[:outDim]
	}
	gemm(rows, outDim, inDim, rowMajor(inp, inDim), transposedOf(weight, inDim), bias, out, outDim, false)
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
		gemm(rows, inDim, outDim, rowMajor(dout, outDim), rowMajor(weight, inDim), nil, dinp, inDim, true)
	}
	if dweight != nil {
		gemm(outDim, inDim, rows, transposedOf(dout, outDim), rowMajor(inp, inDim), nil, dweight, inDim, true)
	}
	if dbias != nil {
		dbias = dbias[:outDim]
		for r := range rows {
			vec.axpy(dbias, dout[r*outDim:r*outDim+outDim], 1)
		}
	}
}
