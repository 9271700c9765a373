package cpu

import "math"

// LayerNormEps is the epsilon of CLIP's (PyTorch's default) LayerNorm.
const LayerNormEps = 1e-5

// LayerNormForward normalises each row of inp [rows,dim] to zero mean and unit
// (biased) variance, then scales by weight and shifts by bias ([dim] each).
// mean and rstd ([rows], 1/sqrt(var+eps)) are saved for the backward pass.
func LayerNormForward(out, mean, rstd, inp, weight, bias []float32, rows, dim int) {
	weight = weight[:dim]
	bias = bias[:dim]
	mean, rstd = mean[:rows], rstd[:rows]
	parallelRows(rows, dim, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			x := inp[r*dim : r*dim+dim]
			m := vec.sum(x) / float32(dim)
			variance := vec.sumSqDev(x, m) / float32(dim)
			s := float32(1 / math.Sqrt(float64(variance)+LayerNormEps))
			vec.lnAffine(out[r*dim:r*dim+dim], x, weight, bias, m, s)
			mean[r], rstd[r] = m, s
		}
	})
}

// LayerNormBackward adds the input gradient of LayerNormForward to dinp, and
// the weight and bias gradients to dweight and dbias unless those are nil.
func LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd []float32, rows, dim int) {
	weight = weight[:dim]
	parallelRows(rows, dim, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			x := inp[r*dim : r*dim+dim]
			dy := dout[r*dim : r*dim+dim]
			m, s := mean[r], rstd[r]
			// dx = s·(g − mean(g) − n·mean(g·n)) with g = w·dy and n the
			// normalised input.
			sg, sgn := vec.lnGradSums(dy, x, weight, m, s)
			vec.lnGrad(dinp[r*dim:r*dim+dim], dy, x, weight, m, s, sg/float32(dim), sgn/float32(dim))
		}
	})
	if dweight == nil && dbias == nil {
		return
	}
	// The parameter gradients sum over rows: one pass, in row order.
	for r := range rows {
		x := inp[r*dim : r*dim+dim]
		dy := dout[r*dim : r*dim+dim]
		if dweight != nil {
			dw := dweight[:dim]
			m, s := mean[r], rstd[r]
			for i, v := range x {
				dw[i] += (v - m) * s * dy[i]
			}
		}
		if dbias != nil {
			vec.axpy(dbias[:dim], dy, 1)
		}
	}
}
