package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cublasLt holds the cuBLASLt functions grid calls. Handles and descriptors
// (cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
// cublasLtMatmulPreference_t) are opaque pointers kept as uintptr.
type cublasLt struct {
	lib     *openedLibrary
	version int // cublasLtGetVersion: 10000·major + 100·minor + patch

	cublasLtCreate, cublasLtDestroy, cublasLtGetVersion                                       uintptr
	cublasLtMatmulDescCreate, cublasLtMatmulDescDestroy, cublasLtMatmulDescSetAttribute       uintptr
	cublasLtMatrixLayoutCreate, cublasLtMatrixLayoutDestroy, cublasLtMatrixLayoutSetAttribute uintptr
	cublasLtMatmulPreferenceCreate, cublasLtMatmulPreferenceDestroy                           uintptr
	cublasLtMatmulPreferenceSetAttribute, cublasLtMatmulAlgoGetHeuristic, cublasLtMatmul      uintptr
}

// cudaDataType_t and cublasComputeType_t values (library_types.h,
// cublas_api.h).
const (
	cudaR32F  = 0
	cudaR16F  = 2
	cudaR16BF = 14

	cublasCompute32F         = 68
	cublasCompute32FFastTF32 = 77
)

// Attribute numbers of cublasLt.h.
const (
	ltMatmulDescTransA      = 3
	ltMatmulDescTransB      = 4
	ltMatmulDescEpilogue    = 7
	ltMatmulDescBiasPointer = 8
	ltEpilogueDefault       = 1
	ltEpilogueBias          = 4

	ltLayoutBatchCount         = 5
	ltLayoutStridedBatchOffset = 6

	ltPrefMaxWorkspaceBytes = 1
	ltPrefMinAlignmentA     = 5 // then B, C, D: 6, 7, 8

	cublasOpN = 0
	cublasOpT = 1

	cublasStatusNotSupported = 15
)

// heuristicResult mirrors cublasLtMatmulHeuristicResult_t: the algorithm
// (cublasLtMatmulAlgo_t, 8 uint64), its workspace size, status, wave count
// and 4 reserved ints: 96 bytes.
type heuristicResult struct {
	algo      [8]uint64
	workspace uint64
	state     int32
	waves     float32
	reserved  [4]int32
}

// The struct must be exactly cuBLASLt's size: any other size fails to compile.
var _ = [1]struct{}{}[unsafe.Sizeof(heuristicResult{})-96]

func loadCublasLt(sp SearchPath) (*cublasLt, error) {
	lib, err := sp.open(cublasLtLibrary)
	if err != nil {
		return nil, err
	}
	l := &cublasLt{lib: lib}
	if err := lib.bind(l.symbols()); err != nil {
		return nil, err
	}
	v, _, _ := purego.SyscallN(l.cublasLtGetVersion)
	l.version = int(v)
	if l.version < 120000 {
		return nil, &VersionError{What: fmt.Sprintf("cuBLASLt (%s)", lib.path), Have: l.Version(), Need: "cuBLASLt 12.0 or newer"}
	}
	return l, nil
}

func (l *cublasLt) symbols() []symbol {
	return []symbol{
		{"cublasLtCreate", &l.cublasLtCreate}, {"cublasLtDestroy", &l.cublasLtDestroy},
		{"cublasLtGetVersion", &l.cublasLtGetVersion},
		{"cublasLtMatmulDescCreate", &l.cublasLtMatmulDescCreate}, {"cublasLtMatmulDescDestroy", &l.cublasLtMatmulDescDestroy},
		{"cublasLtMatmulDescSetAttribute", &l.cublasLtMatmulDescSetAttribute},
		{"cublasLtMatrixLayoutCreate", &l.cublasLtMatrixLayoutCreate}, {"cublasLtMatrixLayoutDestroy", &l.cublasLtMatrixLayoutDestroy},
		{"cublasLtMatrixLayoutSetAttribute", &l.cublasLtMatrixLayoutSetAttribute},
		{"cublasLtMatmulPreferenceCreate", &l.cublasLtMatmulPreferenceCreate},
		{"cublasLtMatmulPreferenceDestroy", &l.cublasLtMatmulPreferenceDestroy},
		{"cublasLtMatmulPreferenceSetAttribute", &l.cublasLtMatmulPreferenceSetAttribute},
		{"cublasLtMatmulAlgoGetHeuristic", &l.cublasLtMatmulAlgoGetHeuristic},
		{"cublasLtMatmul", &l.cublasLtMatmul},
	}
}

// Version is "major.minor.patch".
func (l *cublasLt) Version() string {
	return fmt.Sprintf("%d.%d.%d", l.version/10000, l.version/100%100, l.version%100)
}

// major is the CUDA major version the library belongs to.
func (l *cublasLt) major() int { return l.version / 10000 }

func (l *cublasLt) check(fn string, status int) error {
	if status == 0 {
		return nil
	}
	return &LibraryCallError{Call: fn, Status: status, Name: cublasStatusName(status)}
}

// cublasStatusName names a cublasStatus_t (cublas_api.h).
func cublasStatusName(s int) string {
	names := map[int]string{
		1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
		8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
		14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("cublasStatus %d", s)
}

// gemmShape is one cuBLASLt matrix multiplication, in cuBLAS's
// column-major terms: D[m,n] = alpha·op(A)·op(B) + beta·C, C and D the same
// matrix, plus bias[m] broadcast over columns when bias is set. Strides and
// batch make it a strided batched GEMM. It is the key of a plan: everything
// that decides the descriptors and the algorithm.
type gemmShape struct {
	transA, transB   bool
	m, n, k          int
	lda, ldb, ldc    int
	batch            int
	strideA, strideB int64
	strideC          int64
	dtype, compute   int
	bias             bool
	align            [4]uint32 // A, B, C/D, bias pointers' alignment in bytes
}

// gemmPlan is a shape's descriptors and the algorithm the heuristic chose.
type gemmPlan struct {
	desc, a, b, c uintptr
	algo          heuristicResult
}

// newPlan creates the descriptors of a shape and asks the heuristic for the
// fastest algorithm that fits workspace bytes.
func (l *cublasLt) newPlan(handle uintptr, s gemmShape, workspace uint64) (*gemmPlan, error) {
	p := &gemmPlan{}
	if err := l.check("cublasLtMatmulDescCreate", call(l.cublasLtMatmulDescCreate, uintptr(unsafe.Pointer(&p.desc)), uintptr(s.compute), cudaR32F)); err != nil {
		return nil, err
	}
	opA, opB, epilogue := int32(cublasOpN), int32(cublasOpN), uint32(ltEpilogueDefault)
	if s.transA {
		opA = cublasOpT
	}
	if s.transB {
		opB = cublasOpT
	}
	if s.bias {
		epilogue = ltEpilogueBias
	}
	for _, a := range []struct {
		attr int
		ptr  unsafe.Pointer
		size uintptr
	}{{ltMatmulDescTransA, unsafe.Pointer(&opA), 4}, {ltMatmulDescTransB, unsafe.Pointer(&opB), 4}, {ltMatmulDescEpilogue, unsafe.Pointer(&epilogue), 4}} {
		if err := l.check("cublasLtMatmulDescSetAttribute", call(l.cublasLtMatmulDescSetAttribute, p.desc, uintptr(a.attr), uintptr(a.ptr), a.size)); err != nil {
			p.destroy(l)
			return nil, err
		}
	}
	rowsA, colsA := s.m, s.k
	if s.transA {
		rowsA, colsA = s.k, s.m
	}
	rowsB, colsB := s.k, s.n
	if s.transB {
		rowsB, colsB = s.n, s.k
	}
	var err error
	if p.a, err = l.layout(s.dtype, rowsA, colsA, s.lda, s.batch, s.strideA); err == nil {
		if p.b, err = l.layout(s.dtype, rowsB, colsB, s.ldb, s.batch, s.strideB); err == nil {
			p.c, err = l.layout(s.dtype, s.m, s.n, s.ldc, s.batch, s.strideC)
		}
	}
	if err == nil {
		err = l.pickAlgo(handle, p, s, workspace)
	}
	if err != nil {
		p.destroy(l)
		return nil, err
	}
	return p, nil
}

// layout creates a column-major matrix layout, batched when batch > 1.
func (l *cublasLt) layout(dtype, rows, cols, ld, batch int, stride int64) (uintptr, error) {
	var h uintptr
	if err := l.check("cublasLtMatrixLayoutCreate", call(l.cublasLtMatrixLayoutCreate, uintptr(unsafe.Pointer(&h)), uintptr(dtype), uintptr(rows), uintptr(cols), uintptr(ld))); err != nil {
		return 0, err
	}
	if batch > 1 {
		count := int32(batch)
		if err := l.check("cublasLtMatrixLayoutSetAttribute", call(l.cublasLtMatrixLayoutSetAttribute, h, ltLayoutBatchCount, uintptr(unsafe.Pointer(&count)), 4)); err != nil {
			return h, err
		}
		if err := l.check("cublasLtMatrixLayoutSetAttribute", call(l.cublasLtMatrixLayoutSetAttribute, h, ltLayoutStridedBatchOffset, uintptr(unsafe.Pointer(&stride)), 8)); err != nil {
			return h, err
		}
	}
	return h, nil
}

// pickAlgo asks cuBLASLt's heuristic for the best algorithm for the
// shape's pointer alignment and the workspace available.
func (l *cublasLt) pickAlgo(handle uintptr, p *gemmPlan, s gemmShape, workspace uint64) error {
	var pref uintptr
	if err := l.check("cublasLtMatmulPreferenceCreate", call(l.cublasLtMatmulPreferenceCreate, uintptr(unsafe.Pointer(&pref)))); err != nil {
		return err
	}
	defer call(l.cublasLtMatmulPreferenceDestroy, pref)
	if err := l.check("cublasLtMatmulPreferenceSetAttribute", call(l.cublasLtMatmulPreferenceSetAttribute, pref, ltPrefMaxWorkspaceBytes, uintptr(unsafe.Pointer(&workspace)), 8)); err != nil {
		return err
	}
	// A, B, C, D alignments: D is C.
	aligns := [4]uint32{s.align[0], s.align[1], s.align[2], s.align[2]}
	for i := range aligns {
		if err := l.check("cublasLtMatmulPreferenceSetAttribute", call(l.cublasLtMatmulPreferenceSetAttribute, pref, uintptr(ltPrefMinAlignmentA+i), uintptr(unsafe.Pointer(&aligns[i])), 4)); err != nil {
			return err
		}
	}
	var found int32
	status := call(l.cublasLtMatmulAlgoGetHeuristic, handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, uintptr(unsafe.Pointer(&p.algo)), uintptr(unsafe.Pointer(&found)))
	if status == cublasStatusNotSupported {
		return errNoAlgorithm
	}
	if err := l.check("cublasLtMatmulAlgoGetHeuristic", status); err != nil {
		return err
	}
	if found == 0 {
		return errNoAlgorithm
	}
	return nil
}

// errNoAlgorithm: cuBLASLt has no algorithm for a shape (typically an
// operand aligned to less than any of its kernels needs).
var errNoAlgorithm = errors.New("cuda: cuBLASLt has no algorithm for this GEMM")

func (p *gemmPlan) destroy(l *cublasLt) {
	for _, h := range []uintptr{p.a, p.b, p.c} {
		if h != 0 {
			call(l.cublasLtMatrixLayoutDestroy, h)
		}
	}
	if p.desc != 0 {
		call(l.cublasLtMatmulDescDestroy, p.desc)
	}
}

// run queues D = alpha·op(A)·op(B) + beta·C (+ bias) on stream. alpha and
// beta are host scalars (cuBLASLt's default pointer mode), read during the
// call, so they may live on the Go stack.
func (l *cublasLt) run(handle uintptr, p *gemmPlan, a, b, c, bias uintptr, alpha, beta float32, workspace uintptr, wsSize uint64, stream uintptr) error {
	if bias != 0 {
		if err := l.check("cublasLtMatmulDescSetAttribute", call(l.cublasLtMatmulDescSetAttribute, p.desc, ltMatmulDescBiasPointer, uintptr(unsafe.Pointer(&bias)), 8)); err != nil {
			return err
		}
	}
	return l.check("cublasLtMatmul", call(l.cublasLtMatmul, handle, p.desc,
		uintptr(unsafe.Pointer(&alpha)), a, p.a, b, p.b, uintptr(unsafe.Pointer(&beta)), c, p.c, c, p.c,
		uintptr(unsafe.Pointer(&p.algo.algo)), workspace, uintptr(wsSize), stream))
}
