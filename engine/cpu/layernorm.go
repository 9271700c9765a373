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
	for r := range rows {
		x := inp[r*dim : r*dim+dim]
		var sum float32
		for _, v := range x {
			sum += v
		}
		m := sum / float32(dim)
		var sq float32
		for _, v := range x {
			d := v - m
			sq += d * d
		}
		s := float32(1 / math.Sqrt(float64(sq/float32(dim))+LayerNormEps))
		y := out[r*dim : r*dim+dim]
		y = y[:len(x)]
		for i, v := range x {
			y[i] = (v-m)*s*weight[i] + bias[i]
		}
		mean[r] = m
		rstd[r] = s
	}
}

// LayerNormBackward adds the input gradient of LayerNormForward to dinp, and
// the weight and bias gradients to dweight and dbias unless those are nil.
func LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd []float32, rows, dim int) {
	weight = weight[:dim]
	for r := range rows {
		x := inp[r*dim : r*dim+dim]
		dy := dout[r*dim : r*dim+dim]
		dy = dy[:len(x)]
		m, s := mean[r], rstd[r]
		// dx = s·(g - mean(g) - n·mean(g·n)) with g = w·dy and n the
		// normalised input.
		var meanG, meanGN float32
		for i, v := range x {
			n := (v - m) * s
			g := weight[i] * dy[i]
			meanG += g
			meanGN += g * n
		}
		meanG /= float32(dim)
		meanGN /= float32(dim)
		dx := dinp[r*dim : r*dim+dim]
		dx = dx[:len(x)]
		for i, v := range x {
			n := (v - m) * s
			dx[i] += s * (weight[i]*dy[i] - meanG - n*meanGN)
		}
		if dweight != nil {
			dw := dweight[:dim]
			for i, v := range x {
				dw[i] += (v - m) * s * dy[i]
			}
		}
		if dbias != nil {
			db := dbias[:dim]
			for i, g := range dy {
				db[i] += g
			}
		}
	}
}
