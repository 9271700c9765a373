#include "textflag.h"

// Micro-kernels and packing routines of gemm (see gemm.go).
//
// A kernel keeps an mr×nr tile of C in registers and walks kc depth steps:
// per step it loads one nr-wide row of the packed B panel and, for each of
// the mr rows, broadcasts A(r,p) and multiplies it in with fused
// multiply-adds. A(r,p) is at a + 4·(r·ars + p·aps). Rows 0-5 are reached
// from base SI (rows 6-11 from DI = SI + 6 rows) plus 0, 1, 2, 3, 4 or 5
// row strides, with the row stride in R8, 3× it in R9 and 5× in R10. With
// load set the accumulators start from C, so across depth blocks every
// element of C is one chain of multiply-adds in depth order.

// KERNEL_ARGS loads the arguments shared by both kernels; AX is the byte
// stride of C's rows, R11 the byte step of A per depth step.
#define KERNEL_ARGS \
	MOVQ kc+0(FP), CX; \
	MOVQ a+8(FP), SI; \
	MOVQ ars+16(FP), R8; \
	SHLQ $2, R8; \
	LEAQ (R8)(R8*2), R9; \
	LEAQ (R8)(R8*4), R10; \
	MOVQ aps+24(FP), R11; \
	SHLQ $2, R11; \
	MOVQ b+32(FP), DX; \
	MOVQ c+40(FP), BX; \
	MOVQ ldc+48(FP), AX; \
	SHLQ $2, AX

// The NT-form packs (packBColsFast): column c of B is the contiguous row
// src + c·stride of a row-major W, and the panel wants, per depth step, the
// nr columns side by side, so the pack is a transpose done a square block
// at a time in registers. Rows are reached from a base plus 0-7 strides:
// R8 = stride, R9 = 3·stride, R10 = 5·stride, R11 = 7·stride (bytes).
#define PACK_ARGS \
	MOVQ dst+0(FP), DX; \
	MOVQ src+8(FP), SI; \
	MOVQ stride+16(FP), R8; \
	SHLQ $2, R8; \
	LEAQ (R8)(R8*2), R9; \
	LEAQ (R8)(R8*4), R10; \
	LEAQ (R9)(R8*4), R11; \
	MOVQ chunks+24(FP), CX

// Z24, Z25: the B row of this step; Z26, Z27 alternate as the broadcast A.
#define ROW512(addr, acc0, acc1, bc) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS Z24, bc, acc0; \
	VFMADD231PS Z25, bc, acc1

#define LOADC512(acc0, acc1) \
	VMOVUPS (R12), acc0; \
	VMOVUPS 64(R12), acc1; \
	ADDQ AX, R12

#define STOREC512(acc0, acc1) \
	VMOVUPS acc0, (R12); \
	VMOVUPS acc1, 64(R12); \
	ADDQ AX, R12

// func gemmTileAVX512(kc int, a *float32, ars, aps int, b, c *float32, ldc int, init *float32, load bool)
// A 12×32 tile: Z0-Z23 hold C, two 16-wide registers per row.
TEXT ·gemmTileAVX512(SB), NOSPLIT, $0-65
	KERNEL_ARGS
	LEAQ (R9)(R9*1), DI
	ADDQ SI, DI
	MOVQ BX, R12
	CMPB load+64(FP), $0
	JNE avx512_load
	MOVQ init+56(FP), R13
	TESTQ R13, R13
	JEQ avx512_zero
	VMOVUPS (R13), Z0
	VMOVUPS 64(R13), Z1
	JMP avx512_fill
avx512_zero:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
avx512_fill:
	VMOVAPS Z0, Z2
	VMOVAPS Z1, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z1, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z1, Z7
	VMOVAPS Z0, Z8
	VMOVAPS Z1, Z9
	VMOVAPS Z0, Z10
	VMOVAPS Z1, Z11
	VMOVAPS Z0, Z12
	VMOVAPS Z1, Z13
	VMOVAPS Z0, Z14
	VMOVAPS Z1, Z15
	VMOVAPS Z0, Z16
	VMOVAPS Z1, Z17
	VMOVAPS Z0, Z18
	VMOVAPS Z1, Z19
	VMOVAPS Z0, Z20
	VMOVAPS Z1, Z21
	VMOVAPS Z0, Z22
	VMOVAPS Z1, Z23
	JMP avx512_loop
avx512_load:
	LOADC512(Z0, Z1)
	LOADC512(Z2, Z3)
	LOADC512(Z4, Z5)
	LOADC512(Z6, Z7)
	LOADC512(Z8, Z9)
	LOADC512(Z10, Z11)
	LOADC512(Z12, Z13)
	LOADC512(Z14, Z15)
	LOADC512(Z16, Z17)
	LOADC512(Z18, Z19)
	LOADC512(Z20, Z21)
	LOADC512(Z22, Z23)
avx512_loop:
	VMOVUPS (DX), Z24
	VMOVUPS 64(DX), Z25
	ROW512((SI), Z0, Z1, Z26)
	ROW512((SI)(R8*1), Z2, Z3, Z27)
	ROW512((SI)(R8*2), Z4, Z5, Z26)
	ROW512((SI)(R9*1), Z6, Z7, Z27)
	ROW512((SI)(R8*4), Z8, Z9, Z26)
	ROW512((SI)(R10*1), Z10, Z11, Z27)
	ROW512((DI), Z12, Z13, Z26)
	ROW512((DI)(R8*1), Z14, Z15, Z27)
	ROW512((DI)(R8*2), Z16, Z17, Z26)
	ROW512((DI)(R9*1), Z18, Z19, Z27)
	ROW512((DI)(R8*4), Z20, Z21, Z26)
	ROW512((DI)(R10*1), Z22, Z23, Z27)
	ADDQ R11, SI
	ADDQ R11, DI
	ADDQ $128, DX
	DECQ CX
	JNZ avx512_loop
	MOVQ BX, R12
	STOREC512(Z0, Z1)
	STOREC512(Z2, Z3)
	STOREC512(Z4, Z5)
	STOREC512(Z6, Z7)
	STOREC512(Z8, Z9)
	STOREC512(Z10, Z11)
	STOREC512(Z12, Z13)
	STOREC512(Z14, Z15)
	STOREC512(Z16, Z17)
	STOREC512(Z18, Z19)
	STOREC512(Z20, Z21)
	STOREC512(Z22, Z23)
	VZEROUPPER
	RET

// Y12, Y13: the B row of this step; Y14, Y15 alternate as the broadcast A.
#define ROW256(addr, acc0, acc1, bc) \
	VBROADCASTSS addr, bc; \
	VFMADD231PS Y12, bc, acc0; \
	VFMADD231PS Y13, bc, acc1

#define LOADC256(acc0, acc1) \
	VMOVUPS (R12), acc0; \
	VMOVUPS 32(R12), acc1; \
	ADDQ AX, R12

#define STOREC256(acc0, acc1) \
	VMOVUPS acc0, (R12); \
	VMOVUPS acc1, 32(R12); \
	ADDQ AX, R12

// func gemmTileAVX2(kc int, a *float32, ars, aps int, b, c *float32, ldc int, init *float32, load bool)
// A 6×16 tile: Y0-Y11 hold C, two 8-wide registers per row.
TEXT ·gemmTileAVX2(SB), NOSPLIT, $0-65
	KERNEL_ARGS
	MOVQ BX, R12
	CMPB load+64(FP), $0
	JNE avx2_load
	MOVQ init+56(FP), R13
	TESTQ R13, R13
	JEQ avx2_zero
	VMOVUPS (R13), Y0
	VMOVUPS 32(R13), Y1
	JMP avx2_fill
avx2_zero:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
avx2_fill:
	VMOVAPS Y0, Y2
	VMOVAPS Y1, Y3
	VMOVAPS Y0, Y4
	VMOVAPS Y1, Y5
	VMOVAPS Y0, Y6
	VMOVAPS Y1, Y7
	VMOVAPS Y0, Y8
	VMOVAPS Y1, Y9
	VMOVAPS Y0, Y10
	VMOVAPS Y1, Y11
	JMP avx2_loop
avx2_load:
	LOADC256(Y0, Y1)
	LOADC256(Y2, Y3)
	LOADC256(Y4, Y5)
	LOADC256(Y6, Y7)
	LOADC256(Y8, Y9)
	LOADC256(Y10, Y11)
avx2_loop:
	VMOVUPS (DX), Y12
	VMOVUPS 32(DX), Y13
	ROW256((SI), Y0, Y1, Y14)
	ROW256((SI)(R8*1), Y2, Y3, Y15)
	ROW256((SI)(R8*2), Y4, Y5, Y14)
	ROW256((SI)(R9*1), Y6, Y7, Y15)
	ROW256((SI)(R8*4), Y8, Y9, Y14)
	ROW256((SI)(R10*1), Y10, Y11, Y15)
	ADDQ R11, SI
	ADDQ $64, DX
	DECQ CX
	JNZ avx2_loop
	MOVQ BX, R12
	STOREC256(Y0, Y1)
	STOREC256(Y2, Y3)
	STOREC256(Y4, Y5)
	STOREC256(Y6, Y7)
	STOREC256(Y8, Y9)
	STOREC256(Y10, Y11)
	VZEROUPPER
	RET

// LOAD8(base, r0, ..., r7) loads 8 consecutive rows from base.
#define LOAD8(base, r0, r1, r2, r3, r4, r5, r6, r7) \
	VMOVUPS (base), r0; \
	VMOVUPS (base)(R8*1), r1; \
	VMOVUPS (base)(R8*2), r2; \
	VMOVUPS (base)(R9*1), r3; \
	VMOVUPS (base)(R8*4), r4; \
	VMOVUPS (base)(R10*1), r5; \
	VMOVUPS (base)(R9*2), r6; \
	VMOVUPS (base)(R11*1), r7

// TRANSPOSE16 transposes the 16×16 block in Z0-Z15 (row i in Zi) into
// Z0-Z15 (column j in Zj), using Z16-Z31: interleave pairs of rows, then
// pairs of pairs, then 128-bit lanes twice.
#define TRANSPOSE16 \
	VUNPCKLPS Z1, Z0, Z16; VUNPCKHPS Z1, Z0, Z17; \
	VUNPCKLPS Z3, Z2, Z18; VUNPCKHPS Z3, Z2, Z19; \
	VUNPCKLPS Z5, Z4, Z20; VUNPCKHPS Z5, Z4, Z21; \
	VUNPCKLPS Z7, Z6, Z22; VUNPCKHPS Z7, Z6, Z23; \
	VUNPCKLPS Z9, Z8, Z24; VUNPCKHPS Z9, Z8, Z25; \
	VUNPCKLPS Z11, Z10, Z26; VUNPCKHPS Z11, Z10, Z27; \
	VUNPCKLPS Z13, Z12, Z28; VUNPCKHPS Z13, Z12, Z29; \
	VUNPCKLPS Z15, Z14, Z30; VUNPCKHPS Z15, Z14, Z31; \
	VUNPCKLPD Z18, Z16, Z0; VUNPCKHPD Z18, Z16, Z1; \
	VUNPCKLPD Z19, Z17, Z2; VUNPCKHPD Z19, Z17, Z3; \
	VUNPCKLPD Z22, Z20, Z4; VUNPCKHPD Z22, Z20, Z5; \
	VUNPCKLPD Z23, Z21, Z6; VUNPCKHPD Z23, Z21, Z7; \
	VUNPCKLPD Z26, Z24, Z8; VUNPCKHPD Z26, Z24, Z9; \
	VUNPCKLPD Z27, Z25, Z10; VUNPCKHPD Z27, Z25, Z11; \
	VUNPCKLPD Z30, Z28, Z12; VUNPCKHPD Z30, Z28, Z13; \
	VUNPCKLPD Z31, Z29, Z14; VUNPCKHPD Z31, Z29, Z15; \
	VSHUFF32X4 $0x44, Z4, Z0, Z16; VSHUFF32X4 $0xEE, Z4, Z0, Z20; \
	VSHUFF32X4 $0x44, Z12, Z8, Z24; VSHUFF32X4 $0xEE, Z12, Z8, Z28; \
	VSHUFF32X4 $0x44, Z5, Z1, Z17; VSHUFF32X4 $0xEE, Z5, Z1, Z21; \
	VSHUFF32X4 $0x44, Z13, Z9, Z25; VSHUFF32X4 $0xEE, Z13, Z9, Z29; \
	VSHUFF32X4 $0x44, Z6, Z2, Z18; VSHUFF32X4 $0xEE, Z6, Z2, Z22; \
	VSHUFF32X4 $0x44, Z14, Z10, Z26; VSHUFF32X4 $0xEE, Z14, Z10, Z30; \
	VSHUFF32X4 $0x44, Z7, Z3, Z19; VSHUFF32X4 $0xEE, Z7, Z3, Z23; \
	VSHUFF32X4 $0x44, Z15, Z11, Z27; VSHUFF32X4 $0xEE, Z15, Z11, Z31; \
	VSHUFF32X4 $0x88, Z24, Z16, Z0; VSHUFF32X4 $0xDD, Z24, Z16, Z4; \
	VSHUFF32X4 $0x88, Z28, Z20, Z8; VSHUFF32X4 $0xDD, Z28, Z20, Z12; \
	VSHUFF32X4 $0x88, Z25, Z17, Z1; VSHUFF32X4 $0xDD, Z25, Z17, Z5; \
	VSHUFF32X4 $0x88, Z29, Z21, Z9; VSHUFF32X4 $0xDD, Z29, Z21, Z13; \
	VSHUFF32X4 $0x88, Z26, Z18, Z2; VSHUFF32X4 $0xDD, Z26, Z18, Z6; \
	VSHUFF32X4 $0x88, Z30, Z22, Z10; VSHUFF32X4 $0xDD, Z30, Z22, Z14; \
	VSHUFF32X4 $0x88, Z27, Z19, Z3; VSHUFF32X4 $0xDD, Z27, Z19, Z7; \
	VSHUFF32X4 $0x88, Z31, Z23, Z11; VSHUFF32X4 $0xDD, Z31, Z23, Z15

// STORE16(off) stores Z0-Z15 as 16 depth steps of a 32-wide panel, at
// column offset off (bytes).
#define STORE16(off) \
	VMOVUPS Z0, off(DX); VMOVUPS Z1, off+128(DX); \
	VMOVUPS Z2, off+256(DX); VMOVUPS Z3, off+384(DX); \
	VMOVUPS Z4, off+512(DX); VMOVUPS Z5, off+640(DX); \
	VMOVUPS Z6, off+768(DX); VMOVUPS Z7, off+896(DX); \
	VMOVUPS Z8, off+1024(DX); VMOVUPS Z9, off+1152(DX); \
	VMOVUPS Z10, off+1280(DX); VMOVUPS Z11, off+1408(DX); \
	VMOVUPS Z12, off+1536(DX); VMOVUPS Z13, off+1664(DX); \
	VMOVUPS Z14, off+1792(DX); VMOVUPS Z15, off+1920(DX)

// func packNTAVX512(dst, src *float32, stride, chunks int)
// Packs 32 columns, 16 depth steps per chunk, as two 16×16 transposes.
TEXT ·packNTAVX512(SB), NOSPLIT, $0-32
	PACK_ARGS
	LEAQ (SI)(R8*8), DI
	LEAQ (DI)(R8*8), R12
	LEAQ (R12)(R8*8), R13
packNTAVX512_loop:
	LOAD8(SI, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	LOAD8(DI, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	TRANSPOSE16
	STORE16(0)
	LOAD8(R12, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	LOAD8(R13, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	TRANSPOSE16
	STORE16(64)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $2048, DX
	DECQ CX
	JNZ packNTAVX512_loop
	VZEROUPPER
	RET

// TRANSPOSE8 transposes the 8×8 block in Y0-Y7 (row i in Yi) into Y8-Y15
// (column j in Y8+j), the AVX2 analogue of TRANSPOSE16.
#define TRANSPOSE8 \
	VUNPCKLPS Y1, Y0, Y8; VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; VUNPCKHPS Y7, Y6, Y15; \
	VUNPCKLPD Y10, Y8, Y0; VUNPCKHPD Y10, Y8, Y1; \
	VUNPCKLPD Y11, Y9, Y2; VUNPCKHPD Y11, Y9, Y3; \
	VUNPCKLPD Y14, Y12, Y4; VUNPCKHPD Y14, Y12, Y5; \
	VUNPCKLPD Y15, Y13, Y6; VUNPCKHPD Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x20, Y5, Y1, Y9; VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x20, Y6, Y2, Y10; VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x20, Y7, Y3, Y11; VPERM2F128 $0x31, Y7, Y3, Y15

// STORE8(off) stores Y8-Y15 as 8 depth steps of a 16-wide panel.
#define STORE8(off) \
	VMOVUPS Y8, off(DX); VMOVUPS Y9, off+64(DX); \
	VMOVUPS Y10, off+128(DX); VMOVUPS Y11, off+192(DX); \
	VMOVUPS Y12, off+256(DX); VMOVUPS Y13, off+320(DX); \
	VMOVUPS Y14, off+384(DX); VMOVUPS Y15, off+448(DX)

// func packNTAVX2(dst, src *float32, stride, chunks int)
// Packs 16 columns, 8 depth steps per chunk, as two 8×8 transposes.
TEXT ·packNTAVX2(SB), NOSPLIT, $0-32
	PACK_ARGS
	LEAQ (SI)(R8*8), DI
packNTAVX2_loop:
	LOAD8(SI, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	TRANSPOSE8
	STORE8(0)
	LOAD8(DI, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	TRANSPOSE8
	STORE8(32)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $512, DX
	DECQ CX
	JNZ packNTAVX2_loop
	VZEROUPPER
	RET
