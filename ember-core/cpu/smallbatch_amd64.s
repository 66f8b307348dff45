//go:build amd64 && !purego

// The small-batch kernels: a few rows of x against F16/BF16 weight rows, so
// that a weight block is read from memory once for every row of x
// (smallbatch.go says when MatMul takes them and why).
//
// AVX-512: a group of three weight rows, widened in registers, is multiplied
// by tiles of x rows, the weight rows re-read from L1 for every tile after the
// first, then the next group. AVX2 with two or three x rows: the same with
// groups of four weight rows and pairs of x rows (bdots). AVX2 with four or
// more: the first tile of four x rows widens the group's weight rows into an
// f32 panel as it multiplies them (bwgemm4x3), the other tiles read the panel
// (bgemm4x3), twelve accumulators each. Each accumulator sums its (x row,
// weight row) pair in exactly the order of the decode dot loops
// (kernels512_amd64.s, kernels_amd64.s): lane l takes elements l, l+W, l+2W,
// … (W = 16 or 8 lanes) with one fused multiply-add each, the tail in lanes
// 0…t-1, then the same reduction. So a row of a small batch has the bits of
// that row decoded alone, and of that row in a prefill GEMM. HSUM16, HSUM,
// TAILMASK and the widening loads repeat those files' macros, which an
// assembly file cannot share.

#include "textflag.h"

// PFAHEAD is how far past the next group of weight rows the loops prefetch, as
// in the dot loops: in address order, at least as many lines an iteration as
// the group's rows read. Every tile of x rows prefetches the same lines again;
// after the first they hit in cache.
#define PFAHEAD 8192

// HSUM16 is kernels512_amd64.s's reduction, with Z28 as its scratch (Z0…Z27
// hold the tile).
#define HSUM16(Z, Y, X) \
	VEXTRACTF64X4 $1, Z, Y28   \
	VADDPS        Y28, Y, Y    \
	VEXTRACTF32X4 $1, Y, X28   \
	VADDPS        X28, X, X    \
	VMOVHLPS      X, X, X28    \
	VADDPS        X28, X, X    \
	VMOVSHDUP     X, X28       \
	VADDSS        X28, X, X

#define TAILMASK(R) \
	MOVQ  R, CX  \
	ANDQ  $15, CX \
	MOVL  $1, AX \
	SHLL  CX, AX \
	DECL  AX     \
	KMOVW AX, K1

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

// XROW3 multiplies the x vector in Z27 into accumulators A0…A2 against the
// group's three widened weight vectors Z24…Z26.
#define XROW3(A0, A1, A2) \
	VFMADD231PS Z24, Z27, A0 \
	VFMADD231PS Z25, Z27, A1 \
	VFMADD231PS Z26, Z27, A2

// The AVX-512 kernels go over groups of three weight rows; each group is
// multiplied by tiles of 8, 4, 2 and 1 x rows (as many of each as n needs),
// the weight rows re-read from L1 for every tile after the first. A tile of 8
// holds 24 accumulators, three widened weight vectors and one x vector: per
// 16 columns, three widenings and eight x loads for 24 fused multiply-adds.
// Registers through a call: R12 k rounded down to 16, DX stride in bytes, R8
// ldx in bytes, R10 out of the tile's first x row (x row i, weight row j at
// R10 + i·ldo + 4j), R11 x rows left; in a tile AX BX CX the weight rows, SI
// DI R9 x rows 0, 3 and 6 (rows 1, 2, 4, 5, 7 relative to them by R8), R13
// the column, R14 the prefetch cursor. Locals: wbase the group's first weight
// row, xcur the tile's first x row, outw out of the group, wrows weight rows
// left.

// TILE8 multiplies x rows xcur… (8 of them) by the weight group at wbase:
// Z(3i+j) accumulates x row i against weight row j; stores the 24 sums
// and moves xcur and R10 past the 8 rows.
#define TILE8(LD, LT, Lloop, Ltail, Lsum) \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23 \
	MOVQ wbase-8(SP), AX \
	LEAQ (AX)(DX*1), BX \
	LEAQ (AX)(DX*2), CX \
	LEAQ PFAHEAD(CX)(DX*1), R14 \
	MOVQ xcur-16(SP), SI \
	LEAQ (R8)(R8*2), R13 \
	LEAQ (SI)(R13*1), DI \
	LEAQ (DI)(R13*1), R9 \
	XORQ R13, R13 \
Lloop: \
	CMPQ R13, R12 \
	JAE  Ltail \
	PREFETCHT0 (R14) \
	PREFETCHT0 64(R14) \
	ADDQ $96, R14 \
	LD((AX), Z24, Y24) \
	LD((BX), Z25, Y25) \
	LD((CX), Z26, Y26) \
	VMOVUPS (SI), Z27 \
	XROW3(Z0, Z1, Z2) \
	VMOVUPS (SI)(R8*1), Z27 \
	XROW3(Z3, Z4, Z5) \
	VMOVUPS (SI)(R8*2), Z27 \
	XROW3(Z6, Z7, Z8) \
	VMOVUPS (DI), Z27 \
	XROW3(Z9, Z10, Z11) \
	VMOVUPS (SI)(R8*4), Z27 \
	XROW3(Z12, Z13, Z14) \
	VMOVUPS (DI)(R8*2), Z27 \
	XROW3(Z15, Z16, Z17) \
	VMOVUPS (R9), Z27 \
	XROW3(Z18, Z19, Z20) \
	VMOVUPS (R9)(R8*1), Z27 \
	XROW3(Z21, Z22, Z23) \
	ADDQ $32, AX \
	ADDQ $32, BX \
	ADDQ $32, CX \
	ADDQ $64, SI \
	ADDQ $64, DI \
	ADDQ $64, R9 \
	ADDQ $16, R13 \
	JMP  Lloop \
Ltail: \
	KORTESTW K1, K1 \
	JZ   Lsum \
	LT((AX), Z24, Y24) \
	LT((BX), Z25, Y25) \
	LT((CX), Z26, Y26) \
	VMOVUPS.Z (SI), K1, Z27 \
	XROW3(Z0, Z1, Z2) \
	VMOVUPS.Z (SI)(R8*1), K1, Z27 \
	XROW3(Z3, Z4, Z5) \
	VMOVUPS.Z (SI)(R8*2), K1, Z27 \
	XROW3(Z6, Z7, Z8) \
	VMOVUPS.Z (DI), K1, Z27 \
	XROW3(Z9, Z10, Z11) \
	VMOVUPS.Z (SI)(R8*4), K1, Z27 \
	XROW3(Z12, Z13, Z14) \
	VMOVUPS.Z (DI)(R8*2), K1, Z27 \
	XROW3(Z15, Z16, Z17) \
	VMOVUPS.Z (R9), K1, Z27 \
	XROW3(Z18, Z19, Z20) \
	VMOVUPS.Z (R9)(R8*1), K1, Z27 \
	XROW3(Z21, Z22, Z23) \
Lsum: \
	HSUM16(Z0, Y0, X0) \
	HSUM16(Z1, Y1, X1) \
	HSUM16(Z2, Y2, X2) \
	HSUM16(Z3, Y3, X3) \
	HSUM16(Z4, Y4, X4) \
	HSUM16(Z5, Y5, X5) \
	HSUM16(Z6, Y6, X6) \
	HSUM16(Z7, Y7, X7) \
	HSUM16(Z8, Y8, X8) \
	HSUM16(Z9, Y9, X9) \
	HSUM16(Z10, Y10, X10) \
	HSUM16(Z11, Y11, X11) \
	HSUM16(Z12, Y12, X12) \
	HSUM16(Z13, Y13, X13) \
	HSUM16(Z14, Y14, X14) \
	HSUM16(Z15, Y15, X15) \
	HSUM16(Z16, Y16, X16) \
	HSUM16(Z17, Y17, X17) \
	HSUM16(Z18, Y18, X18) \
	HSUM16(Z19, Y19, X19) \
	HSUM16(Z20, Y20, X20) \
	HSUM16(Z21, Y21, X21) \
	HSUM16(Z22, Y22, X22) \
	HSUM16(Z23, Y23, X23) \
	MOVQ ldo+8(FP), AX \
	SHLQ $2, AX \
	LEAQ (AX)(AX*2), CX \
	LEAQ (R10)(CX*1), BX \
	LEAQ (BX)(CX*1), CX \
	VMOVSS X0, (R10) \
	VMOVSS X1, 4(R10) \
	VMOVSS X2, 8(R10) \
	VMOVSS X3, (R10)(AX*1) \
	VMOVSS X4, 4(R10)(AX*1) \
	VMOVSS X5, 8(R10)(AX*1) \
	VMOVSS X6, (R10)(AX*2) \
	VMOVSS X7, 4(R10)(AX*2) \
	VMOVSS X8, 8(R10)(AX*2) \
	VMOVSS X9, (BX) \
	VMOVSS X10, 4(BX) \
	VMOVSS X11, 8(BX) \
	VMOVSS X12, (R10)(AX*4) \
	VMOVSS X13, 4(R10)(AX*4) \
	VMOVSS X14, 8(R10)(AX*4) \
	VMOVSS X15, (BX)(AX*2) \
	VMOVSS X16, 4(BX)(AX*2) \
	VMOVSS X17, 8(BX)(AX*2) \
	VMOVSS X18, (CX) \
	VMOVSS X19, 4(CX) \
	VMOVSS X20, 8(CX) \
	VMOVSS X21, (CX)(AX*1) \
	VMOVSS X22, 4(CX)(AX*1) \
	VMOVSS X23, 8(CX)(AX*1) \
	LEAQ (R10)(AX*8), R10 \
	MOVQ xcur-16(SP), SI \
	LEAQ (SI)(R8*8), SI \
	MOVQ SI, xcur-16(SP)

// TILE4 multiplies x rows xcur… (4 of them) by the weight group at wbase:
// Z(3i+j) accumulates x row i against weight row j; stores the 12 sums
// and moves xcur and R10 past the 4 rows.
#define TILE4(LD, LT, Lloop, Ltail, Lsum) \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	MOVQ wbase-8(SP), AX \
	LEAQ (AX)(DX*1), BX \
	LEAQ (AX)(DX*2), CX \
	LEAQ PFAHEAD(CX)(DX*1), R14 \
	MOVQ xcur-16(SP), SI \
	LEAQ (R8)(R8*2), R13 \
	LEAQ (SI)(R13*1), DI \
	LEAQ (DI)(R13*1), R9 \
	XORQ R13, R13 \
Lloop: \
	CMPQ R13, R12 \
	JAE  Ltail \
	PREFETCHT0 (R14) \
	PREFETCHT0 64(R14) \
	ADDQ $96, R14 \
	LD((AX), Z24, Y24) \
	LD((BX), Z25, Y25) \
	LD((CX), Z26, Y26) \
	VMOVUPS (SI), Z27 \
	XROW3(Z0, Z1, Z2) \
	VMOVUPS (SI)(R8*1), Z27 \
	XROW3(Z3, Z4, Z5) \
	VMOVUPS (SI)(R8*2), Z27 \
	XROW3(Z6, Z7, Z8) \
	VMOVUPS (DI), Z27 \
	XROW3(Z9, Z10, Z11) \
	ADDQ $32, AX \
	ADDQ $32, BX \
	ADDQ $32, CX \
	ADDQ $64, SI \
	ADDQ $64, DI \
	ADDQ $64, R9 \
	ADDQ $16, R13 \
	JMP  Lloop \
Ltail: \
	KORTESTW K1, K1 \
	JZ   Lsum \
	LT((AX), Z24, Y24) \
	LT((BX), Z25, Y25) \
	LT((CX), Z26, Y26) \
	VMOVUPS.Z (SI), K1, Z27 \
	XROW3(Z0, Z1, Z2) \
	VMOVUPS.Z (SI)(R8*1), K1, Z27 \
	XROW3(Z3, Z4, Z5) \
	VMOVUPS.Z (SI)(R8*2), K1, Z27 \
	XROW3(Z6, Z7, Z8) \
	VMOVUPS.Z (DI), K1, Z27 \
	XROW3(Z9, Z10, Z11) \
Lsum: \
	HSUM16(Z0, Y0, X0) \
	HSUM16(Z1, Y1, X1) \
	HSUM16(Z2, Y2, X2) \
	HSUM16(Z3, Y3, X3) \
	HSUM16(Z4, Y4, X4) \
	HSUM16(Z5, Y5, X5) \
	HSUM16(Z6, Y6, X6) \
	HSUM16(Z7, Y7, X7) \
	HSUM16(Z8, Y8, X8) \
	HSUM16(Z9, Y9, X9) \
	HSUM16(Z10, Y10, X10) \
	HSUM16(Z11, Y11, X11) \
	MOVQ ldo+8(FP), AX \
	SHLQ $2, AX \
	LEAQ (AX)(AX*2), CX \
	LEAQ (R10)(CX*1), BX \
	LEAQ (BX)(CX*1), CX \
	VMOVSS X0, (R10) \
	VMOVSS X1, 4(R10) \
	VMOVSS X2, 8(R10) \
	VMOVSS X3, (R10)(AX*1) \
	VMOVSS X4, 4(R10)(AX*1) \
	VMOVSS X5, 8(R10)(AX*1) \
	VMOVSS X6, (R10)(AX*2) \
	VMOVSS X7, 4(R10)(AX*2) \
	VMOVSS X8, 8(R10)(AX*2) \
	VMOVSS X9, (BX) \
	VMOVSS X10, 4(BX) \
	VMOVSS X11, 8(BX) \
	LEAQ (R10)(AX*4), R10 \
	MOVQ xcur-16(SP), SI \
	LEAQ (SI)(R8*4), SI \
	MOVQ SI, xcur-16(SP)

// TILE2 multiplies x rows xcur… (2 of them) by the weight group at wbase:
// Z(3i+j) accumulates x row i against weight row j; stores the 6 sums
// and moves xcur and R10 past the 2 rows.
#define TILE2(LD, LT, Lloop, Ltail, Lsum) \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	MOVQ wbase-8(SP), AX \
	LEAQ (AX)(DX*1), BX \
	LEAQ (AX)(DX*2), CX \
	LEAQ PFAHEAD(CX)(DX*1), R14 \
	MOVQ xcur-16(SP), SI \
	XORQ R13, R13 \
Lloop: \
	CMPQ R13, R12 \
	JAE  Ltail \
	PREFETCHT0 (R14) \
	PREFETCHT0 64(R14) \
	ADDQ $96, R14 \
	LD((AX), Z24, Y24) \
	LD((BX), Z25, Y25) \
	LD((CX), Z26, Y26) \
	VMOVUPS (SI), Z27 \
	XROW3(Z0, Z1, Z2) \
	VMOVUPS (SI)(R8*1), Z27 \
	XROW3(Z3, Z4, Z5) \
	ADDQ $32, AX \
	ADDQ $32, BX \
	ADDQ $32, CX \
	ADDQ $64, SI \
	ADDQ $16, R13 \
	JMP  Lloop \
Ltail: \
	KORTESTW K1, K1 \
	JZ   Lsum \
	LT((AX), Z24, Y24) \
	LT((BX), Z25, Y25) \
	LT((CX), Z26, Y26) \
	VMOVUPS.Z (SI), K1, Z27 \
	XROW3(Z0, Z1, Z2) \
	VMOVUPS.Z (SI)(R8*1), K1, Z27 \
	XROW3(Z3, Z4, Z5) \
Lsum: \
	HSUM16(Z0, Y0, X0) \
	HSUM16(Z1, Y1, X1) \
	HSUM16(Z2, Y2, X2) \
	HSUM16(Z3, Y3, X3) \
	HSUM16(Z4, Y4, X4) \
	HSUM16(Z5, Y5, X5) \
	MOVQ ldo+8(FP), AX \
	SHLQ $2, AX \
	VMOVSS X0, (R10) \
	VMOVSS X1, 4(R10) \
	VMOVSS X2, 8(R10) \
	VMOVSS X3, (R10)(AX*1) \
	VMOVSS X4, 4(R10)(AX*1) \
	VMOVSS X5, 8(R10)(AX*1) \
	LEAQ (R10)(AX*2), R10 \
	MOVQ xcur-16(SP), SI \
	LEAQ (SI)(R8*2), SI \
	MOVQ SI, xcur-16(SP)

// TILE1 multiplies x rows xcur… (1 of them) by the weight group at wbase:
// Z(3i+j) accumulates x row i against weight row j; stores the 3 sums
// and moves xcur and R10 past the 1 rows.
#define TILE1(LD, LT, Lloop, Ltail, Lsum) \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	MOVQ wbase-8(SP), AX \
	LEAQ (AX)(DX*1), BX \
	LEAQ (AX)(DX*2), CX \
	LEAQ PFAHEAD(CX)(DX*1), R14 \
	MOVQ xcur-16(SP), SI \
	XORQ R13, R13 \
Lloop: \
	CMPQ R13, R12 \
	JAE  Ltail \
	PREFETCHT0 (R14) \
	PREFETCHT0 64(R14) \
	ADDQ $96, R14 \
	LD((AX), Z24, Y24) \
	LD((BX), Z25, Y25) \
	LD((CX), Z26, Y26) \
	VMOVUPS (SI), Z27 \
	XROW3(Z0, Z1, Z2) \
	ADDQ $32, AX \
	ADDQ $32, BX \
	ADDQ $32, CX \
	ADDQ $64, SI \
	ADDQ $16, R13 \
	JMP  Lloop \
Ltail: \
	KORTESTW K1, K1 \
	JZ   Lsum \
	LT((AX), Z24, Y24) \
	LT((BX), Z25, Y25) \
	LT((CX), Z26, Y26) \
	VMOVUPS.Z (SI), K1, Z27 \
	XROW3(Z0, Z1, Z2) \
Lsum: \
	HSUM16(Z0, Y0, X0) \
	HSUM16(Z1, Y1, X1) \
	HSUM16(Z2, Y2, X2) \
	MOVQ ldo+8(FP), AX \
	SHLQ $2, AX \
	VMOVSS X0, (R10) \
	VMOVSS X1, 4(R10) \
	VMOVSS X2, 8(R10) \
	LEAQ (R10)(AX*1), R10 \
	MOVQ xcur-16(SP), SI \
	LEAQ (SI)(R8*1), SI \
	MOVQ SI, xcur-16(SP)

// HSUM, LD8BF16 and LD8F16 are kernels_amd64.s's HSUM, LDBF16 and LDF16.
#define HSUM(Y, X, T) \
	VEXTRACTF128 $1, Y, T \
	VADDPS       T, X, X  \
	VMOVHLPS     X, X, T  \
	VADDPS       T, X, X  \
	VMOVSHDUP    X, T     \
	VADDSS       T, X, X

#define LD8BF16(addr, Y) \
	VPMOVZXWD addr, Y \
	VPSLLD    $16, Y, Y

#define LD8F16(addr, Y) \
	VCVTPH2PS addr, Y

// XROW2 multiplies the x vector in Y12 into accumulators A0…A3 against the
// four widened weight vectors Y8…Y11.
#define XROW2(A0, A1, A2, A3) \
	VFMADD231PS Y8, Y12, A0  \
	VFMADD231PS Y9, Y12, A1  \
	VFMADD231PS Y10, Y12, A2 \
	VFMADD231PS Y11, Y12, A3

// BDOTS is the body of bdotsBF16/F16 (AVX2): groups of four weight rows (AX BX
// CX DX) times groups of two x rows (SI, DI; nxg of them), eight accumulators
// (Y(4i+j)), the weight vectors in Y8…Y11, x in Y12, HSUM's scratch X13; R13
// the column, R12 k rounded down to 8, R10 out of the x group, R11 x groups
// left, R14 the prefetch cursor. A k%8 = t tail reads each weight row's last eight
// elements (R8 = k-8), moves them down with the permutation Y14 and clears the
// other lanes with the mask Y15, as the dot loops do; k ≥ 8.
#define BDOTS(LD, Lwgroup, Lxgroup, Lloop, Ltail, Lsum, Ldone) \
	MOVQ k+48(FP), R12 \
	ANDQ $-8, R12 \
	MOVQ R12, kfull-24(SP) \
	MOVQ mask+72(FP), R12 \
	TESTQ R12, R12 \
	JZ   4(PC) \
	VMOVDQU (R12), Y15 \
	MOVQ perm+80(FP), R12 \
	VMOVDQU (R12), Y14 \
	MOVQ out+0(FP), R10 \
	MOVQ R10, outw-8(SP) \
	MOVQ rows+64(FP), R12 \
	MOVQ R12, wrows-16(SP) \
	MOVQ w+40(FP), AX \
	MOVQ stride+56(FP), R12 \
	SHLQ $1, R12 \
	LEAQ (AX)(R12*1), BX \
	LEAQ (AX)(R12*2), CX \
	LEAQ (BX)(R12*2), DX \
Lwgroup: \
	CMPQ wrows-16(SP), $4 \
	JLT  Ldone \
	MOVQ x+16(FP), SI \
	MOVQ ldx+24(FP), R12 \
	LEAQ (SI)(R12*4), DI \
	MOVQ outw-8(SP), R10 \
	MOVQ nxg+32(FP), R11 \
Lxgroup: \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7 \
	MOVQ stride+56(FP), R12 \
	SHLQ $1, R12 \
	LEAQ PFAHEAD(DX)(R12*1), R14 \
	MOVQ kfull-24(SP), R12 \
	XORQ R13, R13 \
Lloop: \
	CMPQ R13, R12 \
	JAE  Ltail \
	PREFETCHT0 (R14) \
	ADDQ $64, R14 \
	LD((AX)(R13*2), Y8) \
	LD((BX)(R13*2), Y9) \
	LD((CX)(R13*2), Y10) \
	LD((DX)(R13*2), Y11) \
	VMOVUPS (SI)(R13*4), Y12 \
	XROW2(Y0, Y1, Y2, Y3) \
	VMOVUPS (DI)(R13*4), Y12 \
	XROW2(Y4, Y5, Y6, Y7) \
	ADDQ $8, R13 \
	JMP  Lloop \
Ltail: \
	CMPQ R13, k+48(FP) \
	JEQ  Lsum \
	MOVQ k+48(FP), R8 \
	SUBQ $8, R8 \
	LD((AX)(R8*2), Y8) \
	LD((BX)(R8*2), Y9) \
	LD((CX)(R8*2), Y10) \
	LD((DX)(R8*2), Y11) \
	VPERMD Y8, Y14, Y8 \
	VPERMD Y9, Y14, Y9 \
	VPERMD Y10, Y14, Y10 \
	VPERMD Y11, Y14, Y11 \
	VPAND  Y15, Y8, Y8 \
	VPAND  Y15, Y9, Y9 \
	VPAND  Y15, Y10, Y10 \
	VPAND  Y15, Y11, Y11 \
	VMASKMOVPS (SI)(R13*4), Y15, Y12 \
	XROW2(Y0, Y1, Y2, Y3) \
	VMASKMOVPS (DI)(R13*4), Y15, Y12 \
	XROW2(Y4, Y5, Y6, Y7) \
Lsum: \
	HSUM(Y0, X0, X13) \
	HSUM(Y1, X1, X13) \
	HSUM(Y2, X2, X13) \
	HSUM(Y3, X3, X13) \
	HSUM(Y4, X4, X13) \
	HSUM(Y5, X5, X13) \
	HSUM(Y6, X6, X13) \
	HSUM(Y7, X7, X13) \
	MOVQ ldo+8(FP), R12 \
	SHLQ $2, R12 \
	VMOVSS X0, (R10) \
	VMOVSS X1, 4(R10) \
	VMOVSS X2, 8(R10) \
	VMOVSS X3, 12(R10) \
	VMOVSS X4, (R10)(R12*1) \
	VMOVSS X5, 4(R10)(R12*1) \
	VMOVSS X6, 8(R10)(R12*1) \
	VMOVSS X7, 12(R10)(R12*1) \
	LEAQ (R10)(R12*2), R10 \
	MOVQ ldx+24(FP), R12 \
	SHLQ $3, R12 \
	ADDQ R12, SI \
	ADDQ R12, DI \
	DECQ R11 \
	JNZ  Lxgroup \
	ADDQ $16, outw-8(SP) \
	SUBQ $4, wrows-16(SP) \
	MOVQ stride+56(FP), R12 \
	SHLQ $3, R12 \
	ADDQ R12, AX \
	ADDQ R12, BX \
	ADDQ R12, CX \
	ADDQ R12, DX \
	JMP  Lwgroup \
Ldone: \
	VZEROUPPER \
	RET

// WGEMM is the body of bwgemm4x3BF16/F16 (func(c *float32, ldc int, a
// *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf
// *uint16)): bgemm4x3 for the first four x rows of a group, which also widens
// the group's m weight rows w (k apart) into the panel b as it goes, each
// vector stored once it is loaded, so that the widening overlaps the FMAs
// instead of taking a pass of its own; the other x rows then read the panel
// with bgemm4x3. The panel's k%8 tail elements are widened by the caller
// first and read from it as bgemm4x3 reads them. CX is the column in bytes of
// 16-bit elements (f32 addresses scale it by 2), R10 its end for full
// vectors, R11 R15 R13 the three weight rows (R13 is reused as scratch in the
// tail and the stores, so the rows are recomputed from wcur per triple).
#define WGEMM(LD, Ltile, Lloop, Ltail, Lstore, Ldone) \
	MOVQ a+16(FP), AX \
	MOVQ lda+24(FP), R13 \
	SHLQ $2, R13 \
	LEAQ (AX)(R13*1), BX \
	LEAQ (AX)(R13*2), DX \
	LEAQ (BX)(R13*2), SI \
	MOVQ b+32(FP), DI \
	MOVQ k+56(FP), R13 \
	SHLQ $2, R13 \
	LEAQ (DI)(R13*1), R8 \
	LEAQ (DI)(R13*2), R9 \
	MOVQ w+40(FP), R13 \
	MOVQ R13, wcur-16(SP) \
	MOVQ m+48(FP), R13 \
	MOVQ R13, mleft-8(SP) \
	MOVQ k+56(FP), R10 \
	ANDQ $-8, R10 \
	SHLQ $1, R10 \
	MOVQ c+0(FP), R12 \
	MOVQ pf+72(FP), R14 \
Ltile: \
	CMPQ mleft-8(SP), $3 \
	JLT  Ldone \
	MOVQ wcur-16(SP), R11 \
	MOVQ k+56(FP), R13 \
	SHLQ $1, R13 \
	LEAQ (R11)(R13*1), R15 \
	LEAQ (R11)(R13*2), R13 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7 \
	VXORPS Y8, Y8, Y8 \
	VXORPS Y9, Y9, Y9 \
	VXORPS Y10, Y10, Y10 \
	VXORPS Y11, Y11, Y11 \
	XORQ CX, CX \
	CMPQ CX, R10 \
	JAE  Ltail \
Lloop: \
	PREFETCHT0  (R14) \
	ADDQ        $64, R14 \
	LD((R11)(CX*1), Y12) \
	LD((R15)(CX*1), Y13) \
	LD((R13)(CX*1), Y14) \
	VMOVUPS     Y12, (DI)(CX*2) \
	VMOVUPS     Y13, (R8)(CX*2) \
	VMOVUPS     Y14, (R9)(CX*2) \
	VMOVUPS     (AX)(CX*2), Y15 \
	VFMADD231PS Y12, Y15, Y0 \
	VFMADD231PS Y13, Y15, Y1 \
	VFMADD231PS Y14, Y15, Y2 \
	VMOVUPS     (BX)(CX*2), Y15 \
	VFMADD231PS Y12, Y15, Y3 \
	VFMADD231PS Y13, Y15, Y4 \
	VFMADD231PS Y14, Y15, Y5 \
	VMOVUPS     (DX)(CX*2), Y15 \
	VFMADD231PS Y12, Y15, Y6 \
	VFMADD231PS Y13, Y15, Y7 \
	VFMADD231PS Y14, Y15, Y8 \
	VMOVUPS     (SI)(CX*2), Y15 \
	VFMADD231PS Y12, Y15, Y9 \
	VFMADD231PS Y13, Y15, Y10 \
	VFMADD231PS Y14, Y15, Y11 \
	ADDQ        $16, CX \
	CMPQ        CX, R10 \
	JB          Lloop \
Ltail: \
	MOVQ  mask+64(FP), R13 \
	TESTQ R13, R13 \
	JZ    Lstore \
	VMOVDQU     (R13), Y15 \
	VMASKMOVPS  (DI)(CX*2), Y15, Y12 \
	VMASKMOVPS  (R8)(CX*2), Y15, Y13 \
	VMASKMOVPS  (R9)(CX*2), Y15, Y14 \
	VMASKMOVPS  (AX)(CX*2), Y15, Y15 \
	VFMADD231PS Y12, Y15, Y0 \
	VFMADD231PS Y13, Y15, Y1 \
	VFMADD231PS Y14, Y15, Y2 \
	VMOVDQU     (R13), Y15 \
	VMASKMOVPS  (BX)(CX*2), Y15, Y15 \
	VFMADD231PS Y12, Y15, Y3 \
	VFMADD231PS Y13, Y15, Y4 \
	VFMADD231PS Y14, Y15, Y5 \
	VMOVDQU     (R13), Y15 \
	VMASKMOVPS  (DX)(CX*2), Y15, Y15 \
	VFMADD231PS Y12, Y15, Y6 \
	VFMADD231PS Y13, Y15, Y7 \
	VFMADD231PS Y14, Y15, Y8 \
	VMOVDQU     (R13), Y15 \
	VMASKMOVPS  (SI)(CX*2), Y15, Y15 \
	VFMADD231PS Y12, Y15, Y9 \
	VFMADD231PS Y13, Y15, Y10 \
	VFMADD231PS Y14, Y15, Y11 \
Lstore: \
	MOVQ ldc+8(FP), R13 \
	SHLQ $2, R13 \
	LEAQ (R13)(R13*2), CX \
	HSUM(Y0, X0, X12) \
	HSUM(Y1, X1, X12) \
	HSUM(Y2, X2, X12) \
	HSUM(Y3, X3, X12) \
	HSUM(Y4, X4, X12) \
	HSUM(Y5, X5, X12) \
	HSUM(Y6, X6, X12) \
	HSUM(Y7, X7, X12) \
	HSUM(Y8, X8, X12) \
	HSUM(Y9, X9, X12) \
	HSUM(Y10, X10, X12) \
	HSUM(Y11, X11, X12) \
	VMOVSS X0, (R12) \
	VMOVSS X1, 4(R12) \
	VMOVSS X2, 8(R12) \
	VMOVSS X3, (R12)(R13*1) \
	VMOVSS X4, 4(R12)(R13*1) \
	VMOVSS X5, 8(R12)(R13*1) \
	VMOVSS X6, (R12)(R13*2) \
	VMOVSS X7, 4(R12)(R13*2) \
	VMOVSS X8, 8(R12)(R13*2) \
	VMOVSS X9, (R12)(CX*1) \
	VMOVSS X10, 4(R12)(CX*1) \
	VMOVSS X11, 8(R12)(CX*1) \
	MOVQ k+56(FP), R13 \
	SHLQ $2, R13 \
	LEAQ (R9)(R13*1), DI \
	LEAQ (DI)(R13*1), R8 \
	LEAQ (R8)(R13*1), R9 \
	MOVQ k+56(FP), R13 \
	LEAQ (R13)(R13*2), R13 \
	SHLQ $1, R13 \
	ADDQ R13, wcur-16(SP) \
	ADDQ $12, R12 \
	SUBQ $3, mleft-8(SP) \
	JMP  Ltile \
Ldone: \
	VZEROUPPER \
	RET

// func bdotsBF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)
TEXT ·bdotsBF16(SB), NOSPLIT, $24-88
	BDOTS(LD8BF16, bbwgroup, bbxgroup, bbloop, bbtail, bbsum, bbdone)

// func bdotsF16(out *float32, ldo int, x *float32, ldx int, nxg int, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)
TEXT ·bdotsF16(SB), NOSPLIT, $24-88
	BDOTS(LD8F16, bhwgroup, bhxgroup, bhloop, bhtail, bhsum, bhdone)

// func bgemm4x3(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int, mask *uint32, pf *uint16)
//
// The AVX2 small-batch tile: kernels_amd64.s's gemm4x3 (c[i*ldc+j] = Σ_p
// a[i*lda+p]·b[j*ldb+p] for i < 4 x rows and j < m panel rows, m a multiple
// of 3, twelve accumulators), which also prefetches one 64-byte line an
// iteration from pf on: dotBatch16 points it at the next group of weight rows,
// so that their reading from memory overlaps this group's multiplications (a
// tile has more iterations than the next group has lines once n ≥ 3).
TEXT ·bgemm4x3(SB), NOSPLIT, $0-80
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
	MOVQ k+56(FP), R10
	ANDQ $-8, R10
	SHLQ $2, R10 // bytes of full vectors per row
	MOVQ m+48(FP), R11
	MOVQ c+0(FP), R12
	MOVQ pf+72(FP), R14

btile:
	CMPQ R11, $3
	JLT  bdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	XORQ CX, CX
	CMPQ CX, R10
	JAE  btail

bloop:
	PREFETCHT0  (R14)
	ADDQ        $64, R14
	VMOVUPS     (DI)(CX*1), Y12
	VMOVUPS     (R8)(CX*1), Y13
	VMOVUPS     (R9)(CX*1), Y14
	VMOVUPS     (AX)(CX*1), Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VMOVUPS     (BX)(CX*1), Y15
	VFMADD231PS Y12, Y15, Y3
	VFMADD231PS Y13, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VMOVUPS     (DX)(CX*1), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VMOVUPS     (SI)(CX*1), Y15
	VFMADD231PS Y12, Y15, Y9
	VFMADD231PS Y13, Y15, Y10
	VFMADD231PS Y14, Y15, Y11
	ADDQ        $32, CX
	CMPQ        CX, R10
	JB          bloop

btail:
	MOVQ  mask+64(FP), R13
	TESTQ R13, R13
	JZ    bstore
	// The mask register is reloaded for each row of a, which then reuses it.
	VMOVDQU     (R13), Y15
	VMASKMOVPS  (DI)(CX*1), Y15, Y12
	VMASKMOVPS  (R8)(CX*1), Y15, Y13
	VMASKMOVPS  (R9)(CX*1), Y15, Y14
	VMASKMOVPS  (AX)(CX*1), Y15, Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VMOVDQU     (R13), Y15
	VMASKMOVPS  (BX)(CX*1), Y15, Y15
	VFMADD231PS Y12, Y15, Y3
	VFMADD231PS Y13, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VMOVDQU     (R13), Y15
	VMASKMOVPS  (DX)(CX*1), Y15, Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VMOVDQU     (R13), Y15
	VMASKMOVPS  (SI)(CX*1), Y15, Y15
	VFMADD231PS Y12, Y15, Y9
	VFMADD231PS Y13, Y15, Y10
	VFMADD231PS Y14, Y15, Y11

bstore:
	MOVQ ldc+8(FP), R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), CX
	HSUM(Y0, X0, X12)
	HSUM(Y1, X1, X12)
	HSUM(Y2, X2, X12)
	HSUM(Y3, X3, X12)
	HSUM(Y4, X4, X12)
	HSUM(Y5, X5, X12)
	HSUM(Y6, X6, X12)
	HSUM(Y7, X7, X12)
	HSUM(Y8, X8, X12)
	HSUM(Y9, X9, X12)
	HSUM(Y10, X10, X12)
	HSUM(Y11, X11, X12)
	VMOVSS X0, (R12)
	VMOVSS X1, 4(R12)
	VMOVSS X2, 8(R12)
	VMOVSS X3, (R12)(R13*1)
	VMOVSS X4, 4(R12)(R13*1)
	VMOVSS X5, 8(R12)(R13*1)
	VMOVSS X6, (R12)(R13*2)
	VMOVSS X7, 4(R12)(R13*2)
	VMOVSS X8, 8(R12)(R13*2)
	VMOVSS X9, (R12)(CX*1)
	VMOVSS X10, 4(R12)(CX*1)
	VMOVSS X11, 8(R12)(CX*1)
	// Next three rows of b.
	MOVQ ldb+40(FP), R13
	SHLQ $2, R13
	LEAQ (R9)(R13*1), DI
	LEAQ (DI)(R13*1), R8
	LEAQ (R8)(R13*1), R9
	ADDQ $12, R12
	SUBQ $3, R11
	JMP  btile

bdone:
	VZEROUPPER
	RET

// func bwgemm4x3BF16(c *float32, ldc int, a *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf *uint16)
TEXT ·bwgemm4x3BF16(SB), NOSPLIT, $16-80
	WGEMM(LD8BF16, wbtile, wbloop, wbtail, wbstore, wbdone)

// func bwgemm4x3F16(c *float32, ldc int, a *float32, lda int, b *float32, w *uint16, m int, k int, mask *uint32, pf *uint16)
TEXT ·bwgemm4x3F16(SB), NOSPLIT, $16-80
	WGEMM(LD8F16, whtile, whloop, whtail, whstore, whdone)

// func bdots512BF16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int)
TEXT ·bdots512BF16(SB), NOSPLIT, $32-72
	MOVQ k+48(FP), R12
	TAILMASK(R12)
	ANDQ $-16, R12
	MOVQ w+40(FP), AX
	MOVQ AX, wbase-8(SP)
	MOVQ stride+56(FP), DX
	SHLQ $1, DX
	MOVQ ldx+24(FP), R8
	SHLQ $2, R8
	MOVQ out+0(FP), R10
	MOVQ R10, outw-24(SP)
	MOVQ rows+64(FP), R11
	MOVQ R11, wrows-32(SP)

zbwgroup:
	CMPQ wrows-32(SP), $3
	JLT  zbdone
	MOVQ x+16(FP), SI
	MOVQ SI, xcur-16(SP)
	MOVQ outw-24(SP), R10
	MOVQ n+32(FP), R11

zbx8:
	CMPQ R11, $8
	JLT  zbx4
	TILE8(LDBF16, LTBF16, zbloop8, zbtail8, zbsum8)
	SUBQ $8, R11
	JMP  zbx8

zbx4:
	CMPQ R11, $4
	JLT  zbx2
	TILE4(LDBF16, LTBF16, zbloop4, zbtail4, zbsum4)
	SUBQ $4, R11

zbx2:
	CMPQ R11, $2
	JLT  zbx1
	TILE2(LDBF16, LTBF16, zbloop2, zbtail2, zbsum2)
	SUBQ $2, R11

zbx1:
	CMPQ R11, $1
	JLT  zbnext
	TILE1(LDBF16, LTBF16, zbloop1, zbtail1, zbsum1)

zbnext:
	ADDQ $12, outw-24(SP)
	SUBQ $3, wrows-32(SP)
	LEAQ (DX)(DX*2), AX
	ADDQ AX, wbase-8(SP)
	JMP  zbwgroup

zbdone:
	VZEROUPPER
	RET

// func bdots512F16(out *float32, ldo int, x *float32, ldx int, n int, w *uint16, k int, stride int, rows int)
TEXT ·bdots512F16(SB), NOSPLIT, $32-72
	MOVQ k+48(FP), R12
	TAILMASK(R12)
	ANDQ $-16, R12
	MOVQ w+40(FP), AX
	MOVQ AX, wbase-8(SP)
	MOVQ stride+56(FP), DX
	SHLQ $1, DX
	MOVQ ldx+24(FP), R8
	SHLQ $2, R8
	MOVQ out+0(FP), R10
	MOVQ R10, outw-24(SP)
	MOVQ rows+64(FP), R11
	MOVQ R11, wrows-32(SP)

zhwgroup:
	CMPQ wrows-32(SP), $3
	JLT  zhdone
	MOVQ x+16(FP), SI
	MOVQ SI, xcur-16(SP)
	MOVQ outw-24(SP), R10
	MOVQ n+32(FP), R11

zhx8:
	CMPQ R11, $8
	JLT  zhx4
	TILE8(LDF16, LTF16, zhloop8, zhtail8, zhsum8)
	SUBQ $8, R11
	JMP  zhx8

zhx4:
	CMPQ R11, $4
	JLT  zhx2
	TILE4(LDF16, LTF16, zhloop4, zhtail4, zhsum4)
	SUBQ $4, R11

zhx2:
	CMPQ R11, $2
	JLT  zhx1
	TILE2(LDF16, LTF16, zhloop2, zhtail2, zhsum2)
	SUBQ $2, R11

zhx1:
	CMPQ R11, $1
	JLT  zhnext
	TILE1(LDF16, LTF16, zhloop1, zhtail1, zhsum1)

zhnext:
	ADDQ $12, outw-24(SP)
	SUBQ $3, wrows-32(SP)
	LEAQ (DX)(DX*2), AX
	ADDQ AX, wbase-8(SP)
	JMP  zhwgroup

zhdone:
	VZEROUPPER
	RET
