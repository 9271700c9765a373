#include "textflag.h"

// AVX2/FMA row primitives (see vec.go). Each walks its slices 8 floats at a
// time and finishes the last 1-7 with masked loads and stores (VMASKMOVPS,
// masks from tailmask), so any length takes the same instructions per
// element. Reductions keep 8 lane sums and add them up in a fixed order at
// the end.

// tailmask: 8 all-ones dwords then 8 zero dwords; the 8 dwords starting at
// dword 8-r enable the first r lanes.
DATA tailmask<>+0(SB)/8, $0xffffffffffffffff
DATA tailmask<>+8(SB)/8, $0xffffffffffffffff
DATA tailmask<>+16(SB)/8, $0xffffffffffffffff
DATA tailmask<>+24(SB)/8, $0xffffffffffffffff
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// Constants, each replicated 8 times for use as a 256-bit memory operand.
// upper clamp of exp: ln(2^127), so 2^n stays a normal float
DATA exphi<>+0(SB)/8, $0x42b00f3442b00f34
DATA exphi<>+8(SB)/8, $0x42b00f3442b00f34
DATA exphi<>+16(SB)/8, $0x42b00f3442b00f34
DATA exphi<>+24(SB)/8, $0x42b00f3442b00f34
GLOBL exphi<>(SB), RODATA|NOPTR, $32
// lower clamp: ln(2^-126)
DATA explo<>+0(SB)/8, $0xc2aeac4fc2aeac4f
DATA explo<>+8(SB)/8, $0xc2aeac4fc2aeac4f
DATA explo<>+16(SB)/8, $0xc2aeac4fc2aeac4f
DATA explo<>+24(SB)/8, $0xc2aeac4fc2aeac4f
GLOBL explo<>(SB), RODATA|NOPTR, $32
DATA log2e<>+0(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA log2e<>+8(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA log2e<>+16(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA log2e<>+24(SB)/8, $0x3fb8aa3b3fb8aa3b
GLOBL log2e<>(SB), RODATA|NOPTR, $32
// ln 2 split in two (Cephes) for an exact n·ln2
DATA ln2hi<>+0(SB)/8, $0x3f3180003f318000
DATA ln2hi<>+8(SB)/8, $0x3f3180003f318000
DATA ln2hi<>+16(SB)/8, $0x3f3180003f318000
DATA ln2hi<>+24(SB)/8, $0x3f3180003f318000
GLOBL ln2hi<>(SB), RODATA|NOPTR, $32
DATA ln2lo<>+0(SB)/8, $0xb95e8083b95e8083
DATA ln2lo<>+8(SB)/8, $0xb95e8083b95e8083
DATA ln2lo<>+16(SB)/8, $0xb95e8083b95e8083
DATA ln2lo<>+24(SB)/8, $0xb95e8083b95e8083
GLOBL ln2lo<>(SB), RODATA|NOPTR, $32
// Cephes expf polynomial on [-ln2/2, ln2/2]
DATA expp0<>+0(SB)/8, $0x3950696739506967
DATA expp0<>+8(SB)/8, $0x3950696739506967
DATA expp0<>+16(SB)/8, $0x3950696739506967
DATA expp0<>+24(SB)/8, $0x3950696739506967
GLOBL expp0<>(SB), RODATA|NOPTR, $32
DATA expp1<>+0(SB)/8, $0x3ab743ce3ab743ce
DATA expp1<>+8(SB)/8, $0x3ab743ce3ab743ce
DATA expp1<>+16(SB)/8, $0x3ab743ce3ab743ce
DATA expp1<>+24(SB)/8, $0x3ab743ce3ab743ce
GLOBL expp1<>(SB), RODATA|NOPTR, $32
DATA expp2<>+0(SB)/8, $0x3c0889083c088908
DATA expp2<>+8(SB)/8, $0x3c0889083c088908
DATA expp2<>+16(SB)/8, $0x3c0889083c088908
DATA expp2<>+24(SB)/8, $0x3c0889083c088908
GLOBL expp2<>(SB), RODATA|NOPTR, $32
DATA expp3<>+0(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expp3<>+8(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expp3<>+16(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expp3<>+24(SB)/8, $0x3d2aa9c13d2aa9c1
GLOBL expp3<>(SB), RODATA|NOPTR, $32
DATA expp4<>+0(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expp4<>+8(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expp4<>+16(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expp4<>+24(SB)/8, $0x3e2aaaaa3e2aaaaa
GLOBL expp4<>(SB), RODATA|NOPTR, $32
DATA expp5<>+0(SB)/8, $0x3f0000003f000000
DATA expp5<>+8(SB)/8, $0x3f0000003f000000
DATA expp5<>+16(SB)/8, $0x3f0000003f000000
DATA expp5<>+24(SB)/8, $0x3f0000003f000000
GLOBL expp5<>(SB), RODATA|NOPTR, $32
DATA one<>+0(SB)/8, $0x3f8000003f800000
DATA one<>+8(SB)/8, $0x3f8000003f800000
DATA one<>+16(SB)/8, $0x3f8000003f800000
DATA one<>+24(SB)/8, $0x3f8000003f800000
GLOBL one<>(SB), RODATA|NOPTR, $32
// float exponent bias
DATA bias127<>+0(SB)/8, $0x0000007f0000007f
DATA bias127<>+8(SB)/8, $0x0000007f0000007f
DATA bias127<>+16(SB)/8, $0x0000007f0000007f
DATA bias127<>+24(SB)/8, $0x0000007f0000007f
GLOBL bias127<>(SB), RODATA|NOPTR, $32
// QuickGELU: x·σ(1.702x)
DATA neggelu<>+0(SB)/8, $0xbfd9db23bfd9db23
DATA neggelu<>+8(SB)/8, $0xbfd9db23bfd9db23
DATA neggelu<>+16(SB)/8, $0xbfd9db23bfd9db23
DATA neggelu<>+24(SB)/8, $0xbfd9db23bfd9db23
GLOBL neggelu<>(SB), RODATA|NOPTR, $32
DATA gelu<>+0(SB)/8, $0x3fd9db233fd9db23
DATA gelu<>+8(SB)/8, $0x3fd9db233fd9db23
DATA gelu<>+16(SB)/8, $0x3fd9db233fd9db23
DATA gelu<>+24(SB)/8, $0x3fd9db233fd9db23
GLOBL gelu<>(SB), RODATA|NOPTR, $32
DATA neginf<>+0(SB)/8, $0xff800000ff800000
DATA neginf<>+8(SB)/8, $0xff800000ff800000
DATA neginf<>+16(SB)/8, $0xff800000ff800000
DATA neginf<>+24(SB)/8, $0xff800000ff800000
GLOBL neginf<>(SB), RODATA|NOPTR, $32

// EXP(x, n, r, t) sets x ← exp(x) lane by lane (Cephes expf: n = round(x·log2e),
// r = x − n·ln2, exp(x) = 2^n·(1 + r + r²·p(r))); n, r, t are scratch.
#define EXP(x, n, r, t) \
	VMINPS exphi<>(SB), x, x; \
	VMAXPS explo<>(SB), x, x; \
	VMULPS log2e<>(SB), x, n; \
	VROUNDPS $0, n, n; \
	VFNMADD231PS ln2hi<>(SB), n, x; \
	VFNMADD231PS ln2lo<>(SB), n, x; \
	VMOVUPS expp0<>(SB), r; \
	VFMADD213PS expp1<>(SB), x, r; \
	VFMADD213PS expp2<>(SB), x, r; \
	VFMADD213PS expp3<>(SB), x, r; \
	VFMADD213PS expp4<>(SB), x, r; \
	VFMADD213PS expp5<>(SB), x, r; \
	VMULPS x, x, t; \
	VFMADD213PS x, t, r; \
	VADDPS one<>(SB), r, r; \
	VCVTPS2DQ n, n; \
	VPADDD bias127<>(SB), n, n; \
	VPSLLD $23, n, n; \
	VMULPS n, r, x

// TAILMASK(rem, m, t1, t2) sets m to enable the first rem lanes (0 < rem < 8).
#define TAILMASK(rem, m, t1, t2) \
	MOVQ $8, t1; \
	SUBQ rem, t1; \
	LEAQ tailmask<>(SB), t2; \
	VMOVUPS (t2)(t1*4), m

// HSUM(y, x, t) adds the 8 lanes of y into lane 0 of x, the low half of y.
#define HSUM(y, x, t) \
	VEXTRACTF128 $1, y, t; \
	VADDPS t, x, x; \
	VHADDPS x, x, x; \
	VHADDPS x, x, x

// GELU(x, y, t1, t2, t3) sets y ← x·σ(1.702x) = x / (1 + exp(−1.702x)).
#define GELU(x, y, t1, t2, t3) \
	VMULPS neggelu<>(SB), x, y; \
	EXP(y, t1, t2, t3); \
	VADDPS one<>(SB), y, y; \
	VDIVPS y, x, y

// GELUGRAD(x, g, t1, t2, t3) sets g ← d/dx[x·σ(1.702x)] = s·(1 + 1.702x·(1−s)),
// s = σ(1.702x).
#define GELUGRAD(x, g, t1, t2, t3) \
	VMULPS neggelu<>(SB), x, g; \
	EXP(g, t1, t2, t3); \
	VADDPS one<>(SB), g, g; \
	VMOVUPS one<>(SB), t1; \
	VDIVPS g, t1, g; \
	VSUBPS g, t1, t1; \
	VMULPS gelu<>(SB), x, t2; \
	VMULPS t2, t1, t1; \
	VADDPS one<>(SB), t1, t1; \
	VMULPS t1, g, g

// func expShiftSumAVX2(x *float32, n int, shift, scale float32) float32
TEXT ·expShiftSumAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS shift+16(FP), Y8
	VBROADCASTSS scale+20(FP), Y9
	VXORPS Y10, Y10, Y10
exps_loop:
	CMPQ CX, $8
	JLT exps_tail
	VMOVUPS (DI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	EXP(Y0, Y1, Y2, Y3)
	VMOVUPS Y0, (DI)
	VADDPS Y0, Y10, Y10
	ADDQ $32, DI
	SUBQ $8, CX
	JMP exps_loop
exps_tail:
	TESTQ CX, CX
	JEQ exps_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	EXP(Y0, Y1, Y2, Y3)
	VMASKMOVPS Y0, Y15, (DI)
	VANDPS Y15, Y0, Y0
	VADDPS Y0, Y10, Y10
exps_done:
	HSUM(Y10, X10, X11)
	MOVSS X10, ret+24(FP)
	VZEROUPPER
	RET

// func quickGELUAVX2(out, in *float32, n int)
TEXT ·quickGELUAVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
gelu_loop:
	CMPQ CX, $8
	JLT gelu_tail
	VMOVUPS (SI), Y0
	GELU(Y0, Y1, Y2, Y3, Y4)
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP gelu_loop
gelu_tail:
	TESTQ CX, CX
	JEQ gelu_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (SI), Y15, Y0
	GELU(Y0, Y1, Y2, Y3, Y4)
	VMASKMOVPS Y1, Y15, (DI)
gelu_done:
	VZEROUPPER
	RET

// func quickGELUGradAVX2(dinp, in, dout *float32, n int)
TEXT ·quickGELUGradAVX2(SB), NOSPLIT, $0-32
	MOVQ dinp+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ dout+16(FP), DX
	MOVQ n+24(FP), CX
gelug_loop:
	CMPQ CX, $8
	JLT gelug_tail
	VMOVUPS (SI), Y0
	GELUGRAD(Y0, Y1, Y2, Y3, Y4)
	VMOVUPS (DI), Y5
	VFMADD231PS (DX), Y1, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP gelug_loop
gelug_tail:
	TESTQ CX, CX
	JEQ gelug_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (SI), Y15, Y0
	GELUGRAD(Y0, Y1, Y2, Y3, Y4)
	VMASKMOVPS (DI), Y15, Y5
	VMASKMOVPS (DX), Y15, Y6
	VFMADD231PS Y6, Y1, Y5
	VMASKMOVPS Y5, Y15, (DI)
gelug_done:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VMOVUPS neginf<>(SB), Y9
	VMOVUPS Y9, Y10
max_loop:
	CMPQ CX, $8
	JLT max_tail
	VMAXPS (DI), Y10, Y10
	ADDQ $32, DI
	SUBQ $8, CX
	JMP max_loop
max_tail:
	TESTQ CX, CX
	JEQ max_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VBLENDVPS Y15, Y0, Y9, Y0
	VMAXPS Y0, Y10, Y10
max_done:
	VEXTRACTF128 $1, Y10, X11
	VMAXPS X11, X10, X10
	VPERMILPS $0x4E, X10, X11
	VMAXPS X11, X10, X10
	VPERMILPS $0xB1, X10, X11
	VMAXPS X11, X10, X10
	MOVSS X10, ret+16(FP)
	VZEROUPPER
	RET

// func sumAVX2(x *float32, n int) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VXORPS Y10, Y10, Y10
sum_loop:
	CMPQ CX, $8
	JLT sum_tail
	VADDPS (DI), Y10, Y10
	ADDQ $32, DI
	SUBQ $8, CX
	JMP sum_loop
sum_tail:
	TESTQ CX, CX
	JEQ sum_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VADDPS Y0, Y10, Y10
sum_done:
	HSUM(Y10, X10, X11)
	MOVSS X10, ret+16(FP)
	VZEROUPPER
	RET

// func dotAVX2(x, y *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y10, Y10, Y10
dot_loop:
	CMPQ CX, $8
	JLT dot_tail
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y0, Y10
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP dot_loop
dot_tail:
	TESTQ CX, CX
	JEQ dot_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VMASKMOVPS (SI), Y15, Y1
	VFMADD231PS Y1, Y0, Y10
dot_done:
	HSUM(Y10, X10, X11)
	MOVSS X10, ret+24(FP)
	VZEROUPPER
	RET

// func sumSqDevAVX2(x *float32, n int, m float32) float32
TEXT ·sumSqDevAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y8
	VXORPS Y10, Y10, Y10
ssd_loop:
	CMPQ CX, $8
	JLT ssd_tail
	VMOVUPS (DI), Y0
	VSUBPS Y8, Y0, Y0
	VFMADD231PS Y0, Y0, Y10
	ADDQ $32, DI
	SUBQ $8, CX
	JMP ssd_loop
ssd_tail:
	TESTQ CX, CX
	JEQ ssd_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VSUBPS Y8, Y0, Y0
	VANDPS Y15, Y0, Y0
	VFMADD231PS Y0, Y0, Y10
ssd_done:
	HSUM(Y10, X10, X11)
	MOVSS X10, ret+24(FP)
	VZEROUPPER
	RET

// func lnAffineAVX2(y, x, w, b *float32, n int, m, s float32)
TEXT ·lnAffineAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS s+44(FP), Y9
lna_loop:
	CMPQ CX, $8
	JLT lna_tail
	VMOVUPS (SI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS (DX), Y1
	VFMADD213PS (R8), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	SUBQ $8, CX
	JMP lna_loop
lna_tail:
	TESTQ CX, CX
	JEQ lna_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (SI), Y15, Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMASKMOVPS (DX), Y15, Y1
	VMASKMOVPS (R8), Y15, Y2
	VFMADD213PS Y2, Y1, Y0
	VMASKMOVPS Y0, Y15, (DI)
lna_done:
	VZEROUPPER
	RET

// func lnGradSumsAVX2(dy, x, w *float32, n int, m, s float32) (sg, sgn float32)
TEXT ·lnGradSumsAVX2(SB), NOSPLIT, $0-48
	MOVQ dy+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS m+32(FP), Y8
	VBROADCASTSS s+36(FP), Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y12, Y12, Y12
lngs_loop:
	CMPQ CX, $8
	JLT lngs_tail
	VMOVUPS (DX), Y1
	VMULPS (DI), Y1, Y1
	VADDPS Y1, Y10, Y10
	VMOVUPS (SI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VFMADD231PS Y0, Y1, Y12
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP lngs_loop
lngs_tail:
	TESTQ CX, CX
	JEQ lngs_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DX), Y15, Y1
	VMASKMOVPS (DI), Y15, Y2
	VMULPS Y2, Y1, Y1
	VADDPS Y1, Y10, Y10
	VMASKMOVPS (SI), Y15, Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VFMADD231PS Y0, Y1, Y12
lngs_done:
	HSUM(Y10, X10, X11)
	MOVSS X10, sg+40(FP)
	HSUM(Y12, X12, X13)
	MOVSS X12, sgn+44(FP)
	VZEROUPPER
	RET

// func lnGradAVX2(dx, dy, x, w *float32, n int, m, s, mg, mgn float32)
TEXT ·lnGradAVX2(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y8
	VBROADCASTSS s+44(FP), Y9
	VBROADCASTSS mg+48(FP), Y10
	VBROADCASTSS mgn+52(FP), Y11
lng_loop:
	CMPQ CX, $8
	JLT lng_tail
	VMOVUPS (DX), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS (R8), Y1
	VMULPS (SI), Y1, Y1
	VSUBPS Y10, Y1, Y1
	VFNMADD231PS Y11, Y0, Y1
	VMOVUPS (DI), Y2
	VFMADD231PS Y9, Y1, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	SUBQ $8, CX
	JMP lng_loop
lng_tail:
	TESTQ CX, CX
	JEQ lng_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DX), Y15, Y0
	VSUBPS Y8, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMASKMOVPS (R8), Y15, Y1
	VMASKMOVPS (SI), Y15, Y3
	VMULPS Y3, Y1, Y1
	VSUBPS Y10, Y1, Y1
	VFNMADD231PS Y11, Y0, Y1
	VMASKMOVPS (DI), Y15, Y2
	VFMADD231PS Y9, Y1, Y2
	VMASKMOVPS Y2, Y15, (DI)
lng_done:
	VZEROUPPER
	RET

// func addAVX2(out, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
add_loop:
	CMPQ CX, $8
	JLT add_tail
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP add_loop
add_tail:
	TESTQ CX, CX
	JEQ add_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (SI), Y15, Y0
	VMASKMOVPS (DX), Y15, Y1
	VADDPS Y1, Y0, Y0
	VMASKMOVPS Y0, Y15, (DI)
add_done:
	VZEROUPPER
	RET

// func axpyAVX2(y, x *float32, n int, alpha float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-28
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS alpha+24(FP), Y8
axpy_loop:
	CMPQ CX, $8
	JLT axpy_tail
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y8, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP axpy_loop
axpy_tail:
	TESTQ CX, CX
	JEQ axpy_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VMASKMOVPS (SI), Y15, Y1
	VFMADD231PS Y1, Y8, Y0
	VMASKMOVPS Y0, Y15, (DI)
axpy_done:
	VZEROUPPER
	RET

// func scaleAVX2(out, x *float32, n int, alpha float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-28
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS alpha+24(FP), Y8
scale_loop:
	CMPQ CX, $8
	JLT scale_tail
	VMULPS (SI), Y8, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP scale_loop
scale_tail:
	TESTQ CX, CX
	JEQ scale_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (SI), Y15, Y0
	VMULPS Y0, Y8, Y0
	VMASKMOVPS Y0, Y15, (DI)
scale_done:
	VZEROUPPER
	RET

// func softmaxGradAVX2(dp, p *float32, n int, pd, scale float32)
TEXT ·softmaxGradAVX2(SB), NOSPLIT, $0-32
	MOVQ dp+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS pd+24(FP), Y8
	VBROADCASTSS scale+28(FP), Y9
smg_loop:
	CMPQ CX, $8
	JLT smg_tail
	VMOVUPS (DI), Y0
	VSUBPS Y8, Y0, Y0
	VMULPS (SI), Y0, Y0
	VMULPS Y9, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP smg_loop
smg_tail:
	TESTQ CX, CX
	JEQ smg_done
	TAILMASK(CX, Y15, AX, BX)
	VMASKMOVPS (DI), Y15, Y0
	VMASKMOVPS (SI), Y15, Y1
	VSUBPS Y8, Y0, Y0
	VMULPS Y1, Y0, Y0
	VMULPS Y9, Y0, Y0
	VMASKMOVPS Y0, Y15, (DI)
smg_done:
	VZEROUPPER
	RET
