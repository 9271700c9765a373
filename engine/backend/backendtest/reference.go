package backendtest

import "math"

// The float64 references: the operations' definitions, written for clarity
// and evaluated in float64, so that a backend's float32 results can be held
// to them and their finite differences give the gradients.

func refMatmul(x, w, b []float64, rows, in, out int) []float64 {
	y := make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for k := range in {
				s += x[r*in+k] * w[o*in+k]
			}
			y[r*out+o] = s
		}
	}
	return y
}

// refMatmulGrads are the analytic gradients of Σ dout·(x·Wᵀ + b).
func refMatmulGrads(dout, x, w []float64, rows, in, out int) (dx, dw, db []float64) {
	dx, dw, db = make([]float64, rows*in), make([]float64, out*in), make([]float64, out)
	for r := range rows {
		for o := range out {
			g := dout[r*out+o]
			db[o] += g
			for k := range in {
				dx[r*in+k] += g * w[o*in+k]
				dw[o*in+k] += g * x[r*in+k]
			}
		}
	}
	return dx, dw, db
}

const layerNormEps = 1e-5

func refLayerNorm(x, w, b []float64, rows, dim int) (y, mean, rstd []float64) {
	y, mean, rstd = make([]float64, rows*dim), make([]float64, rows), make([]float64, rows)
	for r := range rows {
		row := x[r*dim : (r+1)*dim]
		m := 0.0
		for _, v := range row {
			m += v
		}
		m /= float64(dim)
		vr := 0.0
		for _, v := range row {
			vr += (v - m) * (v - m)
		}
		s := 1 / math.Sqrt(vr/float64(dim)+layerNormEps)
		for i, v := range row {
			y[r*dim+i] = (v-m)*s*w[i] + b[i]
		}
		mean[r], rstd[r] = m, s
	}
	return y, mean, rstd
}

func refAttention(qkv []float64, B, T, C, NH int, causal bool) []float64 {
	hs := C / NH
	scale := 1 / math.Sqrt(float64(hs))
	out := make([]float64, B*T*C)
	at := func(b, t, part, h, i int) float64 { return qkv[(b*T+t)*3*C+part*C+h*hs+i] }
	scores := make([]float64, T)
	for b := range B {
		for h := range NH {
			for t := range T {
				keys := T
				if causal {
					keys = t + 1
				}
				maxS := math.Inf(-1)
				for u := range keys {
					s := 0.0
					for i := range hs {
						s += at(b, t, 0, h, i) * at(b, u, 1, h, i)
					}
					scores[u] = s * scale
					maxS = math.Max(maxS, scores[u])
				}
				sum := 0.0
				for u := range keys {
					scores[u] = math.Exp(scores[u] - maxS)
					sum += scores[u]
				}
				for u := range keys {
					p := scores[u] / sum
					for i := range hs {
						out[(b*T+t)*C+h*hs+i] += p * at(b, u, 2, h, i)
					}
				}
			}
		}
	}
	return out
}

const quickGELUAlpha = 1.702

func refQuickGELU(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v / (1 + math.Exp(-quickGELUAlpha*v))
	}
	return y
}

func refL2Normalize(x []float64, rows, dim int) (y, norm []float64) {
	y, norm = make([]float64, rows*dim), make([]float64, rows)
	for r := range rows {
		s := 0.0
		for _, v := range x[r*dim : (r+1)*dim] {
			s += v * v
		}
		norm[r] = math.Sqrt(s)
		for i := range dim {
			y[r*dim+i] = x[r*dim+i] / norm[r]
		}
	}
	return y, norm
}

// refCrossEntropy returns each row's −log softmax(z)[label] and the
// softmax probabilities.
func refCrossEntropy(z []float64, labels []int, batch, classes int) (losses, probs []float64) {
	losses, probs = make([]float64, batch), make([]float64, batch*classes)
	for b := range batch {
		row := z[b*classes : (b+1)*classes]
		maxZ := math.Inf(-1)
		for _, v := range row {
			maxZ = math.Max(maxZ, v)
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(v - maxZ)
		}
		logSum := maxZ + math.Log(sum)
		for i, v := range row {
			probs[b*classes+i] = math.Exp(v - logSum)
		}
		losses[b] = logSum - row[labels[b]]
	}
	return losses, probs
}

func refEmbedTokens(ids []int, table, pos, ctx []float64, seqs, T, dim, nCtx int) []float64 {
	out := make([]float64, seqs*T*dim)
	for s := range seqs {
		for t := range T {
			for i := range dim {
				e := table[ids[s*T+t]*dim+i]
				if ctx != nil && t >= 1 && t <= nCtx {
					e = ctx[(t-1)*dim+i]
				}
				out[(s*T+t)*dim+i] = e + pos[t*dim+i]
			}
		}
	}
	return out
}

func refPatchify(img []float64, batch, channels, size, patch int) []float64 {
	g := size / patch
	out := make([]float64, 0, len(img))
	for b := range batch {
		for gy := range g {
			for gx := range g {
				for ch := range channels {
					for ky := range patch {
						for kx := range patch {
							out = append(out, img[((b*channels+ch)*size+gy*patch+ky)*size+gx*patch+kx])
						}
					}
				}
			}
		}
	}
	return out
}

func refEmbedPatches(patches, class, pos, extra []float64, batch, P, nExtra, dim int) []float64 {
	T := 1 + P + nExtra
	out := make([]float64, batch*T*dim)
	for b := range batch {
		for t := range T {
			for i := range dim {
				var v float64
				switch {
				case t == 0:
					v = class[i] + pos[i]
				case t <= P:
					v = patches[(b*P+t-1)*dim+i] + pos[t*dim+i]
				default:
					v = extra[(t-1-P)*dim+i]
				}
				out[(b*T+t)*dim+i] = v
			}
		}
	}
	return out
}

// refSGD is backend.Backend.SGDStep in float32 with the documented
// roundings; it returns the parameters and velocity after the step.
func refSGD(param, grad, velocity []float32, lr, momentum, wd float32, first bool) (p, v []float32) {
	p = append([]float32(nil), param...)
	if velocity != nil {
		v = append([]float32(nil), velocity...)
	}
	for i := range p {
		decay := float32(wd * p[i]) // the conversions forbid fused multiply-adds
		g := grad[i] + decay
		if v != nil {
			if first {
				v[i] = g
			} else {
				carried := float32(momentum * v[i])
				v[i] = carried + g
			}
			g = v[i]
		}
		step := float32(lr * g)
		p[i] -= step
	}
	return p, v
}

// refAdamW is backend.Backend.AdamWStep in float64.
func refAdamW(param, grad, m, v []float32, lr, beta1, beta2, eps, wd float64, step int) (p, m1, v1 []float64) {
	p, m1, v1 = to64(param), to64(m), to64(v)
	c1 := 1 - math.Pow(beta1, float64(step))
	c2 := 1 - math.Pow(beta2, float64(step))
	for i, g32 := range grad {
		g := float64(g32)
		p[i] -= lr * wd * p[i]
		m1[i] = beta1*m1[i] + (1-beta1)*g
		v1[i] = beta2*v1[i] + (1-beta2)*g*g
		p[i] -= lr / c1 * m1[i] / (math.Sqrt(v1[i])/math.Sqrt(c2) + eps)
	}
	return p, m1, v1
}
