package cpu

import "sync"

// The general matrix product every matmul and attention product runs on:
// C (=|+=) A·B with A [m,k] and B [k,n] given as strided views, so the
// NT form of a Linear forward (x·Wᵀ), the NN form of its input gradient
// (dY·W) and the TN form of its weight gradient (dYᵀ·X) all reach the same
// kernels without transposed copies.
//
// The layout is BLIS's: B is packed, kc×NC at a time, into panels of nr
// columns (for each depth step, nr consecutive values); a micro-kernel then
// keeps an mr×nr tile of C in registers while it walks kc depth steps,
// broadcasting one value of A per row and multiplying it into the nr-wide
// row of the B panel. A is read where it lies: the kernel takes the row and
// depth strides of A, so a row-major A (the activations), a transposed A
// (the TN form) and a packed A (a short last row panel, copied with zero
// padding) all run through the same instructions.
//
// Summation order, which the CLIP text tower relies on to compute only the
// positions it needs: every element of C is one chain of fused
// multiply-adds over p = 0, 1, …, k−1, restarting from C only at the fixed
// depth-block boundaries (multiples of the kernel's kc). Work is split over
// rows and columns only, and a short row panel runs through the same kernel
// as a full one, so a row's result does not depend on how many rows the call
// has or which goroutine computed it.

// matView is a read-only strided view of a matrix: element (i, j) is
// data[i*rowStride + j*colStride].
type matView struct {
	data                 []float32
	rowStride, colStride int
}

// rowMajor views data as a row-major matrix with ld values per row.
func rowMajor(data []float32, ld int) matView { return matView{data, ld, 1} }

// transposedOf views the transpose of the row-major matrix data (ld values
// per row): element (i, j) of the view is data[j*ld + i].
func transposedOf(data []float32, ld int) matView { return matView{data, 1, ld} }

// at returns the offset of element (i, j).
func (v matView) at(i, j int) int { return i*v.rowStride + j*v.colStride }

// microKernel is one register-tiled inner kernel and its blocking.
type microKernel struct {
	name   string
	mr, nr int // register tile: rows of A × columns of B
	kc     int // depth block: one restart of the chains from C per kc steps
	ncMax  int // widest column block packed at once (kc×ncMax fits in L2)
	// tile sets the mr×nr tile c (row stride ldc) to start + Σ_{p<kc}
	// A(r,p)·B(p,j), where A(r,p) = a[r*ars + p*aps] and B(p,j) =
	// b[p*nr + j] (a packed panel), and the chains start from c itself
	// with load, else from init[j] (nr values: a bias) or, with init nil,
	// from zero. a and c are read and written through offsets only: the
	// caller guarantees the tile lies inside.
	tile func(kc int, a []float32, ars, aps int, b []float32, c []float32, ldc int, init []float32, load bool)
}

// gemmKernel is the kernel gemm uses, the fastest this CPU runs (see
// kernels_*.go). Tests switch it to compare kernels.
var gemmKernel = bestKernel()

// gemmParallelFlops is the multiply-add count below which a product runs
// on the calling goroutine: starting goroutines would cost more.
const gemmParallelFlops = 1 << 20

// gemm sets c[i*ldc+j] to bias[j] + Σ_p A(i,p)·B(p,j) for i < m, j < n,
// p < k (bias nil: no bias), or with accumulate adds the sum to c (bias
// must then be nil), spreading column (and, when there are too few
// columns, row) blocks over the cores. The bias starts each element's
// chain of multiply-adds, so adding it costs no pass over c.
func gemm(m, n, k int, a, b matView, bias, c []float32, ldc int, accumulate bool) {
	if emptyProduct(m, n, k, bias, c, ldc, accumulate) {
		return
	}
	kern := gemmKernel
	workers := 1
	if m*n*k >= gemmParallelFlops {
		workers = maxWorkers()
	}
	colBlock, rowBlock := gemmBlocks(m, n, workers, kern)
	colBlocks, rowBlocks := ceilDiv(n, colBlock), ceilDiv(m, rowBlock)
	parallelFor(colBlocks*rowBlocks, workers == 1, func(u int) {
		j0, i0 := (u%colBlocks)*colBlock, (u/colBlocks)*rowBlock
		s := getGemmScratch(kern, colBlock)
		gemmBlock(kern, s, a, b, bias, c, ldc, i0, min(i0+rowBlock, m), j0, min(j0+colBlock, n), k, accumulate)
		putGemmScratch(s)
	})
}

// gemmSerial is gemm on the calling goroutine with the caller's scratch,
// for callers that already run one product per core (attention heads).
func gemmSerial(s *gemmScratch, m, n, k int, a, b matView, c []float32, ldc int, accumulate bool) {
	if emptyProduct(m, n, k, nil, c, ldc, accumulate) {
		return
	}
	kern := gemmKernel
	s.fit(kern, n)
	gemmBlock(kern, s, a, b, nil, c, ldc, 0, m, 0, n, k, accumulate)
}

// emptyProduct checks the bias and handles a product with no rows, columns
// or depth (C set to the bias or zero, or left as it is), reporting whether
// it was one.
func emptyProduct(m, n, k int, bias, c []float32, ldc int, accumulate bool) bool {
	if bias != nil && accumulate {
		panic("cpu: gemm with a bias must not accumulate")
	}
	if m > 0 && n > 0 && k > 0 {
		return false
	}
	if m > 0 && n > 0 && !accumulate {
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			if bias != nil {
				copy(row, bias[:n])
			} else {
				clear(row)
			}
		}
	}
	return true
}

// gemmBlocks chooses the column block (a multiple of nr, at most ncMax) and
// row block of one unit of work: as many column blocks as the workers, or a
// multiple of them, and row blocks only when the columns run out.
func gemmBlocks(m, n, workers int, kern *microKernel) (colBlock, rowBlock int) {
	panels := ceilDiv(n, kern.nr)
	blocks := ceilDiv(n, kern.ncMax)
	if workers > 1 && blocks%workers != 0 {
		blocks = min(ceilDiv(blocks, workers)*workers, panels)
	}
	colBlock = ceilDiv(panels, blocks) * kern.nr
	rowBlock = m
	if perRow := workers / ceilDiv(n, colBlock); perRow > 1 {
		rowBlock = ceilDiv(ceilDiv(m, perRow), kern.mr) * kern.mr
	}
	return colBlock, rowBlock
}

// gemmBlock computes rows [i0,i1) × columns [j0,j1) of c: for each depth
// block, pack that block of B, then run the micro-kernel over every row
// panel and, within it, every column panel (so the row panel of A stays in
// L1 while the packed block of B streams from L2).
func gemmBlock(kern *microKernel, s *gemmScratch, a, b matView, bias, c []float32, ldc, i0, i1, j0, j1, k int, accumulate bool) {
	mr, nr := kern.mr, kern.nr
	for p0 := 0; p0 < k; p0 += kern.kc {
		kc := min(kern.kc, k-p0)
		load := accumulate || p0 > 0
		packB(s.b, b, p0, kc, j0, j1, nr)
		for i := i0; i < i1; i += mr {
			rows := min(mr, i1-i)
			aData, ars, aps := a.data[a.at(i, p0):], a.rowStride, a.colStride
			if rows < mr {
				packA(s.a, a, i, rows, p0, kc, mr)
				aData, ars, aps = s.a, 1, mr
			}
			for j := j0; j < j1; j += nr {
				cols := min(nr, j1-j)
				panel := s.b[(j-j0)*kc:]
				var init []float32
				if bias != nil && !load {
					init = s.biasPanel(bias[j:j+cols], nr)
				}
				if rows == mr && cols == nr {
					kern.tile(kc, aData, ars, aps, panel, c[i*ldc+j:], ldc, init, load)
					continue
				}
				edgeTile(kern, s.c, kc, aData, ars, aps, panel, c[i*ldc+j:], ldc, rows, cols, init, load)
			}
		}
	}
}

// edgeTile runs the kernel on a full-size scratch tile for a tile of C cut
// short by the matrix edge, copying the live part in and out: the same
// instructions as a full tile, so the same results.
func edgeTile(kern *microKernel, tmp []float32, kc int, a []float32, ars, aps int, b, c []float32, ldc, rows, cols int, init []float32, load bool) {
	nr := kern.nr
	if load {
		for r := range rows {
			copy(tmp[r*nr:r*nr+cols], c[r*ldc:r*ldc+cols])
		}
	}
	kern.tile(kc, a, ars, aps, b, tmp, nr, init, load)
	for r := range rows {
		copy(c[r*ldc:r*ldc+cols], tmp[r*nr:r*nr+cols])
	}
}

// packA copies rows [i, i+rows) × depth [p0, p0+kc) of a into dst as one
// panel (for each depth step, mr consecutive values), padding rows past
// rows with zeros.
func packA(dst []float32, a matView, i, rows, p0, kc, mr int) {
	dst = dst[:kc*mr]
	clear(dst)
	for r := range rows {
		off := a.at(i+r, p0)
		for p := range kc {
			dst[p*mr+r] = a.data[off+p*a.colStride]
		}
	}
}

// packB copies depth [p0, p0+kc) × columns [j0, j1) of b into dst as
// consecutive panels of nr columns (for each depth step, nr consecutive
// values), padding the last panel with zero columns.
func packB(dst []float32, b matView, p0, kc, j0, j1, nr int) {
	for j := j0; j < j1; j += nr {
		cols := min(nr, j1-j)
		panel := dst[(j-j0)*kc : (j-j0)*kc+kc*nr]
		switch {
		case b.colStride == 1:
			packBRows(panel, b, p0, kc, j, cols, nr)
		case b.rowStride == 1:
			packBCols(panel, b, p0, kc, j, cols, nr)
		default:
			for p := range kc {
				for cc := range nr {
					v := float32(0)
					if cc < cols {
						v = b.data[b.at(p0+p, j+cc)]
					}
					panel[p*nr+cc] = v
				}
			}
		}
	}
}

// packBRows packs a panel of a B whose rows are contiguous (the NN and TN
// forms): each depth step is one copy.
func packBRows(panel []float32, b matView, p0, kc, j, cols, nr int) {
	// Whole panels of the assembly kernels' widths copy as fixed-size
	// arrays: a few vector moves instead of a memmove call per step.
	switch {
	case cols == 32 && nr == 32:
		for p := range kc {
			*(*[32]float32)(panel[p*32:]) = *(*[32]float32)(b.data[b.at(p0+p, j):])
		}
		return
	case cols == 16 && nr == 16:
		for p := range kc {
			*(*[16]float32)(panel[p*16:]) = *(*[16]float32)(b.data[b.at(p0+p, j):])
		}
		return
	}
	for p := range kc {
		off := b.at(p0+p, j)
		dst := panel[p*nr : p*nr+nr]
		copy(dst, b.data[off:off+cols])
		clear(dst[cols:])
	}
}

// packBCols packs a panel of a B whose columns are contiguous (the NT form,
// B = Wᵀ with W row-major): a transpose, done by the fastest routine the CPU
// has (see kernels_*.go).
func packBCols(panel []float32, b matView, p0, kc, j, cols, nr int) {
	if cols == nr && packBColsFast(panel, b.data[b.at(p0, j):], b.colStride, kc, nr) {
		return
	}
	for cc := range nr {
		if cc >= cols {
			for p := range kc {
				panel[p*nr+cc] = 0
			}
			continue
		}
		src := b.data[b.at(p0, j+cc):]
		src = src[:kc]
		for p, v := range src {
			panel[p*nr+cc] = v
		}
	}
}

// gemmScratch holds one worker's packing buffers.
type gemmScratch struct {
	kern *microKernel
	b    []float32 // kc × column block
	a    []float32 // one packed row panel, kc × mr
	c    []float32 // one edge tile, mr × nr
	bias []float32 // the bias of a panel cut short by the edge, nr wide
}

// biasPanel returns the nr bias values of a column panel: bias itself, or
// for a panel cut short by the matrix edge a copy padded with zeros.
func (s *gemmScratch) biasPanel(bias []float32, nr int) []float32 {
	if len(bias) == nr {
		return bias
	}
	clear(s.bias)
	copy(s.bias, bias)
	return s.bias
}

// fit grows s for column blocks of n columns under kern.
func (s *gemmScratch) fit(kern *microKernel, n int) {
	if s.kern != kern {
		*s = gemmScratch{kern: kern, a: make([]float32, kern.kc*kern.mr), c: make([]float32, kern.mr*kern.nr),
			bias: make([]float32, kern.nr)}
	}
	if need := kern.kc * ceilDiv(n, kern.nr) * kern.nr; len(s.b) < need {
		s.b = make([]float32, need)
	}
}

var gemmScratchPool sync.Pool

func getGemmScratch(kern *microKernel, n int) *gemmScratch {
	s, _ := gemmScratchPool.Get().(*gemmScratch)
	if s == nil {
		s = new(gemmScratch)
	}
	s.fit(kern, n)
	return s
}

func putGemmScratch(s *gemmScratch) { gemmScratchPool.Put(s) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }
