/* ptx_ops_test.c - per-opcode PTX snippets run on one thread, against values
 * worked by hand from the PTX ISA manual's definitions. */
#include "ptx_common.h"

static const char *HEAD =
	".version 7.8\n.target sm_80\n.address_size 64\n"
	".visible .entry t(.param .u64 out, .param .u64 in)\n{\n"
	".reg .pred %p<8>;\n.reg .b16 %rs<8>;\n.reg .f32 %f<8>;\n.reg .b32 %r<8>;\n"
	".reg .b64 %rd<8>;\n.reg .f64 %fd<8>;\n"
	"ld.param.u64 %rd6, [out];\nld.param.u64 %rd7, [in];\n"
	"ld.global.u32 %r1, [%rd7];\nld.global.u32 %r2, [%rd7+4];\nld.global.u32 %r3, [%rd7+8];\n"
	"mov.b32 %f1, %r1;\nmov.b32 %f2, %r2;\nmov.b32 %f3, %r3;\n"
	"ld.global.u64 %rd1, [%rd7+16];\nld.global.u64 %rd2, [%rd7+24];\nld.global.u64 %rd3, [%rd7+32];\n"
	"mov.b64 %fd1, %rd1;\nmov.b64 %fd2, %rd2;\nmov.b64 %fd3, %rd3;\n";
static const char *TAIL = "st.global.u32 [%rd6], %r5;\nst.global.u64 [%rd6+8], %rd5;\nret;\n}\n";

static uint32_t out32;
static uint64_t out64;
static char lasterr[300];

/* run: BODY reads %r1..3/%f1..3 (the u32 inputs) and %rd1..3/%fd1..3 (the
 * u64 inputs) and leaves its result in %r5 and/or %rd5. */
static int run(const char *body, uint32_t a, uint32_t b, uint32_t c, uint64_t x, uint64_t y, uint64_t z)
{
	char text[8192];
	snprintf(text, sizeof text, "%s%s\nmov.u32 %%r5, 0;\nmov.u64 %%rd5, 0;\n%s\n%s", HEAD, "", body, TAIL);
	/* results default to 0 before body: the body is placed after the movs */
	ptx_module *m = ptx_load(text, lasterr, sizeof lasterr);
	if (!m) {
		fprintf(stderr, "load: %s\n", lasterr);
		return -1;
	}
	t_reset();
	uint32_t *in = t_alloc(40);
	uint64_t *o = t_alloc(16);
	in[0] = a;
	in[1] = b;
	in[2] = c;
	memcpy(in + 4, &x, 8);
	memcpy(in + 6, &y, 8);
	memcpy(in + 8, &z, 8);
	void *pp[2] = {&o, &in};
	int r = t_launch(ptx_kernel_find(m, "t"), 1, 1, 1, 0, pp, 0, 0, lasterr, sizeof lasterr, NULL);
	if (r)
		fprintf(stderr, "launch: %s\n", lasterr);
	memcpy(&out32, o, 4);
	out64 = o[1];
	ptx_unload(m);
	return r;
}

static uint32_t F(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static uint64_t D(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }

#define R32(body, a, b, c, want)                                                            \
	do {                                                                                    \
		int rc_ = run(body, a, b, c, 0, 0, 0);                                              \
		EXPECT(rc_ == 0 && out32 == (uint32_t)(want), "%s (%08x,%08x,%08x): got %08x want %08x", \
		       body, (unsigned)(a), (unsigned)(b), (unsigned)(c), out32, (unsigned)(want)); \
	} while (0)
#define R64(body, x, y, z, want)                                                           \
	do {                                                                                   \
		int rc_ = run(body, 0, 0, 0, x, y, z);                                             \
		EXPECT(rc_ == 0 && out64 == (uint64_t)(want), "%s: got %016llx want %016llx", body, \
		       (unsigned long long)out64, (unsigned long long)(want));                     \
	} while (0)

static void test_integer(void)
{
	R32("add.s32 %r5, %r1, %r2;", 0x7fffffff, 1, 0, 0x80000000u); /* wraps */
	R32("sub.s32 %r5, %r1, %r2;", 0, 1, 0, 0xffffffffu);
	R32("mul.lo.s32 %r5, %r1, %r2;", 0x10001, 0x10001, 0, 0x00020001u); /* 0x100020001 low */
	R32("mul.hi.u32 %r5, %r1, %r2;", 0x80000000u, 4, 0, 2);
	R32("mad.lo.s32 %r5, %r1, %r2, %r3;", 3, 5, 7, 22);
	R32("div.s32 %r5, %r1, %r2;", (uint32_t)-7, 2, 0, (uint32_t)-3); /* truncates */
	R32("rem.s32 %r5, %r1, %r2;", (uint32_t)-7, 2, 0, (uint32_t)-1);
	R32("div.u32 %r5, %r1, %r2;", 0xffffffffu, 16, 0, 0x0fffffffu);
	R32("div.s32 %r5, %r1, %r2;", 0x80000000u, 0xffffffffu, 0, 0x80000000u); /* INT_MIN/-1 */
	R32("min.s32 %r5, %r1, %r2;", (uint32_t)-1, 1, 0, (uint32_t)-1);
	R32("min.u32 %r5, %r1, %r2;", (uint32_t)-1, 1, 0, 1);
	R32("max.s32 %r5, %r1, %r2;", (uint32_t)-1, 1, 0, 1);
	R32("neg.s32 %r5, %r1;", 5, 0, 0, (uint32_t)-5);
	R32("not.b32 %r5, %r1;", 0x0f0f0f0f, 0, 0, 0xf0f0f0f0u);
	R32("and.b32 %r5, %r1, %r2;", 0xff00ff00u, 0x0ff00ff0u, 0, 0x0f000f00u);
	R32("or.b32 %r5, %r1, %r2;", 0xff00ff00u, 0x0ff00ff0u, 0, 0xfff0fff0u);
	R32("xor.b32 %r5, %r1, %r2;", 0xff00ff00u, 0x0ff00ff0u, 0, 0xf0f0f0f0u);
	/* shifts clamp: a shift of 32 or more gives 0 (sign fill for shr.s32) */
	R32("shl.b32 %r5, %r1, %r2;", 1, 31, 0, 0x80000000u);
	R32("shl.b32 %r5, %r1, %r2;", 1, 32, 0, 0);
	R32("shr.u32 %r5, %r1, %r2;", 0x80000000u, 40, 0, 0);
	R32("shr.s32 %r5, %r1, %r2;", 0x80000000u, 40, 0, 0xffffffffu);
	R32("shr.s32 %r5, %r1, 4;", 0x80000000u, 0, 0, 0xf8000000u);
	R32("mul.wide.s32 %rd5, %r1, %r2; cvt.u32.u64 %r5, %rd5; shr.u64 %rd5, %rd5, 32; cvt.u32.u64 %r4, %rd5; add.s32 %r5, %r5, %r4;",
	    (uint32_t)-2, 3, 0, (uint32_t)-6 + 0xffffffffu); /* -6 = 0xffff_ffff_ffff_fffa: low + high */
	R32("mov.b32 %r5, 0x1234; cvt.u16.u32 %rs1, %r1; mov.b32 %r5, {%rs1, %rs1};", 0xabcd1234u, 0, 0, 0x12341234u);
	R32("mov.b32 {%rs1, %rs2}, %r1; mov.b32 %r5, {%rs2, %rs1};", 0xabcd1234u, 0, 0, 0x1234abcdu);
	/* setp / selp / predicates */
	R32("setp.lt.s32 %p1, %r1, %r2; selp.b32 %r5, 1, 2, %p1;", (uint32_t)-1, 0, 0, 1);
	R32("setp.lt.u32 %p1, %r1, %r2; selp.b32 %r5, 1, 2, %p1;", (uint32_t)-1, 0, 0, 2);
	R32("setp.ge.s32 %p1, %r1, %r2; @%p1 mov.u32 %r5, 7;", 3, 3, 0, 7);
	R32("setp.ne.s32 %p1, %r1, %r2; @!%p1 mov.u32 %r5, 9;", 3, 3, 0, 9);
	R32("setp.eq.s32 %p1, %r1, 0; setp.eq.s32 %p2, %r2, 0; xor.pred %p3, %p1, %p2; selp.u32 %r5, 1, 0, %p3;", 0, 1, 0, 1);
	R32("setp.eq.s32 %p1, %r1, 0; setp.eq.s32 %p2, %r2, 0; and.pred %p3, %p1, %p2; selp.u32 %r5, 1, 0, %p3;", 0, 1, 0, 0);
	R32("setp.eq.s32 %p1, %r1, 0; setp.eq.s32 %p2, %r2, 0; or.pred %p3, %p1, %p2; selp.u32 %r5, 1, 0, %p3;", 0, 1, 0, 1);
	R32("cvt.u16.u32 %rs1, %r1; setp.eq.s16 %p1, %rs1, -1; selp.u32 %r5, 1, 0, %p1;", 0x1ffff, 0, 0, 1);
	/* bfi.b64: insert the low 32 bits of a at 32..63 of b */
	R64("bfi.b64 %rd5, %rd1, %rd2, 32, 32;", 0x11223344ull, 0xaaaabbbbccccddddull, 0, 0x11223344ccccddddull);
	R64("bfi.b64 %rd5, %rd1, %rd2, 4, 8;", 0xffull, 0, 0, 0xff0ull);
	R64("mad.wide.u32 %rd5, %r1, %r2, %rd1;", 0, 0, 0, 0); /* inputs zero */
	R64("mul.lo.s64 %rd5, %rd1, %rd2;", 0x100000000ull, 0x100000001ull, 0, 0x100000000ull);
	R64("div.s64 %rd5, %rd1, %rd2;", (uint64_t)-9, 4, 0, (uint64_t)-2);
	R64("shl.b64 %rd5, %rd1, 63;", 1, 0, 0, 0x8000000000000000ull);
	R64("shr.s64 %rd5, %rd1, 63;", 0x8000000000000000ull, 0, 0, ~0ull);
	R64("cvt.u32.u64 %r4, %rd1; cvt.s64.s32 %rd5, %r4;", 0x80000000ull, 0, 0, 0xffffffff80000000ull);
	R64("cvt.u32.u64 %r4, %rd1; cvt.u64.u32 %rd5, %r4;", 0x180000000ull, 0, 0, 0x80000000ull);
	R64("and.b64 %rd5, %rd1, -4294967296;", 0x123456789ull, 0, 0, 0x100000000ull);
}

static void test_float(void)
{
	const uint32_t QNAN = 0x7fffffffu, INF = 0x7f800000u;
	R32("add.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.5f), F(2.25f), 0, F(3.75f));
	/* 1 + 2^-24 is half an ulp of 1: ties to even stays 1 (rn) */
	R32("add.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f), F(0x1p-24f), 0, F(1.0f));
	R32("add.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f + 0x1p-23f), F(0x1p-24f), 0, F(1.0f + 0x1p-22f));
	/* directed: 1 + 2^-30 */
	R32("add.rz.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f), F(0x1p-30f), 0, F(1.0f));
	R32("add.rp.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f), F(0x1p-30f), 0, F(1.0f + 0x1p-23f));
	R32("add.rm.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(-1.0f), F(-0x1p-30f), 0, F(-1.0f - 0x1p-23f));
	R32("add.rz.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(-1.0f), F(-0x1p-30f), 0, F(-1.0f));
	/* fma.rm: (1+2^-23)(1-2^-23) + 0 = 1 - 2^-46: rm gives 1-2^-24, rn gives 1 */
	R32("fma.rm.f32 %f5, %f1, %f2, %f3; mov.b32 %r5, %f5;", F(1.0f + 0x1p-23f), F(1.0f - 0x1p-23f), F(0.0f), F(1.0f - 0x1p-24f));
	R32("fma.rn.f32 %f5, %f1, %f2, %f3; mov.b32 %r5, %f5;", F(1.0f + 0x1p-23f), F(1.0f - 0x1p-23f), F(0.0f), F(1.0f));
	R32("fma.rp.f32 %f5, %f1, %f2, %f3; mov.b32 %r5, %f5;", F(1.0f + 0x1p-23f), F(1.0f - 0x1p-23f), F(0.0f), F(1.0f));
	R32("fma.rz.f32 %f5, %f1, %f2, %f3; mov.b32 %r5, %f5;", F(1.0f + 0x1p-23f), F(1.0f - 0x1p-23f), F(0.0f), F(1.0f - 0x1p-24f));
	/* fma is fused: (1+2^-12)^2 - (1+2^-11) = 2^-24 exactly; separate mul/add give 0 */
	R32("fma.rn.f32 %f5, %f1, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f + 0x1p-12f), F(-(1.0f + 0x1p-11f)), 0, F(0x1p-24f));
	R32("mul.f32 %f4, %f1, %f1; add.f32 %f5, %f4, %f2; mov.b32 %r5, %f5;", F(1.0f + 0x1p-12f), F(-(1.0f + 0x1p-11f)), 0, F(0.0f));
	/* denormals survive without .ftz and flush with it */
	R32("mul.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(0x1p-140f), F(1.0f), 0, F(0x1p-140f));
	R32("mul.rn.ftz.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(0x1p-140f), F(1.0f), 0, 0);
	R32("mul.rn.ftz.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(-0x1p-140f), F(1.0f), 0, 0x80000000u);
	/* .sat clamps to [0,1], NaN to +0 */
	R32("cvt.sat.f32.f32 %f5, %f1; mov.b32 %r5, %f5;", F(1.5f), 0, 0, F(1.0f));
	R32("cvt.sat.f32.f32 %f5, %f1; mov.b32 %r5, %f5;", F(-2.0f), 0, 0, 0);
	R32("cvt.sat.f32.f32 %f5, %f1; mov.b32 %r5, %f5;", QNAN, 0, 0, 0);
	R32("cvt.sat.f32.f32 %f5, %f1; mov.b32 %r5, %f5;", F(0.25f), 0, 0, F(0.25f));
	R32("cvt.sat.f32.f32 %f5, %f1; mov.b32 %r5, %f5;", F(0x1p-140f), 0, 0, F(0x1p-140f));
	R32("add.rn.sat.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(0.75f), F(0.5f), 0, F(1.0f));
	/* min/max: NaN loses to a number */
	R32("max.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", QNAN, F(2.0f), 0, F(2.0f));
	R32("min.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(3.0f), QNAN, 0, F(3.0f));
	R32("max.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", 0xff800000u, F(-5.0f), 0, F(-5.0f));
	R32("neg.f32 %f5, %f1; mov.b32 %r5, %f5;", F(0.0f), 0, 0, 0x80000000u);
	R32("abs.f32 %f5, %f1; mov.b32 %r5, %f5;", 0xffc00000u, 0, 0, 0x7fc00000u);
	/* correctly rounded div/rcp/sqrt */
	R32("div.rn.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f), F(3.0f), 0, 0x3eaaaaabu);
	R32("rcp.rn.f32 %f5, %f1; mov.b32 %r5, %f5;", F(3.0f), 0, 0, 0x3eaaaaabu);
	R32("rcp.rn.f32 %f5, %f1; mov.b32 %r5, %f5;", F(-0.0f), 0, 0, 0xff800000u);
	R32("sqrt.rn.f32 %f5, %f1; mov.b32 %r5, %f5;", F(2.0f), 0, 0, 0x3fb504f3u);
	{
		int rc = run("sqrt.rn.f32 %f5, %f1; mov.b32 %r5, %f5;", F(-1.0f), 0, 0, 0, 0, 0);
		EXPECT(rc == 0 && (out32 & 0x7f800000u) == 0x7f800000u && (out32 & 0x7fffffu), "sqrt(-1) = %08x, want a NaN", out32);
	}
	R32("div.rn.f32 %f5, %f1, %f2; mov.b32 %r5, %f5;", F(1.0f), F(0.0f), 0, INF);
	/* setp ordered/unordered */
	R32("setp.lt.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", QNAN, F(1.0f), 0, 0);
	R32("setp.ltu.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", QNAN, F(1.0f), 0, 1);
	R32("setp.neu.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", QNAN, QNAN, 0, 1);
	R32("setp.ne.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", QNAN, QNAN, 0, 0);
	R32("setp.nan.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", F(1.0f), QNAN, 0, 1);
	R32("setp.num.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", F(1.0f), QNAN, 0, 0);
	R32("setp.leu.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", F(2.0f), F(1.0f), 0, 0);
	R32("setp.eq.f32 %p1, %f1, %f2; selp.u32 %r5, 1, 0, %p1;", F(0.0f), F(-0.0f), 0, 1);
	/* ex2.approx.ftz: exact powers of two, infinities, flushed denormals */
	R32("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", F(3.0f), 0, 0, F(8.0f));
	R32("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", F(-1.0f), 0, 0, F(0.5f));
	R32("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", 0xff800000u, 0, 0, 0);
	R32("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", INF, 0, 0, INF);
	R32("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", F(0x1p-140f), 0, 0, F(1.0f)); /* input flushed: 2^0 */
	R32("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", F(-130.0f), 0, 0, 0); /* 2^-130 is denormal: flushed */
	R32("ex2.approx.f32 %f5, %f1; mov.b32 %r5, %f5;", F(-130.0f), 0, 0, F(0x1p-130f));
	/* ex2 accuracy: the manual's bound is 2 ulp; 2^0.5 = sqrt 2 */
	{
		int rc = run("ex2.approx.ftz.f32 %f5, %f1; mov.b32 %r5, %f5;", F(0.5f), 0, 0, 0, 0, 0);
		int32_t ulps = (int32_t)(out32 - 0x3fb504f3u);
		EXPECT(rc == 0 && ulps >= -2 && ulps <= 2, "ex2(0.5) = %08x, %d ulp from sqrt(2)", out32, ulps);
	}
	/* f64 */
	R64("add.f64 %fd5, %fd1, %fd2; mov.b64 %rd5, %fd5;", D(1.0), D(0x1p-53), 0, D(1.0));
	R64("add.rp.f64 %fd5, %fd1, %fd2; mov.b64 %rd5, %fd5;", D(1.0), D(0x1p-60), 0, D(1.0 + 0x1p-52));
	R64("fma.rn.f64 %fd5, %fd1, %fd1, %fd2; mov.b64 %rd5, %fd5;", D(1.0 + 0x1p-27), D(-(1.0 + 0x1p-26)), 0, D(0x1p-54));
	R64("div.rn.f64 %fd5, %fd1, %fd2; mov.b64 %rd5, %fd5;", D(1.0), D(4.0), 0, D(0.25));
	R64("neg.f64 %fd5, %fd1; mov.b64 %rd5, %fd5;", D(2.0), 0, 0, D(-2.0));
	R64("rcp.approx.ftz.f64 %fd5, %fd1; mov.b64 %rd5, %fd5;", D(4.0), 0, 0, D(0.25));
	R64("cvt.f64.f32 %fd5, %f1; mov.b64 %rd5, %fd5;", 0, 0, 0, D(0.0));
	R64("cvt.rni.f64.f64 %fd5, %fd1; mov.b64 %rd5, %fd5;", D(2.5), 0, 0, D(2.0));
	R64("cvt.rni.f64.f64 %fd5, %fd1; mov.b64 %rd5, %fd5;", D(-3.5), 0, 0, D(-4.0));
}

static void test_cvt(void)
{
	/* f32 -> f16, round to nearest even: 1 + 2^-11 is halfway between 1 and
	 * 1 + 2^-10: even is 1 (0x3c00); 1 + 3*2^-11 rounds up to 0x3c02. */
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 0x1p-11f), 0, 0, 0x3c00);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 3 * 0x1p-11f), 0, 0, 0x3c02);
	R32("cvt.rz.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 3 * 0x1p-11f), 0, 0, 0x3c01);
	R32("cvt.rp.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 0x1p-20f), 0, 0, 0x3c01);
	R32("cvt.rm.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(-(1.0f + 0x1p-20f)), 0, 0, 0xbc01);
	R32("cvt.rm.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 0x1p-20f), 0, 0, 0x3c00);
	/* 65504 is the largest half; 65520 is halfway to 65536: rn overflows to inf, rz keeps max */
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(65519.0f), 0, 0, 0x7bff);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(65520.0f), 0, 0, 0x7c00);
	R32("cvt.rz.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1e10f), 0, 0, 0x7bff);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(-1e10f), 0, 0, 0xfc00);
	/* denormal halves: 2^-24 is the smallest; 2^-25 ties to even 0; 3*2^-26 rounds to 2^-24 */
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(0x1p-24f), 0, 0, 0x0001);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(0x1p-25f), 0, 0, 0x0000);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(3 * 0x1p-26f), 0, 0, 0x0001);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(3 * 0x1p-25f), 0, 0, 0x0002); /* 1.5 ulp -> 2 */
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(0x1p-14f), 0, 0, 0x0400);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(0x1p-14f - 0x1p-25f), 0, 0, 0x0400); /* rounds up into the normals */
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x7f800000u, 0, 0, 0x7c00);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x7fc00000u, 0, 0, 0x7fff);
	R32("cvt.rn.f16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(-0.0f), 0, 0, 0x8000);
	/* f16 -> f32 exact, denormals included */
	R32("cvt.u16.u32 %rs1, %r1; cvt.f32.f16 %f5, %rs1; mov.b32 %r5, %f5;", 0x0001, 0, 0, F(0x1p-24f));
	R32("cvt.u16.u32 %rs1, %r1; cvt.f32.f16 %f5, %rs1; mov.b32 %r5, %f5;", 0xc000, 0, 0, F(-2.0f));
	R32("cvt.u16.u32 %rs1, %r1; cvt.f32.f16 %f5, %rs1; mov.b32 %r5, %f5;", 0x7c00, 0, 0, 0x7f800000u);
	/* bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even is 0x3f80; 1 + 3*2^-8 -> 0x3f82 */
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 0x1p-8f), 0, 0, 0x3f80);
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", F(1.0f + 3 * 0x1p-8f), 0, 0, 0x3f82);
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x3f818000u, 0, 0, 0x3f82); /* 1.0117: up */
	R32("cvt.rz.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x3f81ffffu, 0, 0, 0x3f81);
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x7f7fffffu, 0, 0, 0x7f80); /* FLT_MAX rounds to inf */
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x7fc00001u, 0, 0, 0x7fff);
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x00008000u, 0, 0, 0x0000); /* denormal tie to even */
	R32("cvt.rn.bf16.f32 %rs1, %f1; cvt.u32.u16 %r5, %rs1;", 0x00018000u, 0, 0, 0x0002);
	R32("cvt.rn.bf16.f32 %rs1, %f1; mov.b32 %f5, {0, %rs1}; mov.b32 %r5, %f5;", F(3.0f), 0, 0, F(3.0f));
	/* the packed forms convert a into the upper half of d and b into the lower
	 * (PTX ISA, cvt: ".f16x2 and .bf16x2 ... the value converted from input a
	 * is stored in the upper half of d"), each rounded as the scalar form */
	R32("cvt.rn.bf16x2.f32 %r5, %f1, %f2;", F(1.0f + 3 * 0x1p-8f), F(3.0f), 0, 0x3f824040u);
	R32("cvt.rn.bf16x2.f32 %r5, %f1, %f2;", F(1.0f + 0x1p-8f), 0x7fc00001u, 0, 0x3f807fffu);
	R32("cvt.rz.bf16x2.f32 %r5, %f1, %f2;", 0x3f81ffffu, F(-1.0f), 0, 0x3f81bf80u);
	R32("cvt.rn.f16x2.f32 %r5, %f1, %f2;", F(1.0f + 0x1p-11f), F(-2.0f), 0, 0x3c00c000u);
	R32("cvt.rn.f16x2.f32 %r5, %f1, %f2;", F(65520.0f), F(3 * 0x1p-25f), 0, 0x7c000002u);
	R32("cvt.rz.f16x2.f32 %r5, %f1, %f2;", F(1.0f + 3 * 0x1p-11f), F(65520.0f), 0, 0x3c017bffu);
	/* int <-> float */
	R32("cvt.rn.f32.s32 %f5, %r1; mov.b32 %r5, %f5;", (uint32_t)-16777217, 0, 0, F(-16777216.0f)); /* tie to even */
	R32("cvt.rn.f32.s32 %f5, %r1; mov.b32 %r5, %f5;", 16777219, 0, 0, F(16777220.0f));
	R32("cvt.rz.f32.s32 %f5, %r1; mov.b32 %r5, %f5;", 16777219, 0, 0, F(16777218.0f));
	R32("cvt.rni.s32.f32 %r5, %f1;", F(2.5f), 0, 0, 2);
	R32("cvt.rni.s32.f32 %r5, %f1;", F(-3.5f), 0, 0, (uint32_t)-4);
	R32("cvt.rzi.s32.f32 %r5, %f1;", F(-3.7f), 0, 0, (uint32_t)-3);
	R32("cvt.rni.s32.f32 %r5, %f1;", F(3e9f), 0, 0, 0x7fffffffu); /* saturates */
	R32("cvt.rni.s32.f32 %r5, %f1;", 0x7fc00000u, 0, 0, 0); /* NaN -> 0 */
	R64("cvt.rn.f32.u64 %f5, %rd1; mov.b32 %r4, %f5; cvt.u64.u32 %rd5, %r4;", 0xffffffffffffffffull, 0, 0, F(0x1p64f));
	R64("cvt.rn.f64.s64 %fd5, %rd1; mov.b64 %rd5, %fd5;", (uint64_t)-3, 0, 0, D(-3.0));
	R32("cvt.rn.f32.f64 %f5, %fd1; mov.b32 %r5, %f5;", 0, 0, 0, 0);
	{
		int rc = run("cvt.rn.f32.f64 %f5, %fd1; mov.b32 %r5, %f5;", 0, 0, 0, D(1.0 + 0x1p-24), 0, 0);
		EXPECT(rc == 0 && out32 == F(1.0f), "cvt.rn.f32.f64 tie: %08x", out32);
		rc = run("cvt.rn.f32.f64 %f5, %fd1; mov.b32 %r5, %f5;", 0, 0, 0, D(1.0 + 0x1p-24 + 0x1p-40), 0, 0);
		EXPECT(rc == 0 && out32 == F(1.0f + 0x1p-23f), "cvt.rn.f32.f64 above tie: %08x", out32);
	}
}

static void test_load_errors(void)
{
	char err[300];
	char text[4096];
	snprintf(text, sizeof text, "%s\nfoo.bar.u32 %%r5, %%r1;\n%s", HEAD, TAIL);
	ptx_module *m = ptx_load(text, err, sizeof err);
	EXPECT(m == NULL, "unknown opcode loaded");
	EXPECT(strstr(err, "ptx line 27: unknown opcode 'foo.bar.u32'") != NULL, "error: %s", err);
	/* a known opcode with a modifier the interpreter lacks */
	snprintf(text, sizeof text, "%s\nadd.sat.s32 %%r5, %%r1, %%r2;\n%s", HEAD, TAIL);
	m = ptx_load(text, err, sizeof err);
	EXPECT(m == NULL && strstr(err, "unknown opcode 'add.sat.s32'"), "error: %s", err);
	snprintf(text, sizeof text, "%s\nadd.s32 %%r5, %%r99, %%r2;\n%s", HEAD, TAIL);
	m = ptx_load(text, err, sizeof err);
	EXPECT(m == NULL && strstr(err, "ptx line 27: undeclared register '%r99'"), "error: %s", err);
	snprintf(text, sizeof text, "%s\nbra $nowhere;\n%s", HEAD, TAIL);
	m = ptx_load(text, err, sizeof err);
	EXPECT(m == NULL && strstr(err, "unknown label '$nowhere'"), "error: %s", err);
	/* the 48 KiB static shared limit */
	m = ptx_load(".version 7.8\n.target sm_80\n.address_size 64\n.visible .entry big()\n{\n"
	             ".shared .align 4 .b8 s[49153];\nret;\n}\n", err, sizeof err);
	EXPECT(m == NULL && strstr(err, "exceed the 48 KiB limit"), "error: %s", err);
	m = ptx_load(".version 7.8\n.target sm_80\n.address_size 64\n.visible .entry ok()\n{\n"
	             ".shared .align 4 .b8 s[49152];\nret;\n}\n", err, sizeof err);
	EXPECT(m != NULL && ptx_kernel_static_shared(ptx_kernel_find(m, "ok")) == 49152, "48 KiB: %s", m ? "" : err);
	ptx_unload(m);
}

int main(void)
{
	test_integer();
	test_float();
	test_cvt();
	test_load_errors();
	FINISH();
}
