package cuda

import (
	"errors"
	"math/bits"

	"github.com/fomo-grid/grid/engine/backend"
)

// The dense layers run on cuBLASLt, which is column-major. A row-major
// matrix X [r,c] is the column-major Xᵀ [c,r] with leading dimension c, so
// each row-major product is written as its transpose:
//
//	forward  Y = X·Wᵀ + b   ->  Yᵀ [out,rows] = op_T(W as [in,out]) · Xᵀ [in,rows], bias over Yᵀ's rows
//	dX += dY·W               ->  dXᵀ [in,rows] = (W as [in,out]) · dYᵀ [out,rows]
//	dW += dYᵀ·X              ->  dWᵀ [in,out] = Xᵀ [in,rows] · op_T(dYᵀ as [out,rows])
//
// Inputs and outputs are in the Backend's precision; accumulation is fp32.

func (b *Backend) MatmulForward(out, inp, weight, bias backend.Buffer, rows, inDim, outDim int) {
	if rows == 0 || outDim == 0 {
		return
	}
	const w = "MatmulForward"
	s := gemmShape{transA: true, m: outDim, n: rows, k: inDim, lda: inDim, ldb: inDim, ldc: outDim}
	b.gemm(s, b.ptr(weight, w), b.ptr(inp, w), b.ptr(out, w), b.ptr(bias, w), 0)
}

func (b *Backend) MatmulBackward(dinp, dweight, dbias, dout, inp, weight backend.Buffer, rows, inDim, outDim int) {
	if rows == 0 || outDim == 0 || inDim == 0 {
		return
	}
	const w = "MatmulBackward"
	dy := b.ptr(dout, w)
	if dinp != nil {
		s := gemmShape{m: inDim, n: rows, k: outDim, lda: inDim, ldb: outDim, ldc: inDim}
		b.gemm(s, b.ptr(weight, w), dy, b.ptr(dinp, w), 0, 1)
	}
	if dweight != nil {
		s := gemmShape{transB: true, m: inDim, n: outDim, k: rows, lda: inDim, ldb: outDim, ldc: inDim}
		b.gemm(s, b.ptr(inp, w), dy, b.ptr(dweight, w), 0, 1)
	}
	if dbias != nil {
		grid, block := b.elementwise(outDim)
		b.kernel("bias_backward", grid, block, 0, argPtr(b.ptr(dbias, w)), argPtr(dy), argInt(rows), argInt(outDim))
	}
}

// gemm queues C = op(A)·op(B) + beta·C (+ bias), finding or making the
// plan of its shape.
func (b *Backend) gemm(s gemmShape, a, bm, c, bias uintptr, beta float32) {
	s.batch = 1
	s.dtype = b.prec.dataType()
	s.compute = cublasCompute32F
	if b.prec == FP32 && b.tf32 {
		s.compute = cublasCompute32FFastTF32
	}
	s.bias = bias != 0
	s.align = [4]uint32{alignment(a), alignment(bm), alignment(c), alignment(bias)}
	p, ok := b.plans[s]
	if !ok {
		if err := b.dev.enter(); err != nil {
			b.setErr(err)
			return
		}
		var err error
		p, err = b.rt.lt.newPlan(b.lt, s, b.workspaceSize)
		b.dev.exit()
		if err != nil && !errors.Is(err, errNoAlgorithm) {
			b.setErr(err)
			return
		}
		b.plans[s] = p // nil: the shape takes the fallback kernel
	}
	if p == nil {
		grid, block := b.elementwise(s.m * s.n)
		b.kernel("gemm_fallback", grid, block, 0, argPtr(c), argPtr(a), argPtr(bm), argPtr(bias),
			argInt(s.m), argInt(s.n), argInt(s.k), argInt(s.lda), argInt(s.ldb), argInt(s.ldc),
			argBool(s.transA), argBool(s.transB), argFloat(beta))
		return
	}
	b.queue = append(b.queue, op{kind: opGemm, plan: p, a: a, b: bm, c: c, bias: bias, alpha: 1, beta: beta})
}

// alignment is the largest power of two (at most 256) dividing a pointer:
// what cuBLASLt's heuristic may assume about it. Views at odd offsets get
// algorithms that do not need aligned vector loads.
func alignment(p uintptr) uint32 {
	if p == 0 {
		return 256
	}
	return uint32(min(256, 1<<bits.TrailingZeros64(uint64(p))))
}
