//go:build amd64 && !purego

// Vector float64 exp for the softmax and SiLU, four lanes a step (AVX2 + FMA).
//
// exp(x) = 2^n · p(r), n = round(x·log2 e), r = x − n·ln 2 (ln 2 in two parts),
// p the degree-13 Taylor polynomial, whose error on |r| ≤ ln2/2 is below
// 1e-17 relative: the result is within an ulp or two of float64 exp, and the
// float32 it is rounded to is math.Exp's except in the rare case that the
// float64 value sits within that distance of a float32 rounding boundary.
// x is clamped to [−708, 709] first (keeping NaN), so 2^n is always a normal
// float64; the clamped results round to the same float32 as the true ones.

#include "textflag.h"

#define CONST4(name, bits) \
	DATA name<>+0(SB)/8, bits \
	DATA name<>+8(SB)/8, bits \
	DATA name<>+16(SB)/8, bits \
	DATA name<>+24(SB)/8, bits \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST4(expLog2e, $1.4426950408889634)
CONST4(expMagic, $6755399441055744.0)
CONST4(expLn2Hi, $0.693147180369123816490)
CONST4(expLn2Lo, $1.90821492927058770002e-10)
CONST4(expMax, $709.0)
CONST4(expMin, $-708.0)
CONST4(expBias, $0xBCC80000000003FF) // 1023 − bits(expMagic)
CONST4(expOne, $1.0)
CONST4(expC2, $0.5)
CONST4(expC3, $0.16666666666666666)
CONST4(expC4, $0.041666666666666664)
CONST4(expC5, $0.008333333333333333)
CONST4(expC6, $0.001388888888888889)
CONST4(expC7, $0.0001984126984126984)
CONST4(expC8, $2.48015873015873e-05)
CONST4(expC9, $2.7557319223985893e-06)
CONST4(expC10, $2.755731922398589e-07)
CONST4(expC11, $2.505210838544172e-08)
CONST4(expC12, $2.08767569878681e-09)
CONST4(expC13, $1.6059043836821613e-10)

// EXPPD sets Y0 = exp(Y0) (four float64); clobbers Y1, Y2, Y3.
#define EXPPD \
	VMINPD       Y0, Y15, Y0 \
	VMAXPD       Y0, Y14, Y0 \
	VMOVAPD      Y0, Y1 \
	VFMADD213PD  expMagic<>(SB), Y13, Y1 \
	VSUBPD       expMagic<>(SB), Y1, Y2 \
	VFNMADD231PD expLn2Hi<>(SB), Y2, Y0 \
	VFNMADD231PD expLn2Lo<>(SB), Y2, Y0 \
	VMOVUPD      expC13<>(SB), Y3 \
	VFMADD213PD  expC12<>(SB), Y0, Y3 \
	VFMADD213PD  expC11<>(SB), Y0, Y3 \
	VFMADD213PD  expC10<>(SB), Y0, Y3 \
	VFMADD213PD  expC9<>(SB), Y0, Y3 \
	VFMADD213PD  expC8<>(SB), Y0, Y3 \
	VFMADD213PD  expC7<>(SB), Y0, Y3 \
	VFMADD213PD  expC6<>(SB), Y0, Y3 \
	VFMADD213PD  expC5<>(SB), Y0, Y3 \
	VFMADD213PD  expC4<>(SB), Y0, Y3 \
	VFMADD213PD  expC3<>(SB), Y0, Y3 \
	VFMADD213PD  expC2<>(SB), Y0, Y3 \
	VFMADD213PD  Y12, Y0, Y3 \
	VFMADD213PD  Y12, Y0, Y3 \
	VPADDQ       expBias<>(SB), Y1, Y1 \
	VPSLLQ       $52, Y1, Y1 \
	VMULPD       Y1, Y3, Y0

// EXPPD2 is EXPPD on Y0 and on Y4 at once, the two chains interleaved so that
// one's latency hides behind the other's (an iteration of EXPPD alone is a
// chain of 21 dependent operations); clobbers Y1-Y3 and Y5-Y7. Each lane gets
// exactly EXPPD's operations.
#define EXPPD2 \
	VMINPD       Y0, Y15, Y0 \
	VMINPD       Y4, Y15, Y4 \
	VMAXPD       Y0, Y14, Y0 \
	VMAXPD       Y4, Y14, Y4 \
	VMOVAPD      Y0, Y1 \
	VMOVAPD      Y4, Y5 \
	VFMADD213PD  expMagic<>(SB), Y13, Y1 \
	VFMADD213PD  expMagic<>(SB), Y13, Y5 \
	VSUBPD       expMagic<>(SB), Y1, Y2 \
	VSUBPD       expMagic<>(SB), Y5, Y6 \
	VFNMADD231PD expLn2Hi<>(SB), Y2, Y0 \
	VFNMADD231PD expLn2Hi<>(SB), Y6, Y4 \
	VFNMADD231PD expLn2Lo<>(SB), Y2, Y0 \
	VFNMADD231PD expLn2Lo<>(SB), Y6, Y4 \
	VMOVUPD      expC13<>(SB), Y3 \
	VMOVUPD      expC13<>(SB), Y7 \
	VFMADD213PD  expC12<>(SB), Y0, Y3 \
	VFMADD213PD  expC12<>(SB), Y4, Y7 \
	VFMADD213PD  expC11<>(SB), Y0, Y3 \
	VFMADD213PD  expC11<>(SB), Y4, Y7 \
	VFMADD213PD  expC10<>(SB), Y0, Y3 \
	VFMADD213PD  expC10<>(SB), Y4, Y7 \
	VFMADD213PD  expC9<>(SB), Y0, Y3 \
	VFMADD213PD  expC9<>(SB), Y4, Y7 \
	VFMADD213PD  expC8<>(SB), Y0, Y3 \
	VFMADD213PD  expC8<>(SB), Y4, Y7 \
	VFMADD213PD  expC7<>(SB), Y0, Y3 \
	VFMADD213PD  expC7<>(SB), Y4, Y7 \
	VFMADD213PD  expC6<>(SB), Y0, Y3 \
	VFMADD213PD  expC6<>(SB), Y4, Y7 \
	VFMADD213PD  expC5<>(SB), Y0, Y3 \
	VFMADD213PD  expC5<>(SB), Y4, Y7 \
	VFMADD213PD  expC4<>(SB), Y0, Y3 \
	VFMADD213PD  expC4<>(SB), Y4, Y7 \
	VFMADD213PD  expC3<>(SB), Y0, Y3 \
	VFMADD213PD  expC3<>(SB), Y4, Y7 \
	VFMADD213PD  expC2<>(SB), Y0, Y3 \
	VFMADD213PD  expC2<>(SB), Y4, Y7 \
	VFMADD213PD  Y12, Y0, Y3 \
	VFMADD213PD  Y12, Y4, Y7 \
	VFMADD213PD  Y12, Y0, Y3 \
	VFMADD213PD  Y12, Y4, Y7 \
	VPADDQ       expBias<>(SB), Y1, Y1 \
	VPADDQ       expBias<>(SB), Y5, Y5 \
	VPSLLQ       $52, Y1, Y1 \
	VPSLLQ       $52, Y5, Y5 \
	VMULPD       Y1, Y3, Y0 \
	VMULPD       Y5, Y7, Y4

#define EXPCONSTS \
	VMOVUPD expMax<>(SB), Y15 \
	VMOVUPD expMin<>(SB), Y14 \
	VMOVUPD expLog2e<>(SB), Y13 \
	VMOVUPD expOne<>(SB), Y12

// func expShift(w *float32, m float32, n int)
// w[i] = float32(exp(float64(w[i] − m))) for i < n (a multiple of 4); the
// subtraction is float32, as in the Go loop.
TEXT ·expShift(SB), NOSPLIT, $0-24
	MOVQ         w+0(FP), DI
	VBROADCASTSS m+8(FP), X11
	MOVQ         n+16(FP), CX
	SHRQ         $2, CX
	JZ           esdone
	EXPCONSTS

es2loop:
	CMPQ      CX, $2
	JLT       esloop
	VMOVUPS   (DI), X0
	VMOVUPS   16(DI), X4
	VSUBPS    X11, X0, X0
	VSUBPS    X11, X4, X4
	VCVTPS2PD X0, Y0
	VCVTPS2PD X4, Y4
	EXPPD2
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y4, X4
	VMOVUPS   X0, (DI)
	VMOVUPS   X4, 16(DI)
	ADDQ      $32, DI
	SUBQ      $2, CX
	JMP       es2loop

esloop:
	TESTQ     CX, CX
	JZ        esdone
	VMOVUPS   (DI), X0
	VSUBPS    X11, X0, X0
	VCVTPS2PD X0, Y0
	EXPPD
	VCVTPD2PSY Y0, X0
	VMOVUPS   X0, (DI)
	ADDQ      $16, DI
	DECQ      CX
	JMP       esloop

esdone:
	VZEROUPPER
	RET

// func siluMul(out *float32, gate *float32, u *float32, n int)
// out[i] = float32(gate/(1+exp(−gate))) · u[i], the quotient in float64, for i < n
// (a multiple of 4).
TEXT ·siluMul(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $2, CX
	JZ   smdone
	EXPCONSTS
	VXORPD Y11, Y11, Y11

sm2loop:
	CMPQ       CX, $2
	JLT        smloop
	VCVTPS2PD  (SI), Y10
	VCVTPS2PD  16(SI), Y9
	VSUBPD     Y10, Y11, Y0
	VSUBPD     Y9, Y11, Y4
	EXPPD2
	VADDPD     Y12, Y0, Y0
	VADDPD     Y12, Y4, Y4
	VDIVPD     Y0, Y10, Y0
	VDIVPD     Y4, Y9, Y4
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y4, X4
	VMULPS     (DX), X0, X0
	VMULPS     16(DX), X4, X4
	VMOVUPS    X0, (DI)
	VMOVUPS    X4, 16(DI)
	ADDQ       $32, SI
	ADDQ       $32, DX
	ADDQ       $32, DI
	SUBQ       $2, CX
	JMP        sm2loop

smloop:
	TESTQ      CX, CX
	JZ         smdone
	VCVTPS2PD  (SI), Y10
	VSUBPD     Y10, Y11, Y0
	EXPPD
	VADDPD     Y12, Y0, Y0
	VDIVPD     Y0, Y10, Y0
	VCVTPD2PSY Y0, X0
	VMULPS     (DX), X0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DX
	ADDQ       $16, DI
	DECQ       CX
	JMP        smloop

smdone:
	VZEROUPPER
	RET

// The AVX-512 versions: EXPPD2's operations on eight lanes per chain, the
// constants broadcast from the same tables, so that each element gets the
// bits it gets from the AVX2 loops. (EXPPD2 is bound by its chains' latency,
// 21 dependent operations, not by the FMA units, so twice the lanes per
// instruction is about twice the elements a second even where the core
// executes 512-bit operations in two halves.)

// EXPPD2Z is EXPPD2 on Z0 and Z4; clobbers Z1-Z3 and Z5-Z7.
#define EXPPD2Z \
	VMINPD            Z0, Z15, Z0 \
	VMINPD            Z4, Z15, Z4 \
	VMAXPD            Z0, Z14, Z0 \
	VMAXPD            Z4, Z14, Z4 \
	VMOVAPD           Z0, Z1 \
	VMOVAPD           Z4, Z5 \
	VFMADD213PD.BCST  expMagic<>(SB), Z13, Z1 \
	VFMADD213PD.BCST  expMagic<>(SB), Z13, Z5 \
	VSUBPD.BCST       expMagic<>(SB), Z1, Z2 \
	VSUBPD.BCST       expMagic<>(SB), Z5, Z6 \
	VFNMADD231PD.BCST expLn2Hi<>(SB), Z2, Z0 \
	VFNMADD231PD.BCST expLn2Hi<>(SB), Z6, Z4 \
	VFNMADD231PD.BCST expLn2Lo<>(SB), Z2, Z0 \
	VFNMADD231PD.BCST expLn2Lo<>(SB), Z6, Z4 \
	VBROADCASTSD      expC13<>(SB), Z3 \
	VBROADCASTSD      expC13<>(SB), Z7 \
	VFMADD213PD.BCST  expC12<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC12<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC11<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC11<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC10<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC10<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC9<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC9<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC8<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC8<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC7<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC7<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC6<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC6<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC5<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC5<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC4<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC4<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC3<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC3<>(SB), Z4, Z7 \
	VFMADD213PD.BCST  expC2<>(SB), Z0, Z3 \
	VFMADD213PD.BCST  expC2<>(SB), Z4, Z7 \
	VFMADD213PD       Z12, Z0, Z3 \
	VFMADD213PD       Z12, Z4, Z7 \
	VFMADD213PD       Z12, Z0, Z3 \
	VFMADD213PD       Z12, Z4, Z7 \
	VPADDQ.BCST       expBias<>(SB), Z1, Z1 \
	VPADDQ.BCST       expBias<>(SB), Z5, Z5 \
	VPSLLQ            $52, Z1, Z1 \
	VPSLLQ            $52, Z5, Z5 \
	VMULPD            Z1, Z3, Z0 \
	VMULPD            Z5, Z7, Z4

#define EXPCONSTSZ \
	VBROADCASTSD expMax<>(SB), Z15 \
	VBROADCASTSD expMin<>(SB), Z14 \
	VBROADCASTSD expLog2e<>(SB), Z13 \
	VBROADCASTSD expOne<>(SB), Z12

// func expShift512(w *float32, m float32, n int)
// expShift for n a multiple of 16, sixteen elements a step.
TEXT ·expShift512(SB), NOSPLIT, $0-24
	MOVQ         w+0(FP), DI
	VBROADCASTSS m+8(FP), Y11
	MOVQ         n+16(FP), CX
	SHRQ         $4, CX
	JZ           zesdone
	EXPCONSTSZ

zesloop:
	VMOVUPS   (DI), Y0
	VMOVUPS   32(DI), Y4
	VSUBPS    Y11, Y0, Y0
	VSUBPS    Y11, Y4, Y4
	VCVTPS2PD Y0, Z0
	VCVTPS2PD Y4, Z4
	EXPPD2Z
	VCVTPD2PS Z0, Y0
	VCVTPD2PS Z4, Y4
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y4, 32(DI)
	ADDQ      $64, DI
	DECQ      CX
	JNZ       zesloop

zesdone:
	VZEROUPPER
	RET

// func siluMul512(out *float32, gate *float32, u *float32, n int)
// siluMul for n a multiple of 16, sixteen elements a step.
TEXT ·siluMul512(SB), NOSPLIT, $0-32
	MOVQ   out+0(FP), DI
	MOVQ   gate+8(FP), SI
	MOVQ   u+16(FP), DX
	MOVQ   n+24(FP), CX
	SHRQ   $4, CX
	JZ     zsmdone
	EXPCONSTSZ
	VPXORQ Z11, Z11, Z11

zsmloop:
	VCVTPS2PD (SI), Z10
	VCVTPS2PD 32(SI), Z9
	VSUBPD    Z10, Z11, Z0
	VSUBPD    Z9, Z11, Z4
	EXPPD2Z
	VADDPD    Z12, Z0, Z0
	VADDPD    Z12, Z4, Z4
	VDIVPD    Z0, Z10, Z0
	VDIVPD    Z4, Z9, Z4
	VCVTPD2PS Z0, Y0
	VCVTPD2PS Z4, Y4
	VMULPS    (DX), Y0, Y0
	VMULPS    32(DX), Y4, Y4
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y4, 32(DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, DI
	DECQ      CX
	JNZ       zsmloop

zsmdone:
	VZEROUPPER
	RET
