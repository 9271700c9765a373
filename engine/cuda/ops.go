package cuda

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// Launch shapes, matching kernels/prelude.cuh and kernels/attention.cu.
const (
	elementwiseThreads = 256 // GRID_THREADS
	rowWarps           = 4   // GRID_ROW_WARPS
	attWarps           = 8   // ATT_WARPS
	attTile            = 32  // ATT_TILE
	attMaxHeadSize     = 128 // 32·ATT_MAX_DIMS_PER_LANE
)

// elementwise is the launch of a grid-stride kernel over n elements.
func (b *Backend) elementwise(n int) (grid, block dim3) {
	blocks := min((n+elementwiseThreads-1)/elementwiseThreads, b.maxBlocks)
	return dim3{uint32(max(blocks, 1)), 1, 1}, dim3{elementwiseThreads, 1, 1}
}

// rowLaunch is the launch of a kernel with one warp per row.
func rowLaunch(rows int) (grid, block dim3) {
	return dim3{uint32((rows + rowWarps - 1) / rowWarps), 1, 1}, dim3{32 * rowWarps, 1, 1}
}

// pointwise queues an elementwise kernel over n elements.
func (b *Backend) pointwise(name string, n int, args ...uint64) {
	if n <= 0 {
		return
	}
	grid, block := b.elementwise(n)
	b.kernel(name, grid, block, 0, append(args, argInt64(n))...)
}

func (b *Backend) QuickGELUForward(out, inp backend.Buffer, n int) {
	b.pointwise("quickgelu_forward", n, argPtr(b.ptr(out, "QuickGELUForward")), argPtr(b.ptr(inp, "QuickGELUForward")))
}

func (b *Backend) QuickGELUBackward(dinp, inp, dout backend.Buffer, n int) {
	const w = "QuickGELUBackward"
	b.pointwise("quickgelu_backward", n, argPtr(b.ptr(dinp, w)), argPtr(b.ptr(inp, w)), argPtr(b.ptr(dout, w)))
}

func (b *Backend) Add(out, x, y backend.Buffer, n int) {
	b.pointwise("add", n, argPtr(b.ptr(out, "Add")), argPtr(b.ptr(x, "Add")), argPtr(b.ptr(y, "Add")))
}

func (b *Backend) Accumulate(dst, src backend.Buffer, n int) {
	b.pointwise("accumulate", n, argPtr(b.ptr(dst, "Accumulate")), argPtr(b.ptr(src, "Accumulate")))
}

func (b *Backend) Scale(out, inp backend.Buffer, alpha float32, n int) {
	b.pointwise("scale", n, argPtr(b.ptr(out, "Scale")), argPtr(b.ptr(inp, "Scale")), argFloat(alpha))
}

func (b *Backend) LayerNormForward(out, mean, rstd, inp, weight, bias backend.Buffer, rows, dim int) {
	if rows == 0 {
		return
	}
	const w = "LayerNormForward"
	grid, block := rowLaunch(rows)
	b.kernel("layernorm_forward", grid, block, 0, argPtr(b.ptr(out, w)), argPtr(b.ptr(mean, w)), argPtr(b.ptr(rstd, w)),
		argPtr(b.ptr(inp, w)), argPtr(b.ptr(weight, w)), argPtr(b.ptr(bias, w)), argInt(rows), argInt(dim))
}

func (b *Backend) LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd backend.Buffer, rows, dim int) {
	if rows == 0 {
		return
	}
	const w = "LayerNormBackward"
	if dinp != nil {
		grid, block := rowLaunch(rows)
		b.kernel("layernorm_backward", grid, block, 0, argPtr(b.ptr(dinp, w)), argPtr(b.ptr(dout, w)),
			argPtr(b.ptr(inp, w)), argPtr(b.ptr(weight, w)), argInt(rows), argInt(dim))
	}
	if dweight != nil || dbias != nil {
		grid, block := b.elementwise(dim)
		b.kernel("layernorm_param_backward", grid, block, 0, argPtr(b.ptr(dweight, w)), argPtr(b.ptr(dbias, w)),
			argPtr(b.ptr(dout, w)), argPtr(b.ptr(inp, w)), argPtr(b.ptr(mean, w)), argPtr(b.ptr(rstd, w)), argInt(rows), argInt(dim))
	}
}

// AttentionSavedLen is the softmax probabilities [B,NH,T,T].
func (b *Backend) AttentionSavedLen(B, T, C, NH int) int { return B * NH * T * T }

// attentionShape checks the head size and returns the launch grid.
func attentionShape(what string, B, T, C, NH int) (hs int, grid dim3) {
	if NH <= 0 || C%NH != 0 || C/NH > attMaxHeadSize {
		panic(fmt.Sprintf("cuda: %s: width %d with %d heads (head size must divide it and be at most %d)", what, C, NH, attMaxHeadSize))
	}
	return C / NH, dim3{uint32((T + attWarps - 1) / attWarps), uint32(NH), uint32(B)}
}

// Dynamic shared memory of the attention kernels, in bytes.
func attentionSmemForward(hs, T int) int { return 4 * (attWarps*(hs+T) + attTile*(hs+1)) }
func attentionSmemQuery(hs, T int) int   { return 4 * (attWarps*(hs+2*T) + attTile*(hs+1)) }
func attentionSmemKeys(hs int) int       { return 4 * (2*attTile*(hs+1) + 2*attTile*attWarps) }

func (b *Backend) AttentionForward(out, saved, qkv backend.Buffer, B, T, C, NH int, causal bool) {
	if B == 0 || T == 0 {
		return
	}
	const w = "AttentionForward"
	hs, grid := attentionShape(w, B, T, C, NH)
	b.kernel("attention_forward", grid, dim3{32 * attWarps, 1, 1}, attentionSmemForward(hs, T),
		argPtr(b.ptr(out, w)), argPtr(b.ptr(saved, w)), argPtr(b.ptr(qkv, w)),
		argInt(B), argInt(T), argInt(C), argInt(NH), argBool(causal))
}

// AttentionBackward runs two kernels: per query row (dq, and the score
// gradients into scratch), then per key row (dk, dv).
func (b *Backend) AttentionBackward(dqkv, dout, qkv, saved backend.Buffer, B, T, C, NH int, causal bool) {
	if B == 0 || T == 0 {
		return
	}
	const w = "AttentionBackward"
	hs, grid := attentionShape(w, B, T, C, NH)
	if err := b.dev.enter(); err != nil {
		b.setErr(err)
		return
	}
	scores, err := b.scratchF32(B * NH * T * T)
	b.dev.exit()
	if err != nil {
		b.setErr(err)
		return
	}
	args := []uint64{argPtr(b.ptr(dqkv, w)), argPtr(scores), argPtr(b.ptr(dout, w)), argPtr(b.ptr(qkv, w)),
		argPtr(b.ptr(saved, w)), argInt(B), argInt(T), argInt(C), argInt(NH), argBool(causal)}
	block := dim3{32 * attWarps, 1, 1}
	b.kernel("attention_backward_query", grid, block, attentionSmemQuery(hs, T), args...)
	b.kernel("attention_backward_keys", grid, block, attentionSmemKeys(hs), args...)
}

func (b *Backend) L2NormalizeForward(out, norm, inp backend.Buffer, rows, dim int) {
	if rows == 0 {
		return
	}
	const w = "L2NormalizeForward"
	grid, block := rowLaunch(rows)
	b.kernel("l2norm_forward", grid, block, 0, argPtr(b.ptr(out, w)), argPtr(b.ptr(norm, w)), argPtr(b.ptr(inp, w)),
		argInt(rows), argInt(dim))
}

func (b *Backend) L2NormalizeBackward(dinp, dout, out, norm backend.Buffer, rows, dim int) {
	if rows == 0 {
		return
	}
	const w = "L2NormalizeBackward"
	grid, block := rowLaunch(rows)
	b.kernel("l2norm_backward", grid, block, 0, argPtr(b.ptr(dinp, w)), argPtr(b.ptr(dout, w)), argPtr(b.ptr(out, w)),
		argPtr(b.ptr(norm, w)), argInt(rows), argInt(dim))
}

func (b *Backend) CrossEntropyForward(losses, probs, logits, labels backend.Buffer, batch, classes int) {
	if batch == 0 {
		return
	}
	const w = "CrossEntropyForward"
	grid, block := rowLaunch(batch)
	b.kernel("cross_entropy_forward", grid, block, 0, argPtr(b.ptr(losses, w)), argPtr(b.ptr(probs, w)),
		argPtr(b.ptr(logits, w)), argPtr(b.ints(labels, w)), argInt(batch), argInt(classes))
}

func (b *Backend) CrossEntropyBackward(dlogits, probs, labels backend.Buffer, batch, classes int, dloss float32) {
	if batch == 0 || classes == 0 {
		return
	}
	const w = "CrossEntropyBackward"
	grid, block := b.elementwise(batch * classes)
	b.kernel("cross_entropy_backward", grid, block, 0, argPtr(b.ptr(dlogits, w)), argPtr(b.ptr(probs, w)),
		argPtr(b.ints(labels, w)), argInt(batch), argInt(classes), argFloat(dloss))
}

func (b *Backend) GatherRows(dst, src, rows backend.Buffer, n, dim int) {
	if n == 0 || dim == 0 {
		return
	}
	const w = "GatherRows"
	grid, block := b.elementwise(n * dim)
	b.kernel("gather_rows", grid, block, 0, argPtr(b.ptr(dst, w)), argPtr(b.ptr(src, w)), argPtr(b.ints(rows, w)),
		argInt(n), argInt(dim))
}

func (b *Backend) ScatterAddRows(dst, src, rows backend.Buffer, n, dim int) {
	if n == 0 || dim == 0 {
		return
	}
	const w = "ScatterAddRows"
	grid, block := b.elementwise(dim)
	b.kernel("scatter_add_rows", grid, block, 0, argPtr(b.ptr(dst, w)), argPtr(b.ptr(src, w)), argPtr(b.ints(rows, w)),
		argInt(n), argInt(dim))
}

func (b *Backend) EmbedTokensForward(out, ids, table, pos, ctx backend.Buffer, seqs, T, dim, nCtx int) {
	if seqs == 0 || T == 0 || dim == 0 {
		return
	}
	const w = "EmbedTokensForward"
	grid, block := b.elementwise(seqs * T * dim)
	b.kernel("embed_tokens_forward", grid, block, 0, argPtr(b.ptr(out, w)), argPtr(b.ints(ids, w)),
		argPtr(b.ptr(table, w)), argPtr(b.ptr(pos, w)), argPtr(b.ptr(ctx, w)),
		argInt(seqs), argInt(T), argInt(dim), argInt(nCtx))
}

func (b *Backend) EmbedTokensBackward(dctx, dout backend.Buffer, seqs, T, dim, nCtx int) {
	if nCtx == 0 || dim == 0 {
		return
	}
	const w = "EmbedTokensBackward"
	grid, block := b.elementwise(nCtx * dim)
	b.kernel("embed_tokens_backward", grid, block, 0, argPtr(b.ptr(dctx, w)), argPtr(b.ptr(dout, w)),
		argInt(seqs), argInt(T), argInt(dim), argInt(nCtx))
}

func (b *Backend) Patchify(out, images backend.Buffer, batch, channels, size, patch int) {
	g := size / patch
	n := batch * g * g * channels * patch * patch
	if n == 0 {
		return
	}
	const w = "Patchify"
	grid, block := b.elementwise(n)
	b.kernel("patchify", grid, block, 0, argPtr(b.ptr(out, w)), argPtr(b.ptr(images, w)),
		argInt(batch), argInt(channels), argInt(size), argInt(patch))
}

func (b *Backend) EmbedPatchesForward(out, patches, class, pos, extra backend.Buffer, batch, P, nExtra, dim int) {
	if batch == 0 || dim == 0 {
		return
	}
	const w = "EmbedPatchesForward"
	grid, block := b.elementwise(batch * (1 + P + nExtra) * dim)
	b.kernel("embed_patches_forward", grid, block, 0, argPtr(b.ptr(out, w)), argPtr(b.ptr(patches, w)),
		argPtr(b.ptr(class, w)), argPtr(b.ptr(pos, w)), argPtr(b.ptr(extra, w)),
		argInt(batch), argInt(P), argInt(nExtra), argInt(dim))
}

func (b *Backend) EmbedPatchesBackward(dextra, dout backend.Buffer, batch, P, nExtra, dim int) {
	if nExtra == 0 || dim == 0 {
		return
	}
	const w = "EmbedPatchesBackward"
	grid, block := b.elementwise(nExtra * dim)
	b.kernel("embed_patches_backward", grid, block, 0, argPtr(b.ptr(dextra, w)), argPtr(b.ptr(dout, w)),
		argInt(batch), argInt(P), argInt(nExtra), argInt(dim))
}

func (b *Backend) SGDStep(param, grad, velocity backend.Buffer, n int, lr, momentum, weightDecay float32, first bool) {
	const w = "SGDStep"
	b.pointwise("sgd_step", n, argPtr(b.ptr(param, w)), argPtr(b.ptr(grad, w)), argPtr(b.ptr(velocity, w)),
		argFloat(lr), argFloat(momentum), argFloat(weightDecay), argBool(first))
}

func (b *Backend) AdamWStep(param, grad, m, v backend.Buffer, n int, lr, beta1, beta2, eps, weightDecay float32, step int) {
	const w = "AdamWStep"
	stepSize, rootCorrection := backend.AdamWCorrections(lr, beta1, beta2, step)
	b.pointwise("adamw_step", n, argPtr(b.ptr(param, w)), argPtr(b.ptr(grad, w)), argPtr(b.ptr(m, w)), argPtr(b.ptr(v, w)),
		argFloat(lr), argFloat(beta1), argFloat(beta2), argFloat(eps), argFloat(weightDecay),
		argFloat(stepSize), argFloat(rootCorrection))
}
