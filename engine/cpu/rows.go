package cpu

// The row operations move whole rows between buffers: they are the host
// loops of a model (embedding lookups, picking the end-of-text rows,
// cutting images into patches) written once, over explicit shapes, so that
// a device backend can do the same on its side of the seam. Rows are short
// and many, so each is one vector call (vec), in the calling goroutine.

// GatherRows copies row rows[i] of src to row i of dst, for i < len(rows);
// rows are dim wide.
func GatherRows(dst, src []float32, rows []int32, dim int) {
	for i, r := range rows {
		copy(dst[i*dim:(i+1)*dim], src[int(r)*dim:(int(r)+1)*dim])
	}
}

// ScatterAddRows adds row i of src to row rows[i] of dst, for i <
// len(rows), in order of i; repeated rows sum.
func ScatterAddRows(dst, src []float32, rows []int32, dim int) {
	for i, r := range rows {
		vec.axpy(dst[int(r)*dim:(int(r)+1)*dim], src[i*dim:(i+1)*dim], 1)
	}
}

// EmbedTokensForward writes out [seqs,T,dim]: row (s,t) is
// table[ids[s·T+t]] + pos[t], except that with ctx non-nil rows t =
// 1..nCtx take ctx[t−1] in place of the token embedding.
func EmbedTokensForward(out []float32, ids []int32, table, pos, ctx []float32, seqs, T, dim, nCtx int) {
	for s := range seqs {
		for t := range T {
			var emb []float32
			if ctx != nil && t >= 1 && t <= nCtx {
				emb = ctx[(t-1)*dim : t*dim]
			} else {
				id := int(ids[s*T+t])
				emb = table[id*dim : (id+1)*dim]
			}
			vec.add(out[(s*T+t)*dim:(s*T+t+1)*dim], emb, pos[t*dim:(t+1)*dim])
		}
	}
}

// EmbedTokensBackward adds Σ_s dout[s,1+j] to dctx[j] for j < nCtx.
func EmbedTokensBackward(dctx, dout []float32, seqs, T, dim, nCtx int) {
	for s := range seqs {
		vec.axpy(dctx[:nCtx*dim], dout[(s*T+1)*dim:(s*T+1+nCtx)*dim], 1)
	}
}

// Patchify writes the patches of images [batch,channels,size,size] as rows
// of channels·patch·patch values in (channel, row, column) order, one row
// per patch in row-major grid order.
func Patchify(out, images []float32, batch, channels, size, patch int) {
	grid := size / patch
	rowLen := channels * patch * patch
	plane := size * size
	for b := range batch {
		img := images[b*channels*plane : (b+1)*channels*plane]
		for gy := range grid {
			for gx := range grid {
				dst := out[((b*grid+gy)*grid+gx)*rowLen:]
				for ch := range channels {
					for ky := range patch {
						src := img[ch*plane+(gy*patch+ky)*size+gx*patch:]
						copy(dst[(ch*patch+ky)*patch:(ch*patch+ky+1)*patch], src[:patch])
					}
				}
			}
		}
	}
}

// EmbedPatchesForward writes the ViT input [batch,1+P+nExtra,dim]: class +
// pos[0], then patches[b] + pos[1..P], then the nExtra rows of extra.
func EmbedPatchesForward(out, patches, class, pos, extra []float32, batch, P, nExtra, dim int) {
	T := 1 + P + nExtra
	for b := range batch {
		seq := out[b*T*dim : (b+1)*T*dim]
		vec.add(seq[:dim], class[:dim], pos[:dim])
		vec.add(seq[dim:(1+P)*dim], patches[b*P*dim:(b+1)*P*dim], pos[dim:(1+P)*dim])
		copy(seq[(1+P)*dim:], extra[:nExtra*dim])
	}
}

// EmbedPatchesBackward adds Σ_b dout[b,1+P+j] to dextra[j] for j < nExtra.
func EmbedPatchesBackward(dextra, dout []float32, batch, P, nExtra, dim int) {
	T := 1 + P + nExtra
	for b := range batch {
		vec.axpy(dextra[:nExtra*dim], dout[(b*T+1+P)*dim:(b+1)*T*dim], 1)
	}
}
