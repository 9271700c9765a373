package cpu

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// The methods below check their buffers' types and lengths, naming the
// operation when one is wrong, and hand exact-length slices to the
// functions of this package.

func (*Backend) MatmulForward(out, inp, weight, bias backend.Buffer, rows, inDim, outDim int) {
	const op = "MatmulForward"
	var b []float32
	if bias != nil {
		b = floats(bias, op, outDim)
	}
	MatmulForward(floats(out, op, rows*outDim), floats(inp, op, rows*inDim), floats(weight, op, outDim*inDim), b, rows, inDim, outDim)
}

func (*Backend) MatmulBackward(dinp, dweight, dbias, dout, inp, weight backend.Buffer, rows, inDim, outDim int) {
	const op = "MatmulBackward"
	var x []float32
	if dweight != nil {
		x = floats(inp, op, rows*inDim)
	}
	MatmulBackward(floats(dinp, op, rows*inDim), floats(dweight, op, outDim*inDim), floats(dbias, op, outDim),
		floats(dout, op, rows*outDim), x, floats(weight, op, outDim*inDim), rows, inDim, outDim)
}

func (*Backend) LayerNormForward(out, mean, rstd, inp, weight, bias backend.Buffer, rows, dim int) {
	const op = "LayerNormForward"
	LayerNormForward(floats(out, op, rows*dim), floats(mean, op, rows), floats(rstd, op, rows), floats(inp, op, rows*dim),
		floats(weight, op, dim), floats(bias, op, dim), rows, dim)
}

func (*Backend) LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd backend.Buffer, rows, dim int) {
	const op = "LayerNormBackward"
	LayerNormBackward(floats(dinp, op, rows*dim), floats(dweight, op, dim), floats(dbias, op, dim), floats(dout, op, rows*dim),
		floats(inp, op, rows*dim), floats(weight, op, dim), floats(mean, op, rows), floats(rstd, op, rows), rows, dim)
}

// AttentionSavedLen is the softmax probabilities, B·NH·T·T.
func (*Backend) AttentionSavedLen(B, T, C, NH int) int { return B * NH * T * T }

func (c *Backend) AttentionForward(out, saved, qkv backend.Buffer, B, T, C, NH int, causal bool) {
	const op = "AttentionForward"
	checkHeads(op, C, NH)
	AttentionForward(floats(out, op, B*T*C), floats(saved, op, c.AttentionSavedLen(B, T, C, NH)), floats(qkv, op, B*T*3*C), B, T, C, NH, causal)
}

func (c *Backend) AttentionBackward(dqkv, dout, qkv, saved backend.Buffer, B, T, C, NH int, causal bool) {
	const op = "AttentionBackward"
	checkHeads(op, C, NH)
	AttentionBackward(floats(dqkv, op, B*T*3*C), floats(dout, op, B*T*C), floats(qkv, op, B*T*3*C),
		floats(saved, op, c.AttentionSavedLen(B, T, C, NH)), B, T, C, NH, causal)
}

func checkHeads(op string, C, NH int) {
	if NH <= 0 || C%NH != 0 {
		panic(fmt.Sprintf("cpu: %s: width %d is not a multiple of %d heads", op, C, NH))
	}
}

func (*Backend) QuickGELUForward(out, inp backend.Buffer, n int) {
	QuickGELUForward(floats(out, "QuickGELUForward", n), floats(inp, "QuickGELUForward", n))
}

func (*Backend) QuickGELUBackward(dinp, inp, dout backend.Buffer, n int) {
	const op = "QuickGELUBackward"
	QuickGELUBackward(floats(dinp, op, n), floats(inp, op, n), floats(dout, op, n))
}

func (*Backend) Add(out, a, b backend.Buffer, n int) {
	Add(floats(out, "Add", n), floats(a, "Add", n), floats(b, "Add", n))
}

func (*Backend) Accumulate(dst, src backend.Buffer, n int) {
	Accumulate(floats(dst, "Accumulate", n), floats(src, "Accumulate", n))
}

func (*Backend) Scale(out, inp backend.Buffer, alpha float32, n int) {
	Scale(floats(out, "Scale", n), floats(inp, "Scale", n), alpha)
}

func (*Backend) L2NormalizeForward(out, norm, inp backend.Buffer, rows, dim int) {
	const op = "L2NormalizeForward"
	L2NormalizeForward(floats(out, op, rows*dim), floats(norm, op, rows), floats(inp, op, rows*dim), rows, dim)
}

func (*Backend) L2NormalizeBackward(dinp, dout, out, norm backend.Buffer, rows, dim int) {
	const op = "L2NormalizeBackward"
	L2NormalizeBackward(floats(dinp, op, rows*dim), floats(dout, op, rows*dim), floats(out, op, rows*dim), floats(norm, op, rows), rows, dim)
}

func (*Backend) CrossEntropyForward(losses, probs, logits, labels backend.Buffer, batch, classes int) {
	const op = "CrossEntropyForward"
	CrossEntropyForward(floats(losses, op, batch), floats(probs, op, batch*classes), floats(logits, op, batch*classes),
		ints(labels, op, batch), batch, classes)
}

func (*Backend) CrossEntropyBackward(dlogits, probs, labels backend.Buffer, batch, classes int, dloss float32) {
	const op = "CrossEntropyBackward"
	CrossEntropyBackward(floats(dlogits, op, batch*classes), floats(probs, op, batch*classes), ints(labels, op, batch), batch, classes, dloss)
}

func (*Backend) GatherRows(dst, src, rows backend.Buffer, n, dim int) {
	const op = "GatherRows"
	idx := ints(rows, op, n)
	table := wholeFloats(src, op)
	checkRows(op, idx, len(table), dim)
	GatherRows(floats(dst, op, n*dim), table, idx, dim)
}

func (*Backend) ScatterAddRows(dst, src, rows backend.Buffer, n, dim int) {
	const op = "ScatterAddRows"
	idx := ints(rows, op, n)
	table := wholeFloats(dst, op)
	checkRows(op, idx, len(table), dim)
	ScatterAddRows(table, floats(src, op, n*dim), idx, dim)
}

func (*Backend) EmbedTokensForward(out, ids, table, pos, ctx backend.Buffer, seqs, T, dim, nCtx int) {
	const op = "EmbedTokensForward"
	idx := ints(ids, op, seqs*T)
	emb := wholeFloats(table, op)
	checkRows(op, idx, len(emb), dim)
	var c []float32
	if ctx != nil {
		c = floats(ctx, op, nCtx*dim)
	}
	EmbedTokensForward(floats(out, op, seqs*T*dim), idx, emb, floats(pos, op, T*dim), c, seqs, T, dim, nCtx)
}

func (*Backend) EmbedTokensBackward(dctx, dout backend.Buffer, seqs, T, dim, nCtx int) {
	const op = "EmbedTokensBackward"
	if nCtx >= T {
		panic(fmt.Sprintf("cpu: %s: %d context slots do not fit after position 0 of %d", op, nCtx, T))
	}
	EmbedTokensBackward(floats(dctx, op, nCtx*dim), floats(dout, op, seqs*T*dim), seqs, T, dim, nCtx)
}

func (*Backend) Patchify(out, images backend.Buffer, batch, channels, size, patch int) {
	const op = "Patchify"
	if patch <= 0 || size%patch != 0 {
		panic(fmt.Sprintf("cpu: %s: image size %d is not a multiple of patch %d", op, size, patch))
	}
	Patchify(floats(out, op, batch*channels*size*size), floats(images, op, batch*channels*size*size), batch, channels, size, patch)
}

func (*Backend) EmbedPatchesForward(out, patches, class, pos, extra backend.Buffer, batch, P, nExtra, dim int) {
	const op = "EmbedPatchesForward"
	var e []float32
	if nExtra > 0 {
		e = floats(extra, op, nExtra*dim)
	}
	EmbedPatchesForward(floats(out, op, batch*(1+P+nExtra)*dim), floats(patches, op, batch*P*dim), floats(class, op, dim),
		floats(pos, op, (1+P)*dim), e, batch, P, nExtra, dim)
}

func (*Backend) EmbedPatchesBackward(dextra, dout backend.Buffer, batch, P, nExtra, dim int) {
	const op = "EmbedPatchesBackward"
	EmbedPatchesBackward(floats(dextra, op, nExtra*dim), floats(dout, op, batch*(1+P+nExtra)*dim), batch, P, nExtra, dim)
}

func (*Backend) SGDStep(param, grad, velocity backend.Buffer, n int, lr, momentum, weightDecay float32, first bool) {
	const op = "SGDStep"
	SGDStep(floats(param, op, n), floats(grad, op, n), floats(velocity, op, n), lr, momentum, weightDecay, first)
}

func (*Backend) AdamWStep(param, grad, m, v backend.Buffer, n int, lr, beta1, beta2, eps, weightDecay float32, step int) {
	const op = "AdamWStep"
	AdamWStep(floats(param, op, n), floats(grad, op, n), floats(m, op, n), floats(v, op, n), lr, beta1, beta2, eps, weightDecay, step)
}

// wholeFloats is every element of a Float32 buffer whose extent the
// operation does not know (an embedding table, a scatter target).
func wholeFloats(b backend.Buffer, op string) []float32 {
	buf := own(b, op)
	if buf.dtype != backend.Float32 {
		panic(fmt.Sprintf("cpu: %s needs a float32 buffer, got %v", op, buf.dtype))
	}
	return buf.f
}

// checkRows panics when a row index falls outside a table of n elements
// cut into rows of dim.
func checkRows(op string, rows []int32, n, dim int) {
	for i, r := range rows {
		if r < 0 || (int(r)+1)*dim > n {
			panic(fmt.Sprintf("cpu: %s: row index %d at %d is outside the %d rows of %d", op, r, i, n/max(dim, 1), dim))
		}
	}
}
