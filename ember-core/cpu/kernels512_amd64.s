//go:build amd64 && !purego

// AVX-512 (F, BW, VL) kernels for the CPU device: the dot products, the GEMM
// tile, the attention weighted sums and the widening loops of
// kernels_amd64.s, sixteen lanes wide. kernels.go says what each computes.
//
// The sixteen-lane summation order, shared by every kernel here so that a
// row's dot product has the same bits in a decode group, alone, widened first
// or in a GEMM tile: lane l accumulates elements l, l+16, l+32, … with one
// fused multiply-add each; the k%16 tail elements go to lanes 0…t-1 (the
// other lanes add +0); lane l then takes lane l+8 (l < 8), and the eight
// lanes are reduced as in kernels_amd64.s: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
// This differs from the eight-lane order of the AVX2 kernels, so the two
// assembly paths agree to rounding, not bitwise.
//
// Tails use opmask K1 = (1<<t)-1 with zeroing loads (VMOVUPS.Z,
// VMOVDQU16.Z), which never touch the masked elements' memory: rows may end
// at the end of a mapping, and 16-bit rows need no minimum length.

#include "textflag.h"

// PFAHEAD is how far past the next group of four rows the dot loops prefetch,
// in address order, as many lines an iteration as the group's rows read (see
// kernels_amd64.s: four row streams alone get about three quarters of one
// sequential stream's bandwidth).
#define PFAHEAD 8192

// PF4 and PF8 prefetch 4 or 8 lines from the cursor R14 and advance it.
#define PF4 \
	PREFETCHT0 (R14)    \
	PREFETCHT0 64(R14)  \
	PREFETCHT0 128(R14) \
	PREFETCHT0 192(R14) \
	ADDQ       $256, R14

#define PF8 \
	PF4 \
	PF4

// HSUM16 reduces the 16 lanes of Z (Y and X its lower halves) into X's lane 0
// in the order above. The temporaries are Z20/Y20/X20 (EVEX encodings), so
// Z0…Z15 may all hold accumulators.
#define HSUM16(Z, Y, X) \
	VEXTRACTF64X4 $1, Z, Y20   \
	VADDPS        Y20, Y, Y    \
	VEXTRACTF32X4 $1, Y, X20   \
	VADDPS        X20, X, X    \
	VMOVHLPS      X, X, X20    \
	VADDPS        X20, X, X    \
	VMOVSHDUP     X, X20       \
	VADDSS        X20, X, X

// HALVES sets A = [A's lower 256 bits + A's upper | B's lower + B's upper]:
// the first step of HSUM16 for two accumulators at once (YB is B's lower half).
#define HALVES(A, B, YB) \
	VINSERTF64X4 $1, YB, A, Z21 \
	VSHUFF64X2   $0xee, B, A, Z22 \
	VADDPS       Z22, Z21, A

// QUARTERS sets A, holding two accumulators' halves [a | b], and B's [c | d],
// to [a's lower 128 bits + upper | b's | c's | d's]: HSUM16's second step for
// four accumulators.
#define QUARTERS(A, B) \
	VSHUFF32X4 $0x88, B, A, Z21 \
	VSHUFF32X4 $0xdd, B, A, Z22 \
	VADDPS     Z22, Z21, A

// WROW adds the broadcast weight E times the value vectors Z16…Z19 into
// accumulators A0…A3 (wsum4x512F32's one row of one step).
#define WROW(E, A0, A1, A2, A3) \
	VFMADD231PS Z16, E, A0 \
	VFMADD231PS Z17, E, A1 \
	VFMADD231PS Z18, E, A2 \
	VFMADD231PS Z19, E, A3

// TAILMASK sets opmask K1 to R%16 low bits; clobbers AX and CX.
#define TAILMASK(R) \
	MOVQ  R, CX  \
	ANDQ  $15, CX \
	MOVL  $1, AX \
	SHLL  CX, AX \
	DECL  AX     \
	KMOVW AX, K1

// Loads of 16 elements into a Z register V (H is its low half): whole (LD…) and
// tail (LT…, opmask K1, masked elements zero and not read).
#define LDF32(addr, V, H) \
	VMOVUPS addr, V

#define LTF32(addr, V, H) \
	VMOVUPS.Z addr, K1, V

#define LDBF16(addr, V, H) \
	VPMOVZXWD addr, V \
	VPSLLD    $16, V, V

#define LTBF16(addr, V, H) \
	VMOVDQU16.Z addr, K1, H \
	VPMOVZXWD   H, V        \
	VPSLLD      $16, V, V

#define LDF16(addr, V, H) \
	VCVTPH2PS addr, V

#define LTF16(addr, V, H) \
	VMOVDQU16.Z addr, K1, H \
	VCVTPH2PS   H, V

// ROWS4 multiplies the x vector X by 16 columns at offset WO of each of the
// group's four rows (AX BX CX DX), loaded with L, into Z0…Z3.
#define ROWS4(L, WO, X) \
	L(WO(AX), Z6, Y6) \
	L(WO(BX), Z7, Y7) \
	L(WO(CX), Z8, Y8) \
	L(WO(DX), Z9, Y9) \
	VFMADD231PS Z6, X, Z0 \
	VFMADD231PS Z7, X, Z1 \
	VFMADD231PS Z8, X, Z2 \
	VFMADD231PS Z9, X, Z3

// DOTS is the body of dots512F32/BF16/F16 with the arguments in registers:
// R10 out, SI x, DI w, R12 k, R8 stride (elements), R9 rows. ES is the weight
// element size in bytes, SH its log2, PF the prefetch of an iteration's worth
// of lines (PF4 for 16-bit rows, PF8 for f32). Rows go in groups of four
// sharing each x vector, 32 columns an iteration (a 64-byte line of a 16-bit
// row); then one 16-column vector, then the tail. Leftover rows go one at a
// time. Registers: R11 end of x's full vectors, R12 end of x's 32-column
// pairs, R13 x cursor, R14 prefetch cursor (ABI0 code may use R14), AX BX CX
// DX the group's rows.
#define DOTS(LD, LT, ES, SH, PF, Lgroup, Lpair, Lone, Ltail, Lsum, Lsingle, Lsloop, Lstail, Lssum, Ldone) \
	SHLQ $SH, R8 \
	TAILMASK(R12) \
	MOVQ R12, R11 \
	ANDQ $-16, R11 \
	LEAQ (SI)(R11*4), R11 \
	ANDQ $-32, R12 \
	LEAQ (SI)(R12*4), R12 \
Lgroup: \
	CMPQ R9, $4 \
	JLT  Lsingle \
	MOVQ SI, R13 \
	MOVQ DI, AX \
	LEAQ (DI)(R8*1), BX \
	LEAQ (DI)(R8*2), CX \
	LEAQ (BX)(R8*2), DX \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	LEAQ PFAHEAD(BX)(R8*2), R14 \
	ADDQ R8, R14 \
Lpair: \
	CMPQ R13, R12 \
	JAE  Lone \
	PF \
	VMOVUPS (R13), Z4 \
	VMOVUPS 64(R13), Z5 \
	ROWS4(LD, 0, Z4) \
	ROWS4(LD, 16*ES, Z5) \
	ADDQ $128, R13 \
	ADDQ $(32*ES), AX \
	ADDQ $(32*ES), BX \
	ADDQ $(32*ES), CX \
	ADDQ $(32*ES), DX \
	JMP  Lpair \
Lone: \
	CMPQ R13, R11 \
	JAE  Ltail \
	VMOVUPS (R13), Z4 \
	ROWS4(LD, 0, Z4) \
	ADDQ $64, R13 \
	ADDQ $(16*ES), AX \
	ADDQ $(16*ES), BX \
	ADDQ $(16*ES), CX \
	ADDQ $(16*ES), DX \
Ltail: \
	KORTESTW K1, K1 \
	JZ   Lsum \
	VMOVUPS.Z (R13), K1, Z4 \
	ROWS4(LT, 0, Z4) \
Lsum: \
	HSUM16(Z0, Y0, X0) \
	HSUM16(Z1, Y1, X1) \
	HSUM16(Z2, Y2, X2) \
	HSUM16(Z3, Y3, X3) \
	VMOVSS X0, (R10) \
	VMOVSS X1, 4(R10) \
	VMOVSS X2, 8(R10) \
	VMOVSS X3, 12(R10) \
	ADDQ $16, R10 \
	LEAQ (DI)(R8*4), DI \
	SUBQ $4, R9 \
	JMP  Lgroup \
Lsingle: \
	TESTQ R9, R9 \
	JZ    Ldone \
	MOVQ  SI, R13 \
	MOVQ  DI, AX \
	VPXORD Z0, Z0, Z0 \
Lsloop: \
	CMPQ R13, R11 \
	JAE  Lstail \
	VMOVUPS (R13), Z4 \
	LD((AX), Z6, Y6) \
	VFMADD231PS Z6, Z4, Z0 \
	ADDQ $64, R13 \
	ADDQ $(16*ES), AX \
	JMP  Lsloop \
Lstail: \
	KORTESTW K1, K1 \
	JZ   Lssum \
	VMOVUPS.Z (R13), K1, Z4 \
	LT((AX), Z6, Y6) \
	VFMADD231PS Z6, Z4, Z0 \
Lssum: \
	HSUM16(Z0, Y0, X0) \
	VMOVSS X0, (R10) \
	ADDQ $4, R10 \
	ADDQ R8, DI \
	DECQ R9 \
	JMP  Lsingle \
Ldone: \
	VZEROUPPER \
	RET

// func dots512F32(out *float32, x *float32, w *float32, k int, stride int, rows int)
TEXT ·dots512F32(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ k+24(FP), R12
	MOVQ stride+32(FP), R8
	MOVQ rows+40(FP), R9
	DOTS(LDF32, LTF32, 4, 2, PF8, zfgroup, zfpair, zfone, zftail, zfsum, zfsingle, zfsloop, zfstail, zfssum, zfdone)

// func dots512BF16(out *float32, x *float32, w *uint16, k int, stride int, rows int)
TEXT ·dots512BF16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ k+24(FP), R12
	MOVQ stride+32(FP), R8
	MOVQ rows+40(FP), R9
	DOTS(LDBF16, LTBF16, 2, 1, PF4, zbgroup, zbpair, zbone, zbtail, zbsum, zbsingle, zbsloop, zbstail, zbssum, zbdone)

// func dots512F16(out *float32, x *float32, w *uint16, k int, stride int, rows int)
TEXT ·dots512F16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ k+24(FP), R12
	MOVQ stride+32(FP), R8
	MOVQ rows+40(FP), R9
	DOTS(LDF16, LTF16, 2, 1, PF4, zhgroup, zhpair, zhone, zhtail, zhsum, zhsingle, zhsloop, zhstail, zhssum, zhdone)

// ROW4 multiplies the a vector in Z20 into accumulators A0…A3 against the
// four b vectors Z16…Z19.
#define ROW4(A0, A1, A2, A3) \
	VFMADD231PS Z16, Z20, A0 \
	VFMADD231PS Z17, Z20, A1 \
	VFMADD231PS Z18, Z20, A2 \
	VFMADD231PS Z19, Z20, A3

// func gemm512(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int)
//
// c[i*ldc+j] = Σ_p a[i*lda+p]·b[j*ldb+p] for i < 4 and j < m (m a multiple
// of 4): sixteen accumulators Z0…Z15 (Z(4i+j)), so that each 16-column step
// loads four rows of a and four of b for sixteen FMAs.
// Registers: AX BX DX SI rows of a, DI R8 R9 R10 rows of b, CX column offset
// in bytes, R11 end of the full vectors, R12 c, R13 tiles left.
TEXT ·gemm512(SB), NOSPLIT, $0-64
	MOVQ k+56(FP), R12
	TAILMASK(R12)
	MOVQ a+16(FP), AX
	MOVQ lda+24(FP), R13
	SHLQ $2, R13
	LEAQ (AX)(R13*1), BX
	LEAQ (AX)(R13*2), DX
	LEAQ (BX)(R13*2), SI
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R13
	SHLQ $2, R13
	LEAQ (DI)(R13*1), R8
	LEAQ (DI)(R13*2), R9
	LEAQ (R8)(R13*2), R10
	MOVQ c+0(FP), R12
	MOVQ m+48(FP), R13
	SHRQ $2, R13

ztile:
	TESTQ R13, R13
	JZ    zgdone
	MOVQ  k+56(FP), R11
	ANDQ  $-16, R11
	SHLQ  $2, R11 // bytes of full vectors per row
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	XORQ CX, CX

zgloop:
	CMPQ    CX, R11
	JAE     zgtail
	VMOVUPS (DI)(CX*1), Z16
	VMOVUPS (R8)(CX*1), Z17
	VMOVUPS (R9)(CX*1), Z18
	VMOVUPS (R10)(CX*1), Z19
	VMOVUPS (AX)(CX*1), Z20
	ROW4(Z0, Z1, Z2, Z3)
	VMOVUPS (BX)(CX*1), Z20
	ROW4(Z4, Z5, Z6, Z7)
	VMOVUPS (DX)(CX*1), Z20
	ROW4(Z8, Z9, Z10, Z11)
	VMOVUPS (SI)(CX*1), Z20
	ROW4(Z12, Z13, Z14, Z15)
	ADDQ    $64, CX
	JMP     zgloop

zgtail:
	KORTESTW K1, K1
	JZ       zgstore
	VMOVUPS.Z (DI)(CX*1), K1, Z16
	VMOVUPS.Z (R8)(CX*1), K1, Z17
	VMOVUPS.Z (R9)(CX*1), K1, Z18
	VMOVUPS.Z (R10)(CX*1), K1, Z19
	VMOVUPS.Z (AX)(CX*1), K1, Z20
	ROW4(Z0, Z1, Z2, Z3)
	VMOVUPS.Z (BX)(CX*1), K1, Z20
	ROW4(Z4, Z5, Z6, Z7)
	VMOVUPS.Z (DX)(CX*1), K1, Z20
	ROW4(Z8, Z9, Z10, Z11)
	VMOVUPS.Z (SI)(CX*1), K1, Z20
	ROW4(Z12, Z13, Z14, Z15)

zgstore:
	// The sixteen sums, reduced together: the same pairs HSUM16 adds (lane
	// l + lane l+8, then +4, +2, +1, the lower lane first), so each sum has
	// dots512's bits, in 45 shuffles and adds instead of 128 instructions.
	// Z21 and Z22 hold the lower and upper parts of each step.
	// Halves: Z(u) = [Z(u) | Z(4+u)], Z(8+u) = [Z(8+u) | Z(12+u)], 8 lanes each.
	HALVES(Z0, Z4, Y4)
	HALVES(Z1, Z5, Y5)
	HALVES(Z2, Z6, Y6)
	HALVES(Z3, Z7, Y7)
	HALVES(Z8, Z12, Y12)
	HALVES(Z9, Z13, Y13)
	HALVES(Z10, Z14, Y14)
	HALVES(Z11, Z15, Y15)
	// Quarters: Z(u) = 4 lanes of each of Z(u), Z(4+u), Z(8+u), Z(12+u).
	QUARTERS(Z0, Z8)
	QUARTERS(Z1, Z9)
	QUARTERS(Z2, Z10)
	QUARTERS(Z3, Z11)
	// Pairs within each 128-bit lane, then the last add: lane 4i+j of Z0 is
	// the sum of Z(4i+j), c's row i, column j.
	VSHUFPS $0x44, Z1, Z0, Z21
	VSHUFPS $0xee, Z1, Z0, Z22
	VADDPS  Z22, Z21, Z0
	VSHUFPS $0x44, Z3, Z2, Z21
	VSHUFPS $0xee, Z3, Z2, Z22
	VADDPS  Z22, Z21, Z2
	VSHUFPS $0x88, Z2, Z0, Z21
	VSHUFPS $0xdd, Z2, Z0, Z22
	VADDPS  Z22, Z21, Z0
	MOVQ    ldc+8(FP), CX
	SHLQ    $2, CX
	VMOVUPS X0, (R12)
	VEXTRACTF32X4 $1, Z0, X21
	VMOVUPS X21, (R12)(CX*1)
	VEXTRACTF32X4 $2, Z0, X21
	VMOVUPS X21, (R12)(CX*2)
	LEAQ    (R12)(CX*2), R11
	VEXTRACTF32X4 $3, Z0, X21
	VMOVUPS X21, (R11)(CX*1)
	// Next four rows of b.
	MOVQ ldb+40(FP), CX
	SHLQ $2, CX
	LEAQ (R10)(CX*1), DI
	LEAQ (DI)(CX*1), R8
	LEAQ (R8)(CX*1), R9
	LEAQ (R9)(CX*1), R10
	ADDQ $16, R12
	DECQ R13
	JMP  ztile

zgdone:
	VZEROUPPER
	RET

// WSUM16 is the body of wsum512F32/BF16/F16: out[j] = Σ_t e[t]·v[t*stride+j]
// for j < cols (a multiple of 16), one FMA chain per column in t order — the
// same chains as the AVX2 WSUM, so both give the same bits. Columns go in
// blocks of 128 (eight accumulators), then 16 at a time.
// Arguments in registers: R10 out, SI e, DI v, R8 stride, R9 ctx, R11 cols.
#define WSUM16(LD, ES, SH, Lblk8, Lt8, Lst8, Lblk1, Lt1, Lst1, Ldone) \
	SHLQ $SH, R8 \
Lblk8: \
	CMPQ R11, $128 \
	JLT  Lblk1 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	MOVQ SI, AX \
	MOVQ DI, BX \
	MOVQ R9, CX \
	TESTQ CX, CX \
	JZ   Lst8 \
Lt8: \
	VBROADCASTSS (AX), Z8 \
	LD((BX), Z9, Y9) \
	LD(16*ES(BX), Z10, Y10) \
	LD(32*ES(BX), Z11, Y11) \
	LD(48*ES(BX), Z12, Y12) \
	VFMADD231PS Z9, Z8, Z0 \
	VFMADD231PS Z10, Z8, Z1 \
	VFMADD231PS Z11, Z8, Z2 \
	VFMADD231PS Z12, Z8, Z3 \
	LD(64*ES(BX), Z9, Y9) \
	LD(80*ES(BX), Z10, Y10) \
	LD(96*ES(BX), Z11, Y11) \
	LD(112*ES(BX), Z12, Y12) \
	VFMADD231PS Z9, Z8, Z4 \
	VFMADD231PS Z10, Z8, Z5 \
	VFMADD231PS Z11, Z8, Z6 \
	VFMADD231PS Z12, Z8, Z7 \
	ADDQ $4, AX \
	ADDQ R8, BX \
	DECQ CX \
	JNZ  Lt8 \
Lst8: \
	VMOVUPS Z0, (R10) \
	VMOVUPS Z1, 64(R10) \
	VMOVUPS Z2, 128(R10) \
	VMOVUPS Z3, 192(R10) \
	VMOVUPS Z4, 256(R10) \
	VMOVUPS Z5, 320(R10) \
	VMOVUPS Z6, 384(R10) \
	VMOVUPS Z7, 448(R10) \
	ADDQ $512, R10 \
	ADDQ $(128*ES), DI \
	SUBQ $128, R11 \
	JMP  Lblk8 \
Lblk1: \
	CMPQ R11, $16 \
	JLT  Ldone \
	VPXORD Z0, Z0, Z0 \
	MOVQ SI, AX \
	MOVQ DI, BX \
	MOVQ R9, CX \
	TESTQ CX, CX \
	JZ   Lst1 \
Lt1: \
	VBROADCASTSS (AX), Z8 \
	LD((BX), Z9, Y9) \
	VFMADD231PS Z9, Z8, Z0 \
	ADDQ $4, AX \
	ADDQ R8, BX \
	DECQ CX \
	JNZ  Lt1 \
Lst1: \
	VMOVUPS Z0, (R10) \
	ADDQ $64, R10 \
	ADDQ $(16*ES), DI \
	SUBQ $16, R11 \
	JMP  Lblk1 \
Ldone: \
	VZEROUPPER \
	RET

// func wsum512F32(out *float32, e *float32, v *float32, stride int, ctx int, cols int)
TEXT ·wsum512F32(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ e+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ stride+24(FP), R8
	MOVQ ctx+32(FP), R9
	MOVQ cols+40(FP), R11
	WSUM16(LDF32, 4, 2, zwfblk8, zwft8, zwfst8, zwfblk1, zwft1, zwfst1, zwfdone)

// func wsum512BF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)
TEXT ·wsum512BF16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ e+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ stride+24(FP), R8
	MOVQ ctx+32(FP), R9
	MOVQ cols+40(FP), R11
	WSUM16(LDBF16, 2, 1, zwbblk8, zwbt8, zwbst8, zwbblk1, zwbt1, zwbst1, zwbdone)

// func wsum512F16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)
TEXT ·wsum512F16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ e+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ stride+24(FP), R8
	MOVQ ctx+32(FP), R9
	MOVQ cols+40(FP), R11
	WSUM16(LDF16, 2, 1, zwhblk8, zwht8, zwhst8, zwhblk1, zwht1, zwhst1, zwhdone)

// func widen512BF16(dst *float32, src *uint16, n int)
// Widens n bfloat16 values (any n; the last n%16 with a masked load); exact.
TEXT ·widen512BF16(SB), NOSPLIT, $0-24
	MOVQ n+16(FP), R12
	TAILMASK(R12)
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	SHRQ $4, R12
	JZ   zwbtail

zwbloop:
	LDBF16((SI), Z0, Y0)
	VMOVUPS Z0, (DI)
	ADDQ    $32, SI
	ADDQ    $64, DI
	DECQ    R12
	JNZ     zwbloop

zwbtail:
	KORTESTW K1, K1
	JZ       zwbdone
	LTBF16((SI), Z0, Y0)
	VMOVUPS  Z0, K1, (DI)

zwbdone:
	VZEROUPPER
	RET

// func widen512F16(dst *float32, src *uint16, n int)
// Widens n IEEE half values (any n); exact.
TEXT ·widen512F16(SB), NOSPLIT, $0-24
	MOVQ n+16(FP), R12
	TAILMASK(R12)
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	SHRQ $4, R12
	JZ   zwhtail

zwhloop:
	LDF16((SI), Z0, Y0)
	VMOVUPS Z0, (DI)
	ADDQ    $32, SI
	ADDQ    $64, DI
	DECQ    R12
	JNZ     zwhloop

zwhtail:
	KORTESTW K1, K1
	JZ       zwhdone
	LTF16((SI), Z0, Y0)
	VMOVUPS  Z0, K1, (DI)

zwhdone:
	VZEROUPPER
	RET

// VDPBF16PS Z(d), Z(s), Z(r) (AVX512_BF16), which Go's assembler does not
// know, as its EVEX bytes: Z(d) lane i += s[2i+1]·r[2i+1], then += s[2i]·r[2i]
// (bfloat16 pairs, products exact in float32, each sum rounded to nearest
// even; input and output denormals flushed to zero). d, s, r are register
// numbers 0…31.
#define DPBF16(d, s, r) \
	BYTE $0x62; \
	BYTE $(((1-(((d)>>3)&1))<<7) | ((1-(((r)>>4)&1))<<6) | ((1-(((r)>>3)&1))<<5) | ((1-(((d)>>4)&1))<<4) | 2); \
	BYTE $(((15-((s)&15))<<3) | 6); \
	BYTE $(0x40 | ((1-(((s)>>4)&1))<<3)); \
	BYTE $0x52; \
	BYTE $(0xC0 | (((d)&7)<<3) | ((r)&7))

// DP3 accumulates weight vector Z(w) against the three parts of x (Z10 high,
// Z11 middle, Z12 low) into a row's three accumulators.
#define DP3(w, hi, mid, lo) \
	DPBF16(hi, w, 10) \
	DPBF16(mid, w, 11) \
	DPBF16(lo, w, 12)

// SUM3 folds a row's accumulators as hi + (mid + lo), lane by lane, into
// Z(hi), then HSUM16 reduces it.
#define SUM3(ZHI, YHI, XHI, ZMID, ZLO) \
	VADDPS ZLO, ZMID, ZMID \
	VADDPS ZMID, ZHI, ZHI  \
	HSUM16(ZHI, YHI, XHI)

// func dotsDPBF16(out *float32, xs *uint16, w *uint16, k int, stride int, rows int)
//
// out[r] = Σ_i x[i]·w[r*stride+i] for bfloat16 rows w with VDPBF16PS. x comes
// split into three bfloat16 parts (x ≈ hi + mid + lo to float32's precision;
// splitX3), laid out per 32-column block as hi[32], mid[32], lo[32] and zero
// past k, so each block is three 64-byte loads. Each row keeps one
// accumulator per part, folded at the end as hi + (mid + lo): twelve
// independent chains for a group of four rows. A row's weights are read
// once, 64 bytes (one line) per block, the k%32 tail with a zeroing masked
// load; memory past the next group is prefetched in address order, as in DOTS.
// Registers: R10 out, R13 xs cursor, DI the group's first row, R8 stride in
// bytes, R9 rows left, R11 full blocks, R12 blocks left, R14 prefetch
// cursor, K1 tail mask, AX BX CX DX the group's rows; accumulators Z0…Z3
// (hi), Z16…Z19 (mid), Z24…Z27 (lo); weights Z6…Z9; x parts Z10…Z12.
TEXT ·dotsDPBF16(SB), NOSPLIT, $0-48
	MOVQ  k+24(FP), R11
	MOVQ  R11, CX
	ANDQ  $31, CX
	MOVL  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVD AX, K1
	SHRQ  $5, R11
	MOVQ  out+0(FP), R10
	MOVQ  w+16(FP), DI
	MOVQ  stride+32(FP), R8
	SHLQ  $1, R8
	MOVQ  rows+40(FP), R9

dpgroup:
	CMPQ   R9, $4
	JLT    dpsingle
	MOVQ   xs+8(FP), R13
	MOVQ   DI, AX
	LEAQ   (DI)(R8*1), BX
	LEAQ   (DI)(R8*2), CX
	LEAQ   (BX)(R8*2), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	MOVQ   R11, R12
	LEAQ   PFAHEAD(BX)(R8*2), R14
	ADDQ   R8, R14

dploop:
	TESTQ      R12, R12
	JZ         dptail
	PF4
	VMOVDQU16  (R13), Z10
	VMOVDQU16  64(R13), Z11
	VMOVDQU16  128(R13), Z12
	VMOVDQU16  (AX), Z6
	VMOVDQU16  (BX), Z7
	VMOVDQU16  (CX), Z8
	VMOVDQU16  (DX), Z9
	DP3(6, 0, 16, 24)
	DP3(7, 1, 17, 25)
	DP3(8, 2, 18, 26)
	DP3(9, 3, 19, 27)
	ADDQ       $192, R13
	ADDQ       $64, AX
	ADDQ       $64, BX
	ADDQ       $64, CX
	ADDQ       $64, DX
	DECQ       R12
	JMP        dploop

dptail:
	KORTESTD    K1, K1
	JZ          dpsum
	VMOVDQU16   (R13), Z10
	VMOVDQU16   64(R13), Z11
	VMOVDQU16   128(R13), Z12
	VMOVDQU16.Z (AX), K1, Z6
	VMOVDQU16.Z (BX), K1, Z7
	VMOVDQU16.Z (CX), K1, Z8
	VMOVDQU16.Z (DX), K1, Z9
	DP3(6, 0, 16, 24)
	DP3(7, 1, 17, 25)
	DP3(8, 2, 18, 26)
	DP3(9, 3, 19, 27)

dpsum:
	SUM3(Z0, Y0, X0, Z16, Z24)
	SUM3(Z1, Y1, X1, Z17, Z25)
	SUM3(Z2, Y2, X2, Z18, Z26)
	SUM3(Z3, Y3, X3, Z19, Z27)
	VMOVSS X0, (R10)
	VMOVSS X1, 4(R10)
	VMOVSS X2, 8(R10)
	VMOVSS X3, 12(R10)
	ADDQ   $16, R10
	LEAQ   (DI)(R8*4), DI
	SUBQ   $4, R9
	JMP    dpgroup

dpsingle:
	TESTQ  R9, R9
	JZ     dpdone
	MOVQ   xs+8(FP), R13
	MOVQ   DI, AX
	VPXORD Z0, Z0, Z0
	VPXORD Z16, Z16, Z16
	VPXORD Z24, Z24, Z24
	MOVQ   R11, R12

dpsloop:
	TESTQ     R12, R12
	JZ        dpstail
	VMOVDQU16 (R13), Z10
	VMOVDQU16 64(R13), Z11
	VMOVDQU16 128(R13), Z12
	VMOVDQU16 (AX), Z6
	DP3(6, 0, 16, 24)
	ADDQ      $192, R13
	ADDQ      $64, AX
	DECQ      R12
	JMP       dpsloop

dpstail:
	KORTESTD    K1, K1
	JZ          dpssum
	VMOVDQU16   (R13), Z10
	VMOVDQU16   64(R13), Z11
	VMOVDQU16   128(R13), Z12
	VMOVDQU16.Z (AX), K1, Z6
	DP3(6, 0, 16, 24)

dpssum:
	SUM3(Z0, Y0, X0, Z16, Z24)
	VMOVSS X0, (R10)
	ADDQ   $4, R10
	ADDQ   R8, DI
	DECQ   R9
	JMP    dpsingle

dpdone:
	VZEROUPPER
	RET

// func wsum4x512F32(out *float32, ldo int, e *float32, lde int, v *float32, stride int, ctx int, cols int)
//
// wsum512F32 for four rows of e at once, row r summing over t < ctx+r (four
// consecutive causal queries): out[r*ldo+j] = Σ_t e[r*lde+t]·v[t*stride+j]
// for j < cols (a multiple of 64), one FMA chain per element in t order, as
// WSUM16 sums it, so each row has wsum512F32's bits. A value row is loaded
// once for the four rows: sixteen accumulators Z(4r+c), 64 columns a block.
// Registers: R10 out, R13 ldo bytes, SI e, DI v, R8 stride bytes, R9 ctx,
// R11 columns left, AX BX CX DX the four e cursors, R14 the v cursor, R12 the
// t counter.
TEXT ·wsum4x512F32(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), R10
	MOVQ ldo+8(FP), R13
	SHLQ $2, R13
	MOVQ e+16(FP), SI
	MOVQ v+32(FP), DI
	MOVQ stride+40(FP), R8
	SHLQ $2, R8
	MOVQ ctx+48(FP), R9
	MOVQ cols+56(FP), R11

w4blk:
	CMPQ   R11, $64
	JLT    w4done
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ   lde+24(FP), R12
	SHLQ   $2, R12
	MOVQ   SI, AX
	LEAQ   (SI)(R12*1), BX
	LEAQ   (SI)(R12*2), CX
	LEAQ   (BX)(R12*2), DX
	MOVQ   DI, R14
	MOVQ   R9, R12

w4loop:
	TESTQ        R12, R12
	JZ           w4tail
	VMOVUPS      (R14), Z16
	VMOVUPS      64(R14), Z17
	VMOVUPS      128(R14), Z18
	VMOVUPS      192(R14), Z19
	VBROADCASTSS (AX), Z20
	VBROADCASTSS (BX), Z21
	VBROADCASTSS (CX), Z22
	VBROADCASTSS (DX), Z23
	WROW(Z20, Z0, Z1, Z2, Z3)
	WROW(Z21, Z4, Z5, Z6, Z7)
	WROW(Z22, Z8, Z9, Z10, Z11)
	WROW(Z23, Z12, Z13, Z14, Z15)
	ADDQ         $4, AX
	ADDQ         $4, BX
	ADDQ         $4, CX
	ADDQ         $4, DX
	ADDQ         R8, R14
	DECQ         R12
	JMP          w4loop

w4tail:
	// t = ctx: rows 1–3; t = ctx+1: rows 2–3; t = ctx+2: row 3.
	VMOVUPS      (R14), Z16
	VMOVUPS      64(R14), Z17
	VMOVUPS      128(R14), Z18
	VMOVUPS      192(R14), Z19
	VBROADCASTSS (BX), Z21
	VBROADCASTSS (CX), Z22
	VBROADCASTSS (DX), Z23
	WROW(Z21, Z4, Z5, Z6, Z7)
	WROW(Z22, Z8, Z9, Z10, Z11)
	WROW(Z23, Z12, Z13, Z14, Z15)
	ADDQ         $4, CX
	ADDQ         $4, DX
	ADDQ         R8, R14
	VMOVUPS      (R14), Z16
	VMOVUPS      64(R14), Z17
	VMOVUPS      128(R14), Z18
	VMOVUPS      192(R14), Z19
	VBROADCASTSS (CX), Z22
	VBROADCASTSS (DX), Z23
	WROW(Z22, Z8, Z9, Z10, Z11)
	WROW(Z23, Z12, Z13, Z14, Z15)
	ADDQ         $4, DX
	ADDQ         R8, R14
	VMOVUPS      (R14), Z16
	VMOVUPS      64(R14), Z17
	VMOVUPS      128(R14), Z18
	VMOVUPS      192(R14), Z19
	VBROADCASTSS (DX), Z23
	WROW(Z23, Z12, Z13, Z14, Z15)

	VMOVUPS Z0, (R10)
	VMOVUPS Z1, 64(R10)
	VMOVUPS Z2, 128(R10)
	VMOVUPS Z3, 192(R10)
	LEAQ    (R10)(R13*1), R12
	VMOVUPS Z4, (R12)
	VMOVUPS Z5, 64(R12)
	VMOVUPS Z6, 128(R12)
	VMOVUPS Z7, 192(R12)
	LEAQ    (R10)(R13*2), R12
	VMOVUPS Z8, (R12)
	VMOVUPS Z9, 64(R12)
	VMOVUPS Z10, 128(R12)
	VMOVUPS Z11, 192(R12)
	ADDQ    R13, R12
	VMOVUPS Z12, (R12)
	VMOVUPS Z13, 64(R12)
	VMOVUPS Z14, 128(R12)
	VMOVUPS Z15, 192(R12)
	ADDQ    $256, R10
	ADDQ    $256, DI
	SUBQ    $64, R11
	JMP     w4blk

w4done:
	VZEROUPPER
	RET
