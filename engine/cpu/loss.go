package cpu

import (
	"fmt"
	"math"
)

// CrossEntropyForward applies a softmax to each row of logits [batch,classes]
// (saved in probs for the backward pass) and writes each row's −log p[label]
// to losses [batch]; the mean of losses is PyTorch's F.cross_entropy. The
// log-sum-exp is taken in float64, so logits of CLIP's size (cosines times
// 100) neither overflow nor lose the small terms. A label outside
// [0,classes) panics.
func CrossEntropyForward(losses, probs, logits []float32, labels []int32, batch, classes int) {
	for b := range batch {
		z := logits[b*classes : b*classes+classes]
		p := probs[b*classes : b*classes+classes]
		p = p[:len(z)]
		maxZ := math.Inf(-1)
		for _, v := range z {
			maxZ = max(maxZ, float64(v))
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(float64(v) - maxZ)
		}
		logSum := maxZ + math.Log(sum)
		for i, v := range z {
			p[i] = float32(math.Exp(float64(v) - logSum))
		}
		y := int(labels[b])
		if y < 0 || y >= classes {
			panic(fmt.Sprintf("cpu: cross-entropy label %d of batch row %d is outside [0,%d)", y, b, classes))
		}
		losses[b] = float32(logSum - float64(z[y]))
	}
}

// CrossEntropyBackward adds dloss·(probs − onehot(label))/batch to dlogits.
func CrossEntropyBackward(dlogits, probs []float32, labels []int32, batch, classes int, dloss float32) {
	scale := dloss / float32(batch)
	for b := range batch {
		p := probs[b*classes : b*classes+classes]
		d := dlogits[b*classes : b*classes+classes]
		d = d[:len(p)]
		for i, v := range p {
			d[i] += scale * v
		}
		d[labels[b]] -= scale
	}
}

// L2NormalizeForward divides each row of inp [rows,dim] by its Euclidean norm
// (saved in norm [rows]), as CLIP's x / x.norm(dim=-1) does: no epsilon, so
// an all-zero row gives NaN just as it does there.
func L2NormalizeForward(out, norm, inp []float32, rows, dim int) {
	for r := range rows {
		x := inp[r*dim : r*dim+dim]
		var sq float32
		for _, v := range x {
			sq += v * v
		}
		n := float32(math.Sqrt(float64(sq)))
		inv := 1 / n
		y := out[r*dim : r*dim+dim]
		y = y[:len(x)]
		for i, v := range x {
			y[i] = v * inv
		}
		norm[r] = n
	}
}

// L2NormalizeBackward adds to dinp the gradient of L2NormalizeForward given
// its output out and saved norm: dx = (dy − y·(y·dy)) / ‖x‖.
func L2NormalizeBackward(dinp, dout, out, norm []float32, rows, dim int) {
	for r := range rows {
		y := out[r*dim : r*dim+dim]
		dy := dout[r*dim : r*dim+dim]
		dy = dy[:len(y)]
		var yd float32
		for i, v := range y {
			yd += v * dy[i]
		}
		inv := 1 / norm[r]
		dx := dinp[r*dim : r*dim+dim]
		dx = dx[:len(y)]
		for i, v := range y {
			dx[i] += (dy[i] - v*yd) * inv
		}
	}
}
