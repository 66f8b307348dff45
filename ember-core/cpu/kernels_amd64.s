//go:build amd64 && !purego

// AVX2 + FMA + F16C kernels for the CPU device. kernels.go says what each
// computes and holds the pure-Go versions they are tested against.
//
// Every dot product here sums in one order, whatever the kernel: eight lanes,
// lane l accumulating elements l, l+8, l+16, … with one fused multiply-add
// each; the k%8 tail elements go to lanes 0…t-1 (the other lanes add +0); then
// the lanes are reduced as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). A weight row
// widened from F16/BF16 on the fly (decode) and the same row widened into a
// packed f32 panel first (prefill) therefore give the same bits, and so does a
// 4×3 GEMM tile, a 4-row group and a single row.
//
// The 4-row dot loops read a group of four rows as four streams a row apart,
// which the hardware prefetchers alone serve at about three quarters of one
// sequential stream's bandwidth (measured on Zen 3). So they also prefetch,
// one 64-byte line an iteration (a group has as many lines as iterations),
// the memory PFAHEAD bytes past the next group, in address order: the memory
// system sees one sequential stream ahead of the four. Against prefetching
// the same columns of the next group's four rows this read a 128 MiB bf16
// matrix 4–25 % faster (five runs, one thread).
//
// Tails: f32 operands are read with VMASKMOVPS, which never touches the masked
// lanes' memory. 16-bit rows are read as the 8 elements that end at the row's
// end (so k ≥ 8 is required when k%8 ≠ 0) and moved down with VPERMD.

#include "textflag.h"

// PFAHEAD is how far past the next group of rows the dot loops prefetch.
#define PFAHEAD 8192

// HSUM reduces the 8 lanes of Y (whose low half is X) into X's lane 0 in the
// order above; T is a scratch X register.
#define HSUM(Y, X, T) \
	VEXTRACTF128 $1, Y, T \
	VADDPS       T, X, X  \
	VMOVHLPS     X, X, T  \
	VADDPS       T, X, X  \
	VMOVSHDUP    X, T     \
	VADDSS       T, X, X

// Widening loads of 8 elements into a Y register.
#define LDBF16(addr, Y) \
	VPMOVZXWD addr, Y \
	VPSLLD    $16, Y, Y

#define LDF16(addr, Y) \
	VCVTPH2PS addr, Y

// func dotsF32(out *float32, x *float32, w *float32, k int, stride int, rows int, mask *uint32)
TEXT ·dotsF32(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), R10
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ k+24(FP), R11
	MOVQ stride+32(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ mask+48(FP), R12
	SHLQ $2, R8
	ANDQ $-8, R11
	LEAQ (SI)(R11*4), R11 // end of x's full vectors
	TESTQ R12, R12
	JZ   f32group
	VMOVDQU (R12), Y15

f32group:
	CMPQ R9, $4
	JLT  f32single
	MOVQ SI, R13
	MOVQ DI, AX
	LEAQ (DI)(R8*1), BX
	LEAQ (DI)(R8*2), CX
	LEAQ (BX)(R8*2), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ R13, R11
	JAE  f32gtail

f32gloop:
	PREFETCHT0  (AX)(R8*4)
	PREFETCHT0  (BX)(R8*4)
	PREFETCHT0  (CX)(R8*4)
	PREFETCHT0  (DX)(R8*4)
	VMOVUPS     (R13), Y4
	VFMADD231PS (AX), Y4, Y0
	VFMADD231PS (BX), Y4, Y1
	VFMADD231PS (CX), Y4, Y2
	VFMADD231PS (DX), Y4, Y3
	ADDQ        $32, R13
	ADDQ        $32, AX
	ADDQ        $32, BX
	ADDQ        $32, CX
	ADDQ        $32, DX
	CMPQ        R13, R11
	JB          f32gloop

f32gtail:
	TESTQ R12, R12
	JZ    f32gsum
	VMASKMOVPS  (R13), Y15, Y4
	VMASKMOVPS  (AX), Y15, Y5
	VMASKMOVPS  (BX), Y15, Y6
	VMASKMOVPS  (CX), Y15, Y7
	VMASKMOVPS  (DX), Y15, Y8
	VFMADD231PS Y5, Y4, Y0
	VFMADD231PS Y6, Y4, Y1
	VFMADD231PS Y7, Y4, Y2
	VFMADD231PS Y8, Y4, Y3

f32gsum:
	HSUM(Y0, X0, X4)
	HSUM(Y1, X1, X4)
	HSUM(Y2, X2, X4)
	HSUM(Y3, X3, X4)
	VMOVSS X0, (R10)
	VMOVSS X1, 4(R10)
	VMOVSS X2, 8(R10)
	VMOVSS X3, 12(R10)
	ADDQ   $16, R10
	LEAQ   (DI)(R8*4), DI
	SUBQ   $4, R9
	JMP    f32group

f32single:
	TESTQ R9, R9
	JZ    f32done
	MOVQ  SI, R13
	MOVQ  DI, AX
	VXORPS Y0, Y0, Y0
	CMPQ  R13, R11
	JAE   f32stail

f32sloop:
	VMOVUPS     (R13), Y4
	VFMADD231PS (AX), Y4, Y0
	ADDQ        $32, R13
	ADDQ        $32, AX
	CMPQ        R13, R11
	JB          f32sloop

f32stail:
	TESTQ R12, R12
	JZ    f32ssum
	VMASKMOVPS  (R13), Y15, Y4
	VMASKMOVPS  (AX), Y15, Y5
	VFMADD231PS Y5, Y4, Y0

f32ssum:
	HSUM(Y0, X0, X4)
	VMOVSS X0, (R10)
	ADDQ   $4, R10
	ADDQ   R8, DI
	DECQ   R9
	JMP    f32single

f32done:
	VZEROUPPER
	RET

// DOTS16 is the body of dotsBF16 and dotsF16 once their arguments are in
// registers (R10 out, SI x, DI w, R12 k, R8 stride, R9 rows, AX mask, BX perm);
// LD widens 8 elements. Register use then: SI x, DI the group's first row, R8
// stride in bytes, R9 rows left, R10 out, R11 end of x's full vectors, R12
// tail offset (2t-16 bytes; -16 when there is no tail), R14 the prefetch
// cursor (ABI0 code may use R14), Y15 tail mask, Y14 tail permutation.
#define DOTS16(LD, Lgroup, Lsingle, Lgtail, Lgloop, Lgsum, Lsloop, Lstail, Lssum, Ldone) \
	SHLQ $1, R8 \
	MOVQ R12, R11 \
	ANDQ $-8, R11 \
	SUBQ R11, R12 \
	LEAQ (SI)(R11*4), R11 \
	LEAQ -16(R12)(R12*1), R12 \
	TESTQ AX, AX \
	JZ   Lgroup \
	VMOVDQU (AX), Y15 \
	VMOVDQU (BX), Y14 \
Lgroup: \
	CMPQ R9, $4 \
	JLT  Lsingle \
	MOVQ SI, R13 \
	MOVQ DI, AX \
	LEAQ (DI)(R8*1), BX \
	LEAQ (DI)(R8*2), CX \
	LEAQ (BX)(R8*2), DX \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	LEAQ PFAHEAD(BX)(R8*2), R14 \
	ADDQ R8, R14 \
	CMPQ R13, R11 \
	JAE  Lgtail \
Lgloop: \
	PREFETCHT0 (R14) \
	ADDQ $64, R14 \
	VMOVUPS (R13), Y4 \
	LD((AX), Y5) \
	LD((BX), Y6) \
	LD((CX), Y7) \
	LD((DX), Y8) \
	VFMADD231PS Y5, Y4, Y0 \
	VFMADD231PS Y6, Y4, Y1 \
	VFMADD231PS Y7, Y4, Y2 \
	VFMADD231PS Y8, Y4, Y3 \
	ADDQ $32, R13 \
	ADDQ $16, AX \
	ADDQ $16, BX \
	ADDQ $16, CX \
	ADDQ $16, DX \
	CMPQ R13, R11 \
	JB   Lgloop \
Lgtail: \
	CMPQ R12, $-16 \
	JEQ  Lgsum \
	VMASKMOVPS (R13), Y15, Y4 \
	LD((AX)(R12*1), Y5) \
	LD((BX)(R12*1), Y6) \
	LD((CX)(R12*1), Y7) \
	LD((DX)(R12*1), Y8) \
	VPERMD Y5, Y14, Y5 \
	VPERMD Y6, Y14, Y6 \
	VPERMD Y7, Y14, Y7 \
	VPERMD Y8, Y14, Y8 \
	VPAND  Y15, Y5, Y5 \
	VPAND  Y15, Y6, Y6 \
	VPAND  Y15, Y7, Y7 \
	VPAND  Y15, Y8, Y8 \
	VFMADD231PS Y5, Y4, Y0 \
	VFMADD231PS Y6, Y4, Y1 \
	VFMADD231PS Y7, Y4, Y2 \
	VFMADD231PS Y8, Y4, Y3 \
Lgsum: \
	HSUM(Y0, X0, X4) \
	HSUM(Y1, X1, X4) \
	HSUM(Y2, X2, X4) \
	HSUM(Y3, X3, X4) \
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
	VXORPS Y0, Y0, Y0 \
	CMPQ  R13, R11 \
	JAE   Lstail \
Lsloop: \
	VMOVUPS (R13), Y4 \
	LD((AX), Y5) \
	VFMADD231PS Y5, Y4, Y0 \
	ADDQ $32, R13 \
	ADDQ $16, AX \
	CMPQ R13, R11 \
	JB   Lsloop \
Lstail: \
	CMPQ R12, $-16 \
	JEQ  Lssum \
	VMASKMOVPS (R13), Y15, Y4 \
	LD((AX)(R12*1), Y5) \
	VPERMD Y5, Y14, Y5 \
	VPAND  Y15, Y5, Y5 \
	VFMADD231PS Y5, Y4, Y0 \
Lssum: \
	HSUM(Y0, X0, X4) \
	VMOVSS X0, (R10) \
	ADDQ $4, R10 \
	ADDQ R8, DI \
	DECQ R9 \
	JMP  Lsingle \
Ldone: \
	VZEROUPPER \
	RET

// func dotsBF16(out *float32, x *float32, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)
TEXT ·dotsBF16(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), R10
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ k+24(FP), R12
	MOVQ stride+32(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ mask+48(FP), AX
	MOVQ perm+56(FP), BX
	DOTS16(LDBF16, bfgroup, bfsingle, bfgtail, bfgloop, bfgsum, bfsloop, bfstail, bfssum, bfdone)

// func dotsF16(out *float32, x *float32, w *uint16, k int, stride int, rows int, mask *uint32, perm *uint32)
TEXT ·dotsF16(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), R10
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ k+24(FP), R12
	MOVQ stride+32(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ mask+48(FP), AX
	MOVQ perm+56(FP), BX
	DOTS16(LDF16, hfgroup, hfsingle, hfgtail, hfgloop, hfgsum, hfsloop, hfstail, hfssum, hfdone)

// func gemm4x3(c *float32, ldc int, a *float32, lda int, b *float32, ldb int, m int, k int, mask *uint32)
//
// c[i*ldc+j] = Σ_p a[i*lda+p]·b[j*ldb+p] for i < 4 and j < m (m a multiple
// of 3): twelve accumulators, one per output, so that each k step loads four
// rows of a and three of b for twelve FMAs.
TEXT ·gemm4x3(SB), NOSPLIT, $0-72
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

gtile:
	CMPQ R11, $3
	JLT  gdone
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
	JAE  gtail

gloop:
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
	JB          gloop

gtail:
	MOVQ  mask+64(FP), R13
	TESTQ R13, R13
	JZ    gstore
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

gstore:
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
	JMP  gtile

gdone:
	VZEROUPPER
	RET

// WSUM is the body of wsumF32/BF16/F16: out[j] = Σ_t e[t]·v[t*stride+j] for
// j < cols (a multiple of 8), one FMA chain per column in t order. Columns go
// in blocks of 64 (eight accumulators, enough independent chains to hide the
// FMA latency), then 8 at a time. LD loads 8 elements; ES is the element size.
// Arguments are in registers: R10 out, SI e, DI v, R8 stride, R9 ctx, R11 cols.
#define WSUM(LD, ES, Lblk8, Lt8, Lst8, Lblk1, Lt1, Lst1, Ldone) \
	SHLQ $(ES/2), R8 \
Lblk8: \
	CMPQ R11, $64 \
	JLT  Lblk1 \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7 \
	MOVQ SI, AX \
	MOVQ DI, BX \
	MOVQ R9, CX \
	TESTQ CX, CX \
	JZ   Lst8 \
Lt8: \
	VBROADCASTSS (AX), Y8 \
	LD((BX), Y9) \
	LD(8*ES(BX), Y10) \
	LD(16*ES(BX), Y11) \
	LD(24*ES(BX), Y12) \
	VFMADD231PS Y9, Y8, Y0 \
	VFMADD231PS Y10, Y8, Y1 \
	VFMADD231PS Y11, Y8, Y2 \
	VFMADD231PS Y12, Y8, Y3 \
	LD(32*ES(BX), Y9) \
	LD(40*ES(BX), Y10) \
	LD(48*ES(BX), Y11) \
	LD(56*ES(BX), Y12) \
	VFMADD231PS Y9, Y8, Y4 \
	VFMADD231PS Y10, Y8, Y5 \
	VFMADD231PS Y11, Y8, Y6 \
	VFMADD231PS Y12, Y8, Y7 \
	ADDQ $4, AX \
	ADDQ R8, BX \
	DECQ CX \
	JNZ  Lt8 \
Lst8: \
	VMOVUPS Y0, (R10) \
	VMOVUPS Y1, 32(R10) \
	VMOVUPS Y2, 64(R10) \
	VMOVUPS Y3, 96(R10) \
	VMOVUPS Y4, 128(R10) \
	VMOVUPS Y5, 160(R10) \
	VMOVUPS Y6, 192(R10) \
	VMOVUPS Y7, 224(R10) \
	ADDQ $256, R10 \
	ADDQ $(64*ES), DI \
	SUBQ $64, R11 \
	JMP  Lblk8 \
Lblk1: \
	CMPQ R11, $8 \
	JLT  Ldone \
	VXORPS Y0, Y0, Y0 \
	MOVQ SI, AX \
	MOVQ DI, BX \
	MOVQ R9, CX \
	TESTQ CX, CX \
	JZ   Lst1 \
Lt1: \
	VBROADCASTSS (AX), Y8 \
	LD((BX), Y9) \
	VFMADD231PS Y9, Y8, Y0 \
	ADDQ $4, AX \
	ADDQ R8, BX \
	DECQ CX \
	JNZ  Lt1 \
Lst1: \
	VMOVUPS Y0, (R10) \
	ADDQ $32, R10 \
	ADDQ $(8*ES), DI \
	SUBQ $8, R11 \
	JMP  Lblk1 \
Ldone: \
	VZEROUPPER \
	RET

#define LDF32(addr, Y) \
	VMOVUPS addr, Y

// func wsumF32(out *float32, e *float32, v *float32, stride int, ctx int, cols int)
TEXT ·wsumF32(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ e+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ stride+24(FP), R8
	MOVQ ctx+32(FP), R9
	MOVQ cols+40(FP), R11
	WSUM(LDF32, 4, wfblk8, wft8, wfst8, wfblk1, wft1, wfst1, wfdone)

// func wsumBF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)
TEXT ·wsumBF16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ e+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ stride+24(FP), R8
	MOVQ ctx+32(FP), R9
	MOVQ cols+40(FP), R11
	WSUM(LDBF16, 2, wbblk8, wbt8, wbst8, wbblk1, wbt1, wbst1, wbdone)

// func wsumF16(out *float32, e *float32, v *uint16, stride int, ctx int, cols int)
TEXT ·wsumF16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R10
	MOVQ e+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ stride+24(FP), R8
	MOVQ ctx+32(FP), R9
	MOVQ cols+40(FP), R11
	WSUM(LDF16, 2, whblk8, wht8, whst8, whblk1, wht1, whst1, whdone)

// func wsum4F32(out *float32, ldo int, e *float32, lde int, v *float32, stride int, ctx int, cols int)
//
// wsumF32 for four consecutive causal queries: out[r*ldo+j] = Σ_{t < ctx+r}
// e[r*lde+t]·v[t*stride+j] for r < 4 and j < cols (a multiple of 16), each
// column one FMA chain in t order, as wsumF32 sums it. Per 16 columns a value
// row is read once for the four queries (eight accumulators), over t < ctx;
// then rows 1…3 add their last one to three terms.
TEXT ·wsum4F32(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), R10
	MOVQ ldo+8(FP), R14
	SHLQ $2, R14
	MOVQ e+16(FP), SI
	MOVQ lde+24(FP), R12
	SHLQ $2, R12
	LEAQ (R12)(R12*2), R13
	MOVQ v+32(FP), DI
	MOVQ stride+40(FP), R8
	SHLQ $2, R8
	MOVQ ctx+48(FP), R9
	MOVQ cols+56(FP), R11

w4blk:
	CMPQ R11, $16
	JLT  w4done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ  SI, AX
	MOVQ  DI, BX
	MOVQ  R9, CX
	TESTQ CX, CX
	JZ    w4extra

w4t:
	VMOVUPS      (BX), Y8
	VMOVUPS      32(BX), Y9
	VBROADCASTSS (AX), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (AX)(R12*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (AX)(R12*2), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (AX)(R13*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	ADDQ         $4, AX
	ADDQ         R8, BX
	DECQ         CX
	JNZ          w4t

w4extra:
	// AX = e + 4·ctx, BX = v + ctx·stride: term t = ctx for rows 1…3,
	// ctx+1 for rows 2 and 3, ctx+2 for row 3.
	VMOVUPS      (BX), Y8
	VMOVUPS      32(BX), Y9
	VBROADCASTSS (AX)(R12*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (AX)(R12*2), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (AX)(R13*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	VMOVUPS      (BX)(R8*1), Y8
	VMOVUPS      32(BX)(R8*1), Y9
	VBROADCASTSS 4(AX)(R12*2), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS 4(AX)(R13*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	VMOVUPS      (BX)(R8*2), Y8
	VMOVUPS      32(BX)(R8*2), Y9
	VBROADCASTSS 8(AX)(R13*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	VMOVUPS      Y0, (R10)
	VMOVUPS      Y1, 32(R10)
	VMOVUPS      Y2, (R10)(R14*1)
	VMOVUPS      Y3, 32(R10)(R14*1)
	VMOVUPS      Y4, (R10)(R14*2)
	VMOVUPS      Y5, 32(R10)(R14*2)
	LEAQ         (R10)(R14*2), CX
	ADDQ         R14, CX
	VMOVUPS      Y6, (CX)
	VMOVUPS      Y7, 32(CX)
	ADDQ         $64, R10
	ADDQ         $64, DI
	SUBQ         $16, R11
	JMP          w4blk

w4done:
	VZEROUPPER
	RET

// func widenBF16(dst *float32, src *uint16, n int)
// Widens n (a multiple of 8) bfloat16 values; exact.
TEXT ·widenBF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   wbdone

wbloop:
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       wbloop

wbdone:
	VZEROUPPER
	RET

// func widenF16(dst *float32, src *uint16, n int)
// Widens n (a multiple of 8) IEEE half values; exact.
TEXT ·widenF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   whdone

whloop:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       whloop

whdone:
	VZEROUPPER
	RET

// func narrowF16(dst *uint16, src *float32, n int)
// Narrows n (a multiple of 8) float32 values to IEEE half, rounding to
// nearest even (VCVTPS2PH's immediate 0, whatever MXCSR says): the bits of
// x448/float16's Fromfloat32 for every input, NaNs quieted as it does.
TEXT ·narrowF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   nhdone

nhloop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VMOVDQU   X1, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       nhloop

nhdone:
	VZEROUPPER
	RET
