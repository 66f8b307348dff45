/*
 * ptx_exec.c - runs a parsed kernel: a block at a time, warp by warp, one
 * thread at a time between synchronisation points (bar.sync, shfl, vote,
 * exit). Every memory access is bounds- and alignment-checked; shared and
 * local memory start as 0xFF bytes (NaN) at every launch.
 */
#pragma GCC optimize("fp-contract=off")
#include <fenv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_int.h"

enum { ST_RUN, ST_BAR, ST_WSYNC, ST_EXIT };

typedef struct cpent {
	uint64_t src;
	uint32_t dst;
	uint32_t group;
	uint8_t size, srcsize;
} cpent;

#define CP_MAX 64 /* cp.async copies one thread may have in flight */

typedef struct thr {
	uint64_t backjumps; /* backward branches taken: a bound on endless loops */
	cpent *cpq;
	int ncp;
	uint32_t ngroups; /* committed groups so far */
	uint32_t pc;
	uint8_t st;
	unsigned tid[3];
	reg_t *R;
	uint8_t *loc;
} thr;

typedef struct blk {
	const ptx_kernel *k;
	const ptx_env *env;
	uint8_t *shared;
	uint64_t shsize;
	const uint8_t *params;
	uint64_t lsize;
	unsigned ctaid[3];
	char *err;
	size_t errlen;
	int faulted;
	uint64_t icount;
} blk;

static void fault(blk *b, const thr *t, int line, const char *fmt, ...)
{
	if (b->faulted)
		return;
	b->faulted = 1;
	int n = snprintf(b->err, b->errlen, "kernel %s block (%u,%u,%u) thread (%u,%u,%u): ptx line %d: ", b->k->name,
	                 b->ctaid[0], b->ctaid[1], b->ctaid[2], t->tid[0], t->tid[1], t->tid[2], line);
	if (n < 0 || (size_t)n >= b->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err + n, b->errlen - n, fmt, ap);
	va_end(ap);
}

static uint64_t loop_limit = 1ull << 30;

void ptx_set_loop_limit(uint64_t n) { __atomic_store_n(&loop_limit, n ? n : 1ull << 30, __ATOMIC_RELAXED); }

/* ---------- float helpers ---------- */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t d2u(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
static inline double u2d(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

static inline float ftz32(float f)
{
	uint32_t u = f2u(f);
	if ((u & 0x7f800000u) == 0)
		return u2f(u & 0x80000000u);
	return f;
}
static inline double ftz64(double f)
{
	uint64_t u = d2u(f);
	if ((u & 0x7ff0000000000000ull) == 0)
		return u2d(u & 0x8000000000000000ull);
	return f;
}
#define CANON_NAN32 0x7fffffffu

static inline float nextup32(float f)
{
	uint32_t u = f2u(f);
	if (f != f || u == 0x7f800000u)
		return f;
	if (u == 0x80000000u)
		return u2f(1);
	return u2f((u & 0x80000000u) ? u - 1 : u + 1);
}
static inline float nextdown32(float f) { return -nextup32(-f); }

/* round_f32: the float nearest s (a double carrying the exact value,
 * with err the exact remainder) in rounding mode rm. Round-to-odd on the
 * double makes the second rounding correct. */
static float round_f32(double s, double err, int rm)
{
	if (!isfinite(s))
		return (float)s;
	if (err != 0) {
		uint64_t u = d2u(s);
		if (!(u & 1)) {
			int up = (err > 0) == (s > 0); /* magnitude too small */
			u = up ? u + 1 : u - 1;
			s = u2d(u);
		}
	}
	float r = (float)s;
	switch (rm) {
	case RM_RZ:
		if (fabs((double)r) > fabs(s))
			r = s > 0 ? nextdown32(r) : nextup32(r);
		break;
	case RM_RM:
		if ((double)r > s)
			r = nextdown32(r);
		break;
	case RM_RP:
		if ((double)r < s)
			r = nextup32(r);
		break;
	}
	return r;
}

static inline double two_sum_err(double a, double b, double s)
{
	double bb = s - a;
	return (a - (s - bb)) + (b - bb);
}

static float farith32(int sub, float a, float b, float c, int rm)
{
	double s, err;
	switch (sub) {
	case 0: s = (double)a + b; err = two_sum_err(a, b, s); break;
	case 1: s = (double)a - b; err = two_sum_err(a, -(double)b, s); break;
	case 2: s = (double)a * b; err = 0; break; /* exact */
	default: {
		double p = (double)a * b; /* exact */
		s = p + c;
		err = two_sum_err(p, c, s);
		break;
	}
	}
	if (isnan(s))
		return u2f(CANON_NAN32);
	return round_f32(s, isfinite(err) ? err : 0, rm);
}

static double farith64(int sub, double a, double b, double c, int rm)
{
	static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
	volatile double va = a, vb = b, vc = c, r;
	fesetround(modes[rm]);
	switch (sub) {
	case 0: r = va + vb; break;
	case 1: r = va - vb; break;
	case 2: r = va * vb; break;
	default: r = fma(va, vb, vc); break;
	}
	fesetround(FE_TONEAREST);
	return r;
}

static inline float fminp(float a, float b)
{
	if (a != a)
		return b != b ? u2f(CANON_NAN32) : b;
	if (b != b)
		return a;
	if (a == b)
		return signbit(a) ? a : b;
	return a < b ? a : b;
}
static inline float fmaxp(float a, float b)
{
	if (a != a)
		return b != b ? u2f(CANON_NAN32) : b;
	if (b != b)
		return a;
	if (a == b)
		return signbit(a) ? b : a;
	return a > b ? a : b;
}
static inline double dminp(double a, double b)
{
	if (a != a)
		return b != b ? u2d(0x7fffffffffffffffull) : b;
	if (b != b)
		return a;
	if (a == b)
		return signbit(a) ? a : b;
	return a < b ? a : b;
}
static inline double dmaxp(double a, double b)
{
	if (a != a)
		return b != b ? u2d(0x7fffffffffffffffull) : b;
	if (b != b)
		return a;
	if (a == b)
		return signbit(a) ? b : a;
	return a > b ? a : b;
}

/* narrow: rounds the finite float bits (magnitude) to a format with mbits
 * mantissa bits and minimum normal exponent emin; returns the magnitude
 * encoding (no sign), saturating overflow per rm. */
static uint32_t narrow(uint32_t fb, int neg, int mbits, int emin, int ebias, uint32_t infenc, uint32_t maxenc, int rm)
{
	uint32_t mag = fb & 0x7fffffffu;
	int exp = (int)(mag >> 23);
	uint32_t mant = exp ? (mag & 0x7fffffu) | 0x800000u : (mag & 0x7fffffu);
	int e = exp ? exp - 127 : -126;
	if (mant == 0)
		return 0;
	int shift = e >= emin ? 23 - mbits : 23 - mbits + (emin - e);
	uint32_t q, rem, half;
	if (shift >= 32) {
		q = 0;
		rem = mant;
		half = 0xffffffffu; /* rem < half always, rem != 0 */
		if (shift == 32)
			half = 0x80000000u;
	} else {
		q = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		half = 1u << (shift - 1);
	}
	int inc = 0;
	switch (rm) {
	case RM_RN: inc = rem > half || (rem == half && (q & 1)); break;
	case RM_RZ: inc = 0; break;
	case RM_RM: inc = neg && rem; break;
	case RM_RP: inc = !neg && rem; break;
	}
	q += (uint32_t)inc;
	uint32_t h;
	if (e >= emin)
		h = ((uint32_t)(e + ebias) << mbits) + q - (1u << mbits);
	else
		h = q; /* denormal; q == 1<<mbits becomes the smallest normal */
	if (e > 127 || h >= infenc) {
		int toinf = rm == RM_RN || (rm == RM_RP && !neg) || (rm == RM_RM && neg);
		return toinf ? infenc : maxenc;
	}
	return h;
}

uint16_t ptx_f32_to_f16(float f, int rm)
{
	uint32_t u = f2u(f);
	int neg = u >> 31;
	uint32_t s = (uint32_t)neg << 15;
	if ((u & 0x7f800000u) == 0x7f800000u)
		return (u & 0x7fffffu) ? 0x7fff : (uint16_t)(s | 0x7c00);
	return (uint16_t)(s | narrow(u, neg, 10, -14, 15, 0x7c00, 0x7bff, rm));
}

uint16_t ptx_f32_to_bf16(float f, int rm)
{
	uint32_t u = f2u(f);
	int neg = u >> 31;
	uint32_t s = (uint32_t)neg << 15;
	if ((u & 0x7f800000u) == 0x7f800000u)
		return (u & 0x7fffffu) ? 0x7fff : (uint16_t)(s | 0x7f80);
	return (uint16_t)(s | narrow(u, neg, 7, -126, 127, 0x7f80, 0x7f7f, rm));
}

float ptx_f16_to_f32(uint16_t h)
{
	uint32_t s = (uint32_t)(h >> 15) << 31;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
	if (e == 0x1f)
		return u2f(s | 0x7f800000u | (m << 13));
	if (e == 0) {
		float v = (float)m * 0x1p-24f;
		return s ? -v : v;
	}
	return u2f(s | ((e + 112) << 23) | (m << 13));
}

static double round_int_mode(double x, int rm)
{
	switch (rm) {
	case RM_RN: return nearbyint(x); /* the default mode is nearest-even */
	case RM_RZ: return trunc(x);
	case RM_RM: return floor(x);
	default: return ceil(x);
	}
}

static int is_signed_t(int t) { return t == T_S8 || t == T_S16 || t == T_S32 || t == T_S64; }
static int tbits(int t)
{
	switch (t) {
	case T_U8: case T_S8: case T_B8: return 8;
	case T_U16: case T_S16: case T_B16: case T_F16: case T_BF16: return 16;
	case T_U32: case T_S32: case T_B32: case T_F32: return 32;
	default: return 64;
	}
}

/* the generic cvt */
static void do_cvt(const insn *in, reg_t *R)
{
	int d = in->ty, s = in->ty2;
	reg_t src = R[in->a];
	int sfl = s == T_F32 || s == T_F64, dfl = d == T_F32 || d == T_F64 || d == T_F16 || d == T_BF16;
	reg_t out;
	out.u64 = 0;
	if (!sfl && !dfl) {
		int sb = tbits(s), db = tbits(d);
		int64_t sv;
		uint64_t uv = src.u64 & (sb == 64 ? ~0ull : ((1ull << sb) - 1));
		if (is_signed_t(s) && sb < 64 && (uv >> (sb - 1)) & 1)
			sv = (int64_t)(uv | ~((1ull << sb) - 1));
		else
			sv = (int64_t)uv;
		if (in->flags & F_SAT) {
			if (is_signed_t(d)) {
				int64_t lo = db == 64 ? INT64_MIN : -(1ll << (db - 1)), hi = db == 64 ? INT64_MAX : (1ll << (db - 1)) - 1;
				if (is_signed_t(s)) {
					if (sv < lo) sv = lo;
					if (sv > hi) sv = hi;
				} else if (uv > (uint64_t)hi) {
					sv = hi;
				}
			} else {
				uint64_t hi = db == 64 ? ~0ull : (1ull << db) - 1;
				if (is_signed_t(s) && sv < 0)
					sv = 0;
				else if ((uint64_t)sv > hi)
					sv = (int64_t)hi;
			}
		}
		uint64_t r = (uint64_t)sv & (db == 64 ? ~0ull : ((1ull << db) - 1));
		if (is_signed_t(d) && db < 64 && (r >> (db - 1)) & 1)
			r |= ~((1ull << db) - 1);
		out.u64 = r;
		R[in->d] = out;
		return;
	}
	if (!sfl) { /* int -> float, rounding rm */
		int sb = tbits(s);
		uint64_t uv = src.u64 & (sb == 64 ? ~0ull : ((1ull << sb) - 1));
		int64_t sv = (int64_t)uv;
		if (is_signed_t(s) && sb < 64 && (uv >> (sb - 1)) & 1)
			sv = (int64_t)(uv | ~((1ull << sb) - 1));
		static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
		fesetround(modes[in->rm]);
		if (d == T_F32) {
			volatile float f = is_signed_t(s) ? (float)sv : (float)uv;
			out.u64 = f2u(f);
		} else {
			volatile double f = is_signed_t(s) ? (double)sv : (double)uv;
			out.u64 = d2u(f);
		}
		fesetround(FE_TONEAREST);
		R[in->d] = out;
		return;
	}
	double x = s == T_F32 ? (double)((in->flags & F_FTZ) ? ftz32(src.f32) : src.f32) : src.f64;
	if (!dfl) { /* float -> int: round, saturate, NaN -> 0 */
		int db = tbits(d);
		if (x != x) {
			R[in->d].u64 = 0;
			return;
		}
		double r = round_int_mode(x, in->rm);
		if (is_signed_t(d)) {
			double lo = -ldexp(1, db - 1), hi = ldexp(1, db - 1);
			int64_t v;
			if (r < lo) v = db == 64 ? INT64_MIN : -(1ll << (db - 1));
			else if (r >= hi) v = db == 64 ? INT64_MAX : (1ll << (db - 1)) - 1;
			else v = (int64_t)r;
			uint64_t u = (uint64_t)v;
			if (db < 64)
				u &= (1ull << db) - 1;
			if (db < 64 && (u >> (db - 1)) & 1)
				u |= ~((1ull << db) - 1);
			out.u64 = u;
		} else {
			double hi = ldexp(1, db);
			uint64_t v;
			if (r <= 0) v = 0;
			else if (r >= hi) v = db == 64 ? ~0ull : (1ull << db) - 1;
			else v = (uint64_t)r;
			out.u64 = v;
		}
		R[in->d] = out;
		return;
	}
	/* float -> float */
	if (d == T_F16 || d == T_BF16) {
		float f = src.f32;
		if (in->flags & F_SAT)
			f = f != f ? 0.0f : f < 0 ? 0.0f : f > 1 ? 1.0f : f;
		out.u64 = d == T_F16 ? ptx_f32_to_f16(f, in->rm) : ptx_f32_to_bf16(f, in->rm);
		R[in->d] = out;
		return;
	}
	if (in->sub == 1 && in->rm != RM_NONE) /* round to integral, same type */
		x = round_int_mode(x, in->rm);
	if (d == T_F32) {
		float f;
		if (s == T_F64 && in->rm != RM_NONE && in->sub == 0) {
			f = (float)x;
			if (x == x && isfinite(x) && in->rm != RM_RN)
				f = round_f32(x, 0, in->rm);
		} else {
			f = (float)x;
		}
		if (in->flags & F_FTZ)
			f = ftz32(f);
		if (in->flags & F_SAT)
			f = f != f ? 0.0f : f > 0 ? (f < 1 ? f : 1.0f) : 0.0f;
		out.u64 = f2u(f);
	} else {
		if (in->flags & F_SAT)
			x = x != x ? 0.0 : x > 0 ? (x < 1 ? x : 1.0) : 0.0;
		out.f64 = x;
	}
	R[in->d] = out;
}

static inline int setp_int(int cmp, int64_t a, int64_t b, uint64_t ua, uint64_t ub)
{
	switch (cmp) {
	case CMP_EQ: return a == b;
	case CMP_NE: return a != b;
	case CMP_LT: return a < b;
	case CMP_LE: return a <= b;
	case CMP_GT: return a > b;
	case CMP_GE: return a >= b;
	case CMP_LO: return ua < ub;
	case CMP_LS: return ua <= ub;
	case CMP_HI: return ua > ub;
	case CMP_HS: return ua >= ub;
	}
	return 0;
}
static inline int setp_s32(int cmp, int32_t x, int32_t y)
{
	switch (cmp) {
	case CMP_EQ: return x == y;
	case CMP_NE: return x != y;
	case CMP_LT: return x < y;
	case CMP_LE: return x <= y;
	case CMP_GT: return x > y;
	default: return x >= y;
	}
}
static inline int setp_uint(int cmp, uint64_t a, uint64_t b)
{
	switch (cmp) {
	case CMP_EQ: return a == b;
	case CMP_NE: return a != b;
	case CMP_LT: case CMP_LO: return a < b;
	case CMP_LE: case CMP_LS: return a <= b;
	case CMP_GT: case CMP_HI: return a > b;
	case CMP_GE: case CMP_HS: return a >= b;
	}
	return 0;
}
static inline int setp_flt(int cmp, double a, double b)
{
	int un = a != a || b != b;
	switch (cmp) {
	case CMP_EQ: return !un && a == b;
	case CMP_NE: return !un && a != b;
	case CMP_LT: return !un && a < b;
	case CMP_LE: return !un && a <= b;
	case CMP_GT: return !un && a > b;
	case CMP_GE: return !un && a >= b;
	case CMP_EQU: return un || a == b;
	case CMP_NEU: return un || a != b;
	case CMP_LTU: return un || a < b;
	case CMP_LEU: return un || a <= b;
	case CMP_GTU: return un || a > b;
	case CMP_GEU: return un || a >= b;
	case CMP_NUM: return !un;
	case CMP_NAN: return un;
	}
	return 0;
}

static float approx32(const insn *in, float x)
{
	if (in->flags & F_FTZ)
		x = ftz32(x);
	double r;
	switch (in->op) {
	case OP_FRCP_APPROX32: r = 1.0 / x; break;
	case OP_FSQRT_APPROX32: r = sqrt(x); break;
	case OP_FRSQRT_APPROX32: r = 1.0 / sqrt(x); break;
	case OP_EX2_APPROX32: r = exp2(x); break;
	case OP_LG2_APPROX32: r = log2(x); break;
	case OP_SIN_APPROX32: r = sin(x); break;
	case OP_COS_APPROX32: r = cos(x); break;
	default: r = tanh(x); break;
	}
	float f = (float)r;
	if (f != f)
		f = u2f(CANON_NAN32);
	if (in->flags & F_FTZ)
		f = ftz32(f);
	return f;
}

/* ---------- memory ---------- */

static const char *space_name[] = {"global", "shared", "local", "param"};

static int mem_check(blk *b, thr *t, const insn *in, int sp, uint64_t addr, uint64_t n, int write)
{
	if (addr & (n - 1)) {
		fault(b, t, in->line, "misaligned %s %s of %llu bytes at 0x%llx", space_name[sp], write ? "store" : "load",
		      (unsigned long long)n, (unsigned long long)addr);
		return -1;
	}
	if (sp == SP_GLOBAL) {
		char msg[200];
		msg[0] = 0;
		if (b->env->check_global(b->env->ctx, addr, n, write, msg, sizeof msg)) {
			fault(b, t, in->line, "%s %s of %llu bytes at 0x%llx: %s", space_name[sp], write ? "store" : "load",
			      (unsigned long long)n, (unsigned long long)addr, msg[0] ? msg : "out of bounds");
			return -1;
		}
		return 0;
	}
	uint64_t lim = sp == SP_SHARED ? b->shsize : b->lsize;
	if (addr >= lim || n > lim - addr) {
		fault(b, t, in->line, "%s %s of %llu bytes at offset %llu is outside the %llu bytes of %s memory", space_name[sp],
		      write ? "store" : "load", (unsigned long long)n, (unsigned long long)addr, (unsigned long long)lim,
		      space_name[sp]);
		return -1;
	}
	return 0;
}

static inline uint8_t *mem_ptr(blk *b, thr *t, int sp, uint64_t addr)
{
	switch (sp) {
	case SP_GLOBAL: return (uint8_t *)(uintptr_t)addr;
	case SP_SHARED: return b->shared + addr;
	case SP_LOCAL: return t->loc + addr;
	default: return (uint8_t *)b->params + addr;
	}
}

static inline uint64_t load_elem(const uint8_t *p, int size, int sgn)
{
	switch (size) {
	case 1: return sgn ? (uint64_t)(int64_t)*(const int8_t *)p : *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return sgn ? (uint64_t)(int64_t)(int16_t)v : v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return sgn ? (uint64_t)(int64_t)(int32_t)v : v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}
static inline void store_elem(uint8_t *p, int size, uint64_t v)
{
	switch (size) {
	case 1: *p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

static int do_ld(blk *b, thr *t, const insn *in, int sp)
{
	reg_t *R = t->R;
	uint64_t addr = R[in->a].u64 + (uint64_t)in->off;
	if (sp != SP_GLOBAL)
		addr &= 0xffffffffull; /* shared/local/param addresses are 32-bit */
	uint64_t n = (uint64_t)in->size * in->nvec;
	if (sp == SP_PARAM) {
		if (addr + n > b->k->pbytes || addr + n < addr) {
			fault(b, t, in->line, "ld.param outside the parameters");
			return -1;
		}
	} else if (mem_check(b, t, in, sp, addr, n, 0)) {
		return -1;
	}
	const uint8_t *p = mem_ptr(b, t, sp, addr);
	int sgn = in->flags & F_SIGNED;
	if (in->nvec == 1) {
		R[in->d].u64 = load_elem(p, in->size, sgn);
	} else {
		for (int i = 0; i < in->nvec; i++)
			R[in->v[i]].u64 = load_elem(p + i * in->size, in->size, sgn);
	}
	return 0;
}

static int do_st(blk *b, thr *t, const insn *in, int sp)
{
	reg_t *R = t->R;
	uint64_t addr = R[in->a].u64 + (uint64_t)in->off;
	if (sp != SP_GLOBAL)
		addr &= 0xffffffffull;
	uint64_t n = (uint64_t)in->size * in->nvec;
	if (mem_check(b, t, in, sp, addr, n, 1))
		return -1;
	uint8_t *p = mem_ptr(b, t, sp, addr);
	if (in->nvec == 1) {
		store_elem(p, in->size, R[in->b].u64);
	} else {
		for (int i = 0; i < in->nvec; i++)
			store_elem(p + i * in->size, in->size, R[in->v[i]].u64);
	}
	return 0;
}

static int do_atom(blk *b, thr *t, const insn *in, int sp)
{
	reg_t *R = t->R;
	uint64_t addr = R[in->a].u64 + (uint64_t)in->off;
	if (sp != SP_GLOBAL)
		addr &= 0xffffffffull;
	if (mem_check(b, t, in, sp, addr, in->size, 1))
		return -1;
	uint8_t *p = mem_ptr(b, t, sp, addr);
	if (in->size == 4) {
		uint32_t *q = (uint32_t *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
		uint32_t v = R[in->b].u32;
		for (;;) {
			switch (in->sub) {
			case AT_AND: nv = old & v; break;
			case AT_OR: nv = old | v; break;
			case AT_XOR: nv = old ^ v; break;
			case AT_ADD: nv = in->ty == T_F32 ? f2u(u2f(old) + u2f(v)) : old + v; break;
			case AT_EXCH: nv = v; break;
			case AT_MIN: nv = in->ty == T_S32 ? ((int32_t)old < (int32_t)v ? old : v) : (old < v ? old : v); break;
			case AT_MAX: nv = in->ty == T_S32 ? ((int32_t)old > (int32_t)v ? old : v) : (old > v ? old : v); break;
			default: nv = old == v ? R[in->c].u32 : old; break;
			}
			if (__atomic_compare_exchange_n(q, &old, nv, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				break;
		}
		R[in->d].u64 = old;
	} else {
		uint64_t *q = (uint64_t *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
		uint64_t v = R[in->b].u64;
		for (;;) {
			switch (in->sub) {
			case AT_AND: nv = old & v; break;
			case AT_OR: nv = old | v; break;
			case AT_XOR: nv = old ^ v; break;
			case AT_ADD: nv = old + v; break;
			case AT_EXCH: nv = v; break;
			default: nv = old == v ? R[in->c].u64 : old; break;
			}
			if (__atomic_compare_exchange_n(q, &old, nv, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				break;
		}
		R[in->d].u64 = old;
	}
	return 0;
}

/* ---------- cp.async ---------- */

static int do_cp_async(blk *b, thr *t, const insn *in)
{
	reg_t *R = t->R;
	uint64_t dst = (R[in->a].u64 + (uint64_t)in->off) & 0xffffffffull;
	int64_t soff = (int64_t)((uint64_t)in->v[1] | ((uint64_t)in->v[2] << 32));
	uint64_t src = R[in->b].u64 + (uint64_t)soff;
	unsigned n = in->size;
	unsigned srcsize = (in->flags & F_HASCOUNT) ? R[in->c].u32 : n;
	if (srcsize > n) {
		fault(b, t, in->line, "cp.async source size %u exceeds the copy size %u", srcsize, n);
		return -1;
	}
	if (mem_check(b, t, in, SP_SHARED, dst, n, 1))
		return -1;
	if (src & (n - 1)) {
		fault(b, t, in->line, "misaligned cp.async source of %u bytes at 0x%llx", n, (unsigned long long)src);
		return -1;
	}
	if (srcsize && mem_check(b, t, in, SP_GLOBAL, src, srcsize, 0))
		return -1;
	if (t->ncp == CP_MAX) {
		fault(b, t, in->line, "more than %d cp.async copies in flight (missing cp.async.wait_group?)", CP_MAX);
		return -1;
	}
	cpent *e = &t->cpq[t->ncp++];
	e->src = src;
	e->dst = (uint32_t)dst;
	e->size = (uint8_t)n;
	e->srcsize = (uint8_t)srcsize;
	e->group = t->ngroups;
	return 0;
}

/* cp_complete lands every copy of a group below limit (all with ~0u). */
static void cp_complete(blk *b, thr *t, uint32_t limit)
{
	int k = 0;
	for (int i = 0; i < t->ncp; i++) {
		cpent *e = &t->cpq[i];
		if (limit == ~0u || e->group < limit) {
			uint8_t *d = b->shared + e->dst;
			if (e->srcsize)
				memcpy(d, (const void *)(uintptr_t)e->src, e->srcsize);
			memset(d + e->srcsize, 0, e->size - e->srcsize);
		} else {
			t->cpq[k++] = *e;
		}
	}
	t->ncp = k;
}

/* ---------- the thread loop ---------- */

#define W32(x) (R[in->d].u64 = (uint32_t)(x))
#define WF(x) (R[in->d].u64 = f2u(x))
#define WD(x) (R[in->d].f64 = (x))

/* run_thread runs t until it blocks (barrier, warp exchange, exit) or
 * faults. Returns 0, or -1 on a fault. */
static int run_thread(blk *b, thr *t)
{
	const insn *code = b->k->code;
	reg_t *R = t->R;
	uint32_t pc = t->pc;
	uint64_t count = 0;
	int rc = 0;
	static const void *const tab[OP_COUNT] = {
		[OP_NOP] = &&L_OP_NOP,
		[OP_MOV] = &&L_OP_MOV,
		[OP_PACK16X2] = &&L_OP_PACK16X2,
		[OP_UNPACK16X2] = &&L_OP_UNPACK16X2,
		[OP_PACK32X2] = &&L_OP_PACK32X2,
		[OP_UNPACK32X2] = &&L_OP_UNPACK32X2,
		[OP_ADD16] = &&L_OP_ADD16,
		[OP_ADD32] = &&L_OP_ADD32,
		[OP_ADD64] = &&L_OP_ADD64,
		[OP_SUB16] = &&L_OP_SUB16,
		[OP_SUB32] = &&L_OP_SUB32,
		[OP_SUB64] = &&L_OP_SUB64,
		[OP_MULLO16] = &&L_OP_MULLO16,
		[OP_MULLO32] = &&L_OP_MULLO32,
		[OP_MULLO64] = &&L_OP_MULLO64,
		[OP_MULHI_S32] = &&L_OP_MULHI_S32,
		[OP_MULHI_U32] = &&L_OP_MULHI_U32,
		[OP_MULWIDE_S32] = &&L_OP_MULWIDE_S32,
		[OP_MULWIDE_U32] = &&L_OP_MULWIDE_U32,
		[OP_MULWIDE_S16] = &&L_OP_MULWIDE_S16,
		[OP_MULWIDE_U16] = &&L_OP_MULWIDE_U16,
		[OP_MADLO32] = &&L_OP_MADLO32,
		[OP_MADLO64] = &&L_OP_MADLO64,
		[OP_MADWIDE_S32] = &&L_OP_MADWIDE_S32,
		[OP_MADWIDE_U32] = &&L_OP_MADWIDE_U32,
		[OP_DIV_S32] = &&L_OP_DIV_S32,
		[OP_DIV_U32] = &&L_OP_DIV_U32,
		[OP_DIV_S64] = &&L_OP_DIV_S64,
		[OP_DIV_U64] = &&L_OP_DIV_U64,
		[OP_REM_S32] = &&L_OP_REM_S32,
		[OP_REM_U32] = &&L_OP_REM_U32,
		[OP_REM_S64] = &&L_OP_REM_S64,
		[OP_REM_U64] = &&L_OP_REM_U64,
		[OP_MIN_S32] = &&L_OP_MIN_S32,
		[OP_MIN_U32] = &&L_OP_MIN_U32,
		[OP_MAX_S32] = &&L_OP_MAX_S32,
		[OP_MAX_U32] = &&L_OP_MAX_U32,
		[OP_MIN_S64] = &&L_OP_MIN_S64,
		[OP_MIN_U64] = &&L_OP_MIN_U64,
		[OP_MAX_S64] = &&L_OP_MAX_S64,
		[OP_MAX_U64] = &&L_OP_MAX_U64,
		[OP_NEG32] = &&L_OP_NEG32,
		[OP_NEG64] = &&L_OP_NEG64,
		[OP_ABS32] = &&L_OP_ABS32,
		[OP_ABS64] = &&L_OP_ABS64,
		[OP_AND16] = &&L_OP_AND16,
		[OP_AND32] = &&L_OP_AND32,
		[OP_AND64] = &&L_OP_AND64,
		[OP_OR16] = &&L_OP_OR16,
		[OP_OR32] = &&L_OP_OR32,
		[OP_OR64] = &&L_OP_OR64,
		[OP_XOR16] = &&L_OP_XOR16,
		[OP_XOR32] = &&L_OP_XOR32,
		[OP_XOR64] = &&L_OP_XOR64,
		[OP_NOT16] = &&L_OP_NOT16,
		[OP_NOT32] = &&L_OP_NOT32,
		[OP_NOT64] = &&L_OP_NOT64,
		[OP_ANDP] = &&L_OP_ANDP,
		[OP_ORP] = &&L_OP_ORP,
		[OP_XORP] = &&L_OP_XORP,
		[OP_NOTP] = &&L_OP_NOTP,
		[OP_SHL16] = &&L_OP_SHL16,
		[OP_SHL32] = &&L_OP_SHL32,
		[OP_SHL64] = &&L_OP_SHL64,
		[OP_SHR_U16] = &&L_OP_SHR_U16,
		[OP_SHR_S16] = &&L_OP_SHR_S16,
		[OP_SHR_U32] = &&L_OP_SHR_U32,
		[OP_SHR_S32] = &&L_OP_SHR_S32,
		[OP_SHR_U64] = &&L_OP_SHR_U64,
		[OP_SHR_S64] = &&L_OP_SHR_S64,
		[OP_BFI32] = &&L_OP_BFI32,
		[OP_BFI64] = &&L_OP_BFI64,
		[OP_BFE_U32] = &&L_OP_BFE_U32,
		[OP_BFE_S32] = &&L_OP_BFE_S32,
		[OP_POPC32] = &&L_OP_POPC32,
		[OP_POPC64] = &&L_OP_POPC64,
		[OP_CLZ32] = &&L_OP_CLZ32,
		[OP_CLZ64] = &&L_OP_CLZ64,
		[OP_BREV32] = &&L_OP_BREV32,
		[OP_SELP] = &&L_OP_SELP,
		[OP_SETP_S16] = &&L_OP_SETP_S16,
		[OP_SETP_U16] = &&L_OP_SETP_U16,
		[OP_SETP_S32] = &&L_OP_SETP_S32,
		[OP_SETP_U32] = &&L_OP_SETP_U32,
		[OP_SETP_S64] = &&L_OP_SETP_S64,
		[OP_SETP_U64] = &&L_OP_SETP_U64,
		[OP_SETP_F32] = &&L_OP_SETP_F32,
		[OP_SETP_F64] = &&L_OP_SETP_F64,
		[OP_FADD32] = &&L_OP_FADD32,
		[OP_FSUB32] = &&L_OP_FSUB32,
		[OP_FMUL32] = &&L_OP_FMUL32,
		[OP_FFMA32] = &&L_OP_FFMA32,
		[OP_FDIV32] = &&L_OP_FDIV32,
		[OP_FARITH32_DIR] = &&L_OP_FARITH32_DIR,
		[OP_FNEG32] = &&L_OP_FNEG32,
		[OP_FABS32] = &&L_OP_FABS32,
		[OP_FMIN32] = &&L_OP_FMIN32,
		[OP_FMAX32] = &&L_OP_FMAX32,
		[OP_FRCP32] = &&L_OP_FRCP32,
		[OP_FSQRT32] = &&L_OP_FSQRT32,
		[OP_FRCP_APPROX32] = &&L_OP_FRCP_APPROX32,
		[OP_FSQRT_APPROX32] = &&L_OP_FSQRT_APPROX32,
		[OP_FRSQRT_APPROX32] = &&L_OP_FRSQRT_APPROX32,
		[OP_EX2_APPROX32] = &&L_OP_EX2_APPROX32,
		[OP_LG2_APPROX32] = &&L_OP_LG2_APPROX32,
		[OP_SIN_APPROX32] = &&L_OP_SIN_APPROX32,
		[OP_COS_APPROX32] = &&L_OP_COS_APPROX32,
		[OP_TANH_APPROX32] = &&L_OP_TANH_APPROX32,
		[OP_FADD64] = &&L_OP_FADD64,
		[OP_FSUB64] = &&L_OP_FSUB64,
		[OP_FMUL64] = &&L_OP_FMUL64,
		[OP_FFMA64] = &&L_OP_FFMA64,
		[OP_FDIV64] = &&L_OP_FDIV64,
		[OP_FARITH64_DIR] = &&L_OP_FARITH64_DIR,
		[OP_FNEG64] = &&L_OP_FNEG64,
		[OP_FABS64] = &&L_OP_FABS64,
		[OP_FMIN64] = &&L_OP_FMIN64,
		[OP_FMAX64] = &&L_OP_FMAX64,
		[OP_FRCP64] = &&L_OP_FRCP64,
		[OP_FSQRT64] = &&L_OP_FSQRT64,
		[OP_RCP_APPROX_FTZ64] = &&L_OP_RCP_APPROX_FTZ64,
		[OP_CVT_S64_S32] = &&L_OP_CVT_S64_S32,
		[OP_CVT_U64_U32] = &&L_OP_CVT_U64_U32,
		[OP_CVT_U32_U64] = &&L_OP_CVT_U32_U64,
		[OP_CVT_U16_U32] = &&L_OP_CVT_U16_U32,
		[OP_CVT_SAT_F32] = &&L_OP_CVT_SAT_F32,
		[OP_CVT_F32_F16] = &&L_OP_CVT_F32_F16,
		[OP_CVT_F32_BF16] = &&L_OP_CVT_F32_BF16,
		[OP_CVT] = &&L_OP_CVT,
		[OP_CVT_X2] = &&L_OP_CVT_X2,
		[OP_LD_GLOBAL] = &&L_OP_LD_GLOBAL,
		[OP_LD_SHARED] = &&L_OP_LD_SHARED,
		[OP_LD_LOCAL] = &&L_OP_LD_LOCAL,
		[OP_LD_PARAM] = &&L_OP_LD_PARAM,
		[OP_ST_GLOBAL] = &&L_OP_ST_GLOBAL,
		[OP_ST_SHARED] = &&L_OP_ST_SHARED,
		[OP_ST_LOCAL] = &&L_OP_ST_LOCAL,
		[OP_ATOM_GLOBAL] = &&L_OP_ATOM_GLOBAL,
		[OP_ATOM_SHARED] = &&L_OP_ATOM_SHARED,
		[OP_BRA] = &&L_OP_BRA,
		[OP_EXIT] = &&L_OP_EXIT,
		[OP_BAR] = &&L_OP_BAR,
		[OP_SHFL] = &&L_OP_SHFL,
		[OP_VOTE] = &&L_OP_VOTE,
		[OP_TRAP] = &&L_OP_TRAP,
		[OP_FENCE] = &&L_OP_NOP,
		[OP_WSYNC] = &&L_OP_WSYNC,
		[OP_MMA] = &&L_OP_MMA,
		[OP_LDMATRIX] = &&L_OP_LDMATRIX,
		[OP_CP_ASYNC] = &&L_OP_CP_ASYNC,
		[OP_CP_ASYNC_COMMIT] = &&L_OP_CP_ASYNC_COMMIT,
		[OP_CP_ASYNC_WAIT] = &&L_OP_CP_ASYNC_WAIT
	};
	const insn *in;
#define DISPATCH()                                   \
	do {                                             \
		in = &code[pc];                              \
		count++;                                     \
		if ((R[in->g].u32 ^ in->gneg) == 0) {        \
			pc++;                                    \
			goto skipped;                            \
		}                                            \
		goto *tab[in->op];                           \
	} while (0)
#define NEXT do { pc++; DISPATCH(); } while (0)
	DISPATCH();
skipped:
	DISPATCH();
	{
		L_OP_NOP: NEXT;
		L_OP_MOV: R[in->d] = R[in->a]; NEXT;
		L_OP_PACK16X2: W32((R[in->v[0]].u32 & 0xffff) | (R[in->v[1]].u32 << 16)); NEXT;
		L_OP_UNPACK16X2: {
			uint32_t v = R[in->a].u32;
			R[in->v[0]].u64 = v & 0xffff;
			R[in->v[1]].u64 = v >> 16;
			NEXT;
		}
		L_OP_PACK32X2: R[in->d].u64 = (uint64_t)R[in->v[0]].u32 | ((uint64_t)R[in->v[1]].u32 << 32); NEXT;
		L_OP_UNPACK32X2: {
			uint64_t v = R[in->a].u64;
			R[in->v[0]].u64 = (uint32_t)v;
			R[in->v[1]].u64 = v >> 32;
			NEXT;
		}
		L_OP_ADD16: R[in->d].u64 = (uint16_t)(R[in->a].u16 + R[in->b].u16); NEXT;
		L_OP_ADD32: W32(R[in->a].u32 + R[in->b].u32); NEXT;
		L_OP_ADD64: R[in->d].u64 = R[in->a].u64 + R[in->b].u64; NEXT;
		L_OP_SUB16: R[in->d].u64 = (uint16_t)(R[in->a].u16 - R[in->b].u16); NEXT;
		L_OP_SUB32: W32(R[in->a].u32 - R[in->b].u32); NEXT;
		L_OP_SUB64: R[in->d].u64 = R[in->a].u64 - R[in->b].u64; NEXT;
		L_OP_MULLO16: R[in->d].u64 = (uint16_t)(R[in->a].u16 * R[in->b].u16); NEXT;
		L_OP_MULLO32: W32(R[in->a].u32 * R[in->b].u32); NEXT;
		L_OP_MULLO64: R[in->d].u64 = R[in->a].u64 * R[in->b].u64; NEXT;
		L_OP_MULHI_S32: W32((uint32_t)(((int64_t)R[in->a].s32 * R[in->b].s32) >> 32)); NEXT;
		L_OP_MULHI_U32: W32((uint32_t)(((uint64_t)R[in->a].u32 * R[in->b].u32) >> 32)); NEXT;
		L_OP_MULWIDE_S32: R[in->d].s64 = (int64_t)R[in->a].s32 * R[in->b].s32; NEXT;
		L_OP_MULWIDE_U32: R[in->d].u64 = (uint64_t)R[in->a].u32 * R[in->b].u32; NEXT;
		L_OP_MULWIDE_S16: W32((uint32_t)((int32_t)R[in->a].s16 * R[in->b].s16)); NEXT;
		L_OP_MULWIDE_U16: W32((uint32_t)R[in->a].u16 * R[in->b].u16); NEXT;
		L_OP_MADLO32: W32(R[in->a].u32 * R[in->b].u32 + R[in->c].u32); NEXT;
		L_OP_MADLO64: R[in->d].u64 = R[in->a].u64 * R[in->b].u64 + R[in->c].u64; NEXT;
		L_OP_MADWIDE_S32: R[in->d].s64 = (int64_t)R[in->a].s32 * R[in->b].s32 + R[in->c].s64; NEXT;
		L_OP_MADWIDE_U32: R[in->d].u64 = (uint64_t)R[in->a].u32 * R[in->b].u32 + R[in->c].u64; NEXT;
		L_OP_DIV_S32: L_OP_REM_S32: {
			int32_t x = R[in->a].s32, y = R[in->b].s32;
			if (y == 0)
				goto divzero;
			int32_t q = (x == INT32_MIN && y == -1) ? INT32_MIN : x / y;
			int32_t r = (x == INT32_MIN && y == -1) ? 0 : x % y;
			W32((uint32_t)(in->op == OP_DIV_S32 ? q : r));
			NEXT;
		}
		L_OP_DIV_U32: L_OP_REM_U32: {
			uint32_t x = R[in->a].u32, y = R[in->b].u32;
			if (y == 0)
				goto divzero;
			W32(in->op == OP_DIV_U32 ? x / y : x % y);
			NEXT;
		}
		L_OP_DIV_S64: L_OP_REM_S64: {
			int64_t x = R[in->a].s64, y = R[in->b].s64;
			if (y == 0)
				goto divzero;
			int64_t q = (x == INT64_MIN && y == -1) ? INT64_MIN : x / y;
			int64_t r = (x == INT64_MIN && y == -1) ? 0 : x % y;
			R[in->d].s64 = in->op == OP_DIV_S64 ? q : r;
			NEXT;
		}
		L_OP_DIV_U64: L_OP_REM_U64: {
			uint64_t x = R[in->a].u64, y = R[in->b].u64;
			if (y == 0)
				goto divzero;
			R[in->d].u64 = in->op == OP_DIV_U64 ? x / y : x % y;
			NEXT;
		}
		L_OP_MIN_S32: { int32_t x = R[in->a].s32, y = R[in->b].s32; W32((uint32_t)(x < y ? x : y)); NEXT; }
		L_OP_MAX_S32: { int32_t x = R[in->a].s32, y = R[in->b].s32; W32((uint32_t)(x > y ? x : y)); NEXT; }
		L_OP_MIN_U32: { uint32_t x = R[in->a].u32, y = R[in->b].u32; W32(x < y ? x : y); NEXT; }
		L_OP_MAX_U32: { uint32_t x = R[in->a].u32, y = R[in->b].u32; W32(x > y ? x : y); NEXT; }
		L_OP_MIN_S64: { int64_t x = R[in->a].s64, y = R[in->b].s64; R[in->d].s64 = x < y ? x : y; NEXT; }
		L_OP_MAX_S64: { int64_t x = R[in->a].s64, y = R[in->b].s64; R[in->d].s64 = x > y ? x : y; NEXT; }
		L_OP_MIN_U64: { uint64_t x = R[in->a].u64, y = R[in->b].u64; R[in->d].u64 = x < y ? x : y; NEXT; }
		L_OP_MAX_U64: { uint64_t x = R[in->a].u64, y = R[in->b].u64; R[in->d].u64 = x > y ? x : y; NEXT; }
		L_OP_NEG32: W32(0u - R[in->a].u32); NEXT;
		L_OP_NEG64: R[in->d].u64 = 0ull - R[in->a].u64; NEXT;
		L_OP_ABS32: { int32_t x = R[in->a].s32; W32(x < 0 ? 0u - (uint32_t)x : (uint32_t)x); NEXT; }
		L_OP_ABS64: { int64_t x = R[in->a].s64; R[in->d].u64 = x < 0 ? 0ull - (uint64_t)x : (uint64_t)x; NEXT; }
		L_OP_AND16: R[in->d].u64 = (uint16_t)(R[in->a].u16 & R[in->b].u16); NEXT;
		L_OP_AND32: W32(R[in->a].u32 & R[in->b].u32); NEXT;
		L_OP_AND64: R[in->d].u64 = R[in->a].u64 & R[in->b].u64; NEXT;
		L_OP_OR16: R[in->d].u64 = (uint16_t)(R[in->a].u16 | R[in->b].u16); NEXT;
		L_OP_OR32: W32(R[in->a].u32 | R[in->b].u32); NEXT;
		L_OP_OR64: R[in->d].u64 = R[in->a].u64 | R[in->b].u64; NEXT;
		L_OP_XOR16: R[in->d].u64 = (uint16_t)(R[in->a].u16 ^ R[in->b].u16); NEXT;
		L_OP_XOR32: W32(R[in->a].u32 ^ R[in->b].u32); NEXT;
		L_OP_XOR64: R[in->d].u64 = R[in->a].u64 ^ R[in->b].u64; NEXT;
		L_OP_NOT16: R[in->d].u64 = (uint16_t)~R[in->a].u16; NEXT;
		L_OP_NOT32: W32(~R[in->a].u32); NEXT;
		L_OP_NOT64: R[in->d].u64 = ~R[in->a].u64; NEXT;
		L_OP_ANDP: R[in->d].u64 = (R[in->a].u32 & R[in->b].u32) & 1; NEXT;
		L_OP_ORP: R[in->d].u64 = (R[in->a].u32 | R[in->b].u32) & 1; NEXT;
		L_OP_XORP: R[in->d].u64 = (R[in->a].u32 ^ R[in->b].u32) & 1; NEXT;
		L_OP_NOTP: R[in->d].u64 = (R[in->a].u32 ^ 1) & 1; NEXT;
		L_OP_SHL16: { uint32_t s = R[in->b].u32; R[in->d].u64 = s >= 16 ? 0 : (uint16_t)(R[in->a].u16 << s); NEXT; }
		L_OP_SHL32: { uint32_t s = R[in->b].u32; W32(s >= 32 ? 0 : R[in->a].u32 << s); NEXT; }
		L_OP_SHL64: { uint32_t s = R[in->b].u32; R[in->d].u64 = s >= 64 ? 0 : R[in->a].u64 << s; NEXT; }
		L_OP_SHR_U16: { uint32_t s = R[in->b].u32; R[in->d].u64 = s >= 16 ? 0 : (uint16_t)(R[in->a].u16 >> s); NEXT; }
		L_OP_SHR_S16: { uint32_t s = R[in->b].u32; R[in->d].u64 = (uint16_t)(R[in->a].s16 >> (s >= 16 ? 15 : s)); NEXT; }
		L_OP_SHR_U32: { uint32_t s = R[in->b].u32; W32(s >= 32 ? 0 : R[in->a].u32 >> s); NEXT; }
		L_OP_SHR_S32: { uint32_t s = R[in->b].u32; W32((uint32_t)(R[in->a].s32 >> (s >= 32 ? 31 : s))); NEXT; }
		L_OP_SHR_U64: { uint32_t s = R[in->b].u32; R[in->d].u64 = s >= 64 ? 0 : R[in->a].u64 >> s; NEXT; }
		L_OP_SHR_S64: { uint32_t s = R[in->b].u32; R[in->d].s64 = R[in->a].s64 >> (s >= 64 ? 63 : s); NEXT; }
		L_OP_BFI32: L_OP_BFI64: {
			unsigned w = in->op == OP_BFI32 ? 32 : 64;
			uint32_t pos = R[in->c].u32 & 0xff, len = R[in->e].u32 & 0xff;
			uint64_t a = R[in->a].u64, bb = in->op == OP_BFI32 ? R[in->b].u32 : R[in->b].u64;
			if (len && pos < w) {
				if (len > w - pos)
					len = w - pos;
				uint64_t mask = (len == 64 ? ~0ull : ((1ull << len) - 1)) << pos;
				bb = (bb & ~mask) | ((a << pos) & mask);
			}
			R[in->d].u64 = w == 32 ? (uint32_t)bb : bb;
			NEXT;
		}
		L_OP_BFE_U32: L_OP_BFE_S32: {
			uint32_t a = R[in->a].u32, pos = R[in->b].u32 & 0xff, len = R[in->c].u32 & 0xff;
			uint32_t r = 0;
			int sbit;
			if (in->op == OP_BFE_U32) {
				sbit = 0;
			} else {
				uint32_t p = pos + len - 1 > 31 ? 31 : pos + len - 1;
				sbit = len == 0 ? 0 : (a >> p) & 1;
			}
			for (uint32_t i = 0; i < 32; i++)
				r |= (uint32_t)((i < len && pos + i <= 31) ? (a >> (pos + i)) & 1 : (uint32_t)sbit) << i;
			W32(r);
			NEXT;
		}
		L_OP_POPC32: W32((uint32_t)__builtin_popcount(R[in->a].u32)); NEXT;
		L_OP_POPC64: W32((uint32_t)__builtin_popcountll(R[in->a].u64)); NEXT;
		L_OP_CLZ32: { uint32_t x = R[in->a].u32; W32(x ? (uint32_t)__builtin_clz(x) : 32); NEXT; }
		L_OP_CLZ64: { uint64_t x = R[in->a].u64; W32(x ? (uint32_t)__builtin_clzll(x) : 64); NEXT; }
		L_OP_BREV32: {
			uint32_t x = R[in->a].u32, r = 0;
			for (int i = 0; i < 32; i++)
				r |= ((x >> i) & 1) << (31 - i);
			W32(r);
			NEXT;
		}
		L_OP_SELP: R[in->d] = R[in->c].u32 ? R[in->a] : R[in->b]; NEXT;
		L_OP_SETP_S16: R[in->d].u64 = (uint64_t)setp_int(in->sub, R[in->a].s16, R[in->b].s16, R[in->a].u16, R[in->b].u16); NEXT;
		L_OP_SETP_U16: R[in->d].u64 = (uint64_t)setp_uint(in->sub, R[in->a].u16, R[in->b].u16); NEXT;
		L_OP_SETP_S32: R[in->d].u64 = (uint64_t)setp_s32(in->sub, R[in->a].s32, R[in->b].s32); NEXT;
		L_OP_SETP_U32: R[in->d].u64 = (uint64_t)setp_uint(in->sub, R[in->a].u32, R[in->b].u32); NEXT;
		L_OP_SETP_S64: R[in->d].u64 = (uint64_t)setp_int(in->sub, R[in->a].s64, R[in->b].s64, R[in->a].u64, R[in->b].u64); NEXT;
		L_OP_SETP_U64: R[in->d].u64 = (uint64_t)setp_uint(in->sub, R[in->a].u64, R[in->b].u64); NEXT;
		L_OP_SETP_F32: {
			float x = R[in->a].f32, y = R[in->b].f32;
			if (in->flags & F_FTZ) {
				x = ftz32(x);
				y = ftz32(y);
			}
			R[in->d].u64 = (uint64_t)setp_flt(in->sub, x, y);
			NEXT;
		}
		L_OP_SETP_F64: R[in->d].u64 = (uint64_t)setp_flt(in->sub, R[in->a].f64, R[in->b].f64); NEXT;
		L_OP_FADD32: WF(R[in->a].f32 + R[in->b].f32); NEXT;
		L_OP_FSUB32: WF(R[in->a].f32 - R[in->b].f32); NEXT;
		L_OP_FMUL32: WF(R[in->a].f32 * R[in->b].f32); NEXT;
		L_OP_FFMA32: WF(fmaf(R[in->a].f32, R[in->b].f32, R[in->c].f32)); NEXT;
		L_OP_FDIV32: WF(R[in->a].f32 / R[in->b].f32); NEXT;
		L_OP_FARITH32_DIR: {
			float x = R[in->a].f32, y = R[in->b].f32, z = R[in->c].f32;
			if (in->flags & F_FTZ) {
				x = ftz32(x);
				y = ftz32(y);
				z = ftz32(z);
			}
			float r = farith32(in->sub, x, y, z, in->rm);
			if (in->flags & F_FTZ)
				r = ftz32(r);
			if (in->flags & F_SAT)
				r = r != r ? 0.0f : r > 0 ? (r < 1 ? r : 1.0f) : 0.0f;
			WF(r);
			NEXT;
		}
		L_OP_FNEG32: {
			float x = R[in->a].f32;
			if (in->flags & F_FTZ)
				x = ftz32(x);
			R[in->d].u64 = f2u(x) ^ 0x80000000u;
			NEXT;
		}
		L_OP_FABS32: {
			float x = R[in->a].f32;
			if (in->flags & F_FTZ)
				x = ftz32(x);
			R[in->d].u64 = f2u(x) & 0x7fffffffu;
			NEXT;
		}
		L_OP_FMIN32: WF(fminp(R[in->a].f32, R[in->b].f32)); NEXT;
		L_OP_FMAX32: WF(fmaxp(R[in->a].f32, R[in->b].f32)); NEXT;
		L_OP_FRCP32: WF(1.0f / R[in->a].f32); NEXT;
		L_OP_FSQRT32: WF(sqrtf(R[in->a].f32)); NEXT;
		L_OP_FRCP_APPROX32: L_OP_FSQRT_APPROX32: L_OP_FRSQRT_APPROX32: L_OP_EX2_APPROX32:
		L_OP_LG2_APPROX32: L_OP_SIN_APPROX32: L_OP_COS_APPROX32: L_OP_TANH_APPROX32:
			WF(approx32(in, R[in->a].f32));
			NEXT;
		L_OP_FADD64: WD(R[in->a].f64 + R[in->b].f64); NEXT;
		L_OP_FSUB64: WD(R[in->a].f64 - R[in->b].f64); NEXT;
		L_OP_FMUL64: WD(R[in->a].f64 * R[in->b].f64); NEXT;
		L_OP_FFMA64: WD(fma(R[in->a].f64, R[in->b].f64, R[in->c].f64)); NEXT;
		L_OP_FDIV64: WD(R[in->a].f64 / R[in->b].f64); NEXT;
		L_OP_FARITH64_DIR: WD(farith64(in->sub, R[in->a].f64, R[in->b].f64, R[in->c].f64, in->rm)); NEXT;
		L_OP_FNEG64: R[in->d].u64 = R[in->a].u64 ^ 0x8000000000000000ull; NEXT;
		L_OP_FABS64: R[in->d].u64 = R[in->a].u64 & 0x7fffffffffffffffull; NEXT;
		L_OP_FMIN64: WD(dminp(R[in->a].f64, R[in->b].f64)); NEXT;
		L_OP_FMAX64: WD(dmaxp(R[in->a].f64, R[in->b].f64)); NEXT;
		L_OP_FRCP64: WD(1.0 / R[in->a].f64); NEXT;
		L_OP_FSQRT64: WD(sqrt(R[in->a].f64)); NEXT;
		L_OP_RCP_APPROX_FTZ64: WD(ftz64(1.0 / ftz64(R[in->a].f64))); NEXT;
		L_OP_CVT_S64_S32: R[in->d].s64 = R[in->a].s32; NEXT;
		L_OP_CVT_U64_U32: R[in->d].u64 = R[in->a].u32; NEXT;
		L_OP_CVT_U32_U64: W32(R[in->a].u32); NEXT;
		L_OP_CVT_U16_U32: R[in->d].u64 = R[in->a].u16; NEXT;
		L_OP_CVT_SAT_F32: { float x = R[in->a].f32; WF(x > 0 ? (x < 1 ? x : 1.0f) : 0.0f); NEXT; }
		L_OP_CVT_F32_F16: WF(ptx_f16_to_f32(R[in->a].u16)); NEXT;
		L_OP_CVT_F32_BF16: R[in->d].u64 = (uint32_t)R[in->a].u16 << 16; NEXT;
		L_OP_CVT: do_cvt(in, R); NEXT;
		L_OP_CVT_X2: {
			const float hi = R[in->a].f32, lo = R[in->b].f32;
			uint32_t h = in->ty == T_F16 ? ptx_f32_to_f16(hi, in->rm) : ptx_f32_to_bf16(hi, in->rm);
			uint32_t l = in->ty == T_F16 ? ptx_f32_to_f16(lo, in->rm) : ptx_f32_to_bf16(lo, in->rm);
			R[in->d].u64 = h << 16 | l;
			NEXT;
		}
		L_OP_LD_GLOBAL: {
			/* the common scalar case inline */
			if (in->nvec == 1 && in->size == 4) {
				uint64_t addr = R[in->a].u64 + (uint64_t)in->off;
				if (mem_check(b, t, in, SP_GLOBAL, addr, 4, 0))
					goto faulted;
				uint32_t v;
				memcpy(&v, (const void *)(uintptr_t)addr, 4);
				R[in->d].u64 = v;
				NEXT;
			}
			if (do_ld(b, t, in, SP_GLOBAL))
				goto faulted;
			NEXT;
		}
		L_OP_LD_SHARED: if (do_ld(b, t, in, SP_SHARED)) goto faulted; NEXT;
		L_OP_LD_LOCAL: if (do_ld(b, t, in, SP_LOCAL)) goto faulted; NEXT;
		L_OP_LD_PARAM: if (do_ld(b, t, in, SP_PARAM)) goto faulted; NEXT;
		L_OP_ST_GLOBAL: if (do_st(b, t, in, SP_GLOBAL)) goto faulted; NEXT;
		L_OP_ST_SHARED: if (do_st(b, t, in, SP_SHARED)) goto faulted; NEXT;
		L_OP_ST_LOCAL: if (do_st(b, t, in, SP_LOCAL)) goto faulted; NEXT;
		L_OP_ATOM_GLOBAL: if (do_atom(b, t, in, SP_GLOBAL)) goto faulted; NEXT;
		L_OP_ATOM_SHARED: if (do_atom(b, t, in, SP_SHARED)) goto faulted; NEXT;
		L_OP_BRA:
			if (in->target <= pc && ++t->backjumps > loop_limit) {
				fault(b, t, in->line, "the thread took more than %llu backward branches (an endless loop?)",
				      (unsigned long long)loop_limit);
				goto faulted;
			}
			pc = in->target;
			DISPATCH();
		L_OP_EXIT:
			if (t->ncp)
				cp_complete(b, t, ~0u);
			t->st = ST_EXIT;
			goto out;
		L_OP_CP_ASYNC: if (do_cp_async(b, t, in)) goto faulted; NEXT;
		L_OP_CP_ASYNC_COMMIT: t->ngroups++; NEXT;
		L_OP_CP_ASYNC_WAIT:
			if (in->sub == 1) /* wait_all: commit, then wait for every group */
				cp_complete(b, t, ~0u), t->ngroups++;
			else if (t->ngroups > (uint32_t)in->off)
				cp_complete(b, t, t->ngroups - (uint32_t)in->off);
			NEXT;
		L_OP_MMA: L_OP_LDMATRIX: t->st = ST_WSYNC; goto out;
		L_OP_TRAP: fault(b, t, in->line, "trap"); goto faulted;
		L_OP_BAR: t->st = ST_BAR; goto out;
		L_OP_SHFL: L_OP_VOTE: L_OP_WSYNC: t->st = ST_WSYNC; goto out;
	L_DEFAULT: __attribute__((unused));
			fault(b, t, in->line, "internal error: op %d has no executor", in->op);
			goto faulted;
	}
#undef NEXT
#undef DISPATCH
divzero:
	fault(b, t, code[pc].line, "integer division by zero");
faulted:
	rc = -1;
out:
	t->pc = pc;
	b->icount += count;
	return rc;
}

/* ---------- warp exchanges ---------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static const char *state_name(int st)
{
	switch (st) {
	case ST_RUN: return "running";
	case ST_BAR: return "waiting at a barrier";
	case ST_WSYNC: return "waiting at a warp exchange";
	default: return "exited";
	}
}

/* warp_matrix runs an ldmatrix or mma for the 32 lanes (all waiting at in). */
static float h2f(uint16_t h, int bf)
{
	if (bf) {
		uint32_t u = (uint32_t)h << 16;
		return u2f(u);
	}
	return ptx_f16_to_f32(h);
}

static int warp_matrix(blk *b, thr *lanes, const insn *in)
{
	if (in->op == OP_LDMATRIX) {
		int nm = in->nvec;
		uint64_t row[32];
		for (int l = 0; l < 8 * nm; l++) {
			row[l] = (lanes[l].R[in->a].u64 + (uint64_t)in->off) & 0xffffffffull;
			if (mem_check(b, &lanes[l], in, SP_SHARED, row[l], 16, 0))
				return -1;
		}
		uint32_t out[32][4];
		for (int m = 0; m < nm; m++)
			for (int l = 0; l < 32; l++) {
				uint16_t e[2];
				for (int j = 0; j < 2; j++) {
					int r, c;
					if (!in->sub) {
						r = l / 4;
						c = (l % 4) * 2 + j;
					} else {
						r = (l % 4) * 2 + j;
						c = l / 4;
					}
					memcpy(&e[j], b->shared + row[8 * m + r] + 2 * c, 2);
				}
				out[l][m] = (uint32_t)e[0] | ((uint32_t)e[1] << 16);
			}
		for (int l = 0; l < 32; l++) {
			for (int m = 0; m < nm; m++)
				lanes[l].R[in->v[m]].u64 = out[l][m];
			lanes[l].pc++;
			lanes[l].st = ST_RUN;
		}
		return 1;
	}
	/* mma.m16n8k16.row.col: fragments as the PTX ISA lays them out */
	const uint32_t *x = b->k->xops + in->target;
	int bf = in->ty2 == T_BF16;
	float A[16][16], B[16][8], C[16][8];
	for (int l = 0; l < 32; l++) {
		reg_t *R = lanes[l].R;
		int g = l >> 2, tg = l & 3;
		for (int e = 0; e < 8; e++) {
			uint32_t w = R[x[4 + e / 2]].u32;
			uint16_t h = (uint16_t)(e & 1 ? w >> 16 : w);
			A[g + 8 * ((e >> 1) & 1)][tg * 2 + (e & 1) + 8 * (e >> 2)] = h2f(h, bf);
		}
		for (int e = 0; e < 4; e++) {
			uint32_t w = R[x[8 + e / 2]].u32;
			uint16_t h = (uint16_t)(e & 1 ? w >> 16 : w);
			B[tg * 2 + (e & 1) + 8 * (e >> 1)][g] = h2f(h, bf);
		}
		for (int e = 0; e < 4; e++)
			C[g + 8 * (e >> 1)][tg * 2 + (e & 1)] = R[x[10 + e]].f32;
	}
	for (int l = 0; l < 32; l++) {
		reg_t *R = lanes[l].R;
		int g = l >> 2, tg = l & 3;
		for (int e = 0; e < 4; e++) {
			int r = g + 8 * (e >> 1), c = tg * 2 + (e & 1);
			double s = C[r][c];
			for (int k = 0; k < 16; k++)
				s += (double)A[r][k] * B[k][c];
			R[x[e]].u64 = f2u((float)s);
		}
		lanes[l].pc++;
		lanes[l].st = ST_RUN;
	}
	return 1;
}

/* resolve_wsync completes one group of lanes of warp w (lanes[0..n)) waiting
 * at a shfl/vote/bar.warp.sync. Returns 1 when a group completed, 0 when
 * none waits, -1 on a fault. bar.warp.sync keeps shfl's rules: every lane of
 * the mask at the same instruction with the same mask (sm_70+ hardware also
 * pairs different bar.warp.sync instructions; that is reported here, never
 * passed wrongly). */
static int resolve_wsync(blk *b, thr *lanes, int n)
{
	const insn *code = b->k->code;
	int first = -1;
	for (int l = 0; l < n; l++)
		if (lanes[l].st == ST_WSYNC) {
			first = l;
			break;
		}
	if (first < 0)
		return 0;
	thr *t0 = &lanes[first];
	const insn *in = &code[t0->pc];
	int aligned = in->op == OP_MMA || in->op == OP_LDMATRIX; /* .aligned: the whole warp */
	uint32_t mask = aligned ? 0xffffffffu : t0->R[in->v[0]].u32;
	for (int l = 0; l < n && !aligned; l++) {
		thr *t = &lanes[l];
		if (t->st == ST_WSYNC && t->pc == t0->pc && !((t->R[in->v[0]].u32 >> l) & 1)) {
			fault(b, t, in->line, "the executing lane %d is not in its member mask 0x%08x", l, t->R[in->v[0]].u32);
			return -1;
		}
	}
	for (int l = 0; l < 32; l++) {
		if (!((mask >> l) & 1))
			continue;
		if (l >= n) {
			fault(b, t0, in->line, "member mask 0x%08x names lane %d, which does not exist (the warp has %d threads)", mask, l, n);
			return -1;
		}
		thr *t = &lanes[l];
		if (t->st != ST_WSYNC || t->pc != t0->pc) {
			if (t->st == ST_EXIT)
				fault(b, t0, in->line, "member mask 0x%08x names lane %d, which has exited", mask, l);
			else
				fault(b, t0, in->line, "member mask 0x%08x names lane %d, which is %s at ptx line %d (divergent warp exchange)",
				      mask, l, state_name(t->st), code[t->pc].line);
			return -1;
		}
		uint32_t m2 = aligned ? mask : t->R[in->v[0]].u32;
		if (m2 != mask) {
			fault(b, t, in->line, "lane %d uses member mask 0x%08x, lane %d 0x%08x at the same exchange", l, m2, first, mask);
			return -1;
		}
	}
	if (aligned)
		return warp_matrix(b, lanes, in);
	uint32_t res[32], pres[32];
	if (in->op == OP_SHFL) {
		for (int l = 0; l < 32; l++) {
			if (!((mask >> l) & 1))
				continue;
			reg_t *R = lanes[l].R;
			uint32_t bval = R[in->b].u32, c = R[in->c].u32;
			int clamp = (int)(c & 0x1f), segmask = (int)((c >> 8) & 0x1f);
			int maxl = (l & segmask) | (clamp & ~segmask), minl = l & segmask;
			int j = 0, p = 0;
			switch (in->sub) {
			case SHFL_UP: j = l - (int)(bval & 0x1f); p = j >= maxl; break;
			case SHFL_DOWN: j = l + (int)(bval & 0x1f); p = j <= maxl; break;
			case SHFL_BFLY: j = l ^ (int)(bval & 0x1f); p = j <= maxl; break;
			default: j = minl | ((int)(bval & 0x1f) & ~segmask); p = j <= maxl; break;
			}
			if (!p)
				j = l;
			if (!((mask >> j) & 1)) {
				fault(b, &lanes[l], in->line, "shfl reads lane %d, which is not in the member mask 0x%08x", j, mask);
				return -1;
			}
			res[l] = lanes[j].R[in->a].u32;
			pres[l] = (uint32_t)p;
		}
	} else if (in->op == OP_WSYNC) {
		for (int l = 0; l < 32; l++)
			res[l] = 0; /* into the sink: bar.warp.sync only waits */
	} else {
		uint32_t ballot = 0;
		for (int l = 0; l < 32; l++)
			if ((mask >> l) & 1)
				ballot |= (lanes[l].R[in->a].u32 & 1) << l;
		uint32_t r;
		switch (in->sub) {
		case VOTE_ALL: r = ballot == mask; break;
		case VOTE_ANY: r = ballot != 0; break;
		case VOTE_UNI: r = ballot == 0 || ballot == mask; break;
		default: r = ballot; break;
		}
		for (int l = 0; l < 32; l++)
			res[l] = r;
	}
	for (int l = 0; l < 32; l++) {
		if (!((mask >> l) & 1))
			continue;
		thr *t = &lanes[l];
		const insn *ti = &code[t->pc];
		t->R[ti->d].u64 = res[l];
		if (in->op == OP_SHFL)
			t->R[ti->e].u64 = pres[l];
		t->pc++;
		t->st = ST_RUN;
	}
	return 1;
}

/* ---------- launch ---------- */

static __thread reg_t *tl_regs;
static __thread size_t tl_regs_n;
static __thread uint8_t *tl_mem;
static __thread size_t tl_mem_n;

static void *tl_get(void **p, size_t *have, size_t want)
{
	if (*have < want) {
		free(*p);
		*p = malloc(want);
		*have = *p ? want : 0;
	}
	return *p;
}

int ptx_launch(const ptx_kernel *k, const unsigned grid[3], const unsigned block[3], unsigned dyn_shared, void **params,
               const ptx_env *env, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = 0;
	if (!k || !grid || !block || !env || !env->check_global) {
		snprintf(err, errlen, "ptx_launch: missing kernel, dimensions or environment");
		return -1;
	}
	uint64_t nthreads = (uint64_t)block[0] * block[1] * block[2];
	if (nthreads == 0 || nthreads > 1024 || block[2] > 64) {
		snprintf(err, errlen, "kernel %s: block (%u,%u,%u) is not 1 to 1024 threads (z at most 64)", k->name, block[0], block[1], block[2]);
		return -1;
	}
	if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535) {
		snprintf(err, errlen, "kernel %s: grid (%u,%u,%u) is empty or too large", k->name, grid[0], grid[1], grid[2]);
		return -1;
	}
	if (k->static_shared > 48 * 1024) {
		snprintf(err, errlen, "kernel %s: %zu bytes of static shared memory exceed the 48 KiB limit", k->name, k->static_shared);
		return -1;
	}
	uint64_t shsize = dyn_shared ? k->dyn_offset + dyn_shared : k->static_shared;
	if (shsize > 227 * 1024) {
		snprintf(err, errlen, "kernel %s: %llu bytes of shared memory exceed the 227 KiB a block may have", k->name,
		         (unsigned long long)shsize);
		return -1;
	}
	if (k->nparams && !params) {
		snprintf(err, errlen, "kernel %s: no parameters given, it takes %d", k->name, k->nparams);
		return -1;
	}
	uint8_t *pbuf = calloc(1, k->pbytes + 8);
	if (!pbuf) {
		snprintf(err, errlen, "kernel %s: out of memory", k->name);
		return -1;
	}
	for (int i = 0; i < k->nparams; i++) {
		if (!params[i]) {
			free(pbuf);
			snprintf(err, errlen, "kernel %s: parameter %d is NULL", k->name, i);
			return -1;
		}
		memcpy(pbuf + k->poff[i], params[i], k->psize[i]);
	}
	int nt = (int)nthreads;
	int nwarps = (nt + 31) / 32;
	size_t lsz = (k->local_size + 15) & ~(size_t)15;
	size_t regbytes = (size_t)nt * k->nslots * sizeof(reg_t);
	size_t cpbytes = k->uses_cp_async ? (size_t)nt * CP_MAX * sizeof(cpent) : 0;
	size_t shpad = ((size_t)shsize + 15) & ~(size_t)15;
	size_t membytes = shpad + (size_t)nt * lsz + (size_t)nt * sizeof(thr) + (size_t)nwarps * sizeof(int) * 32 + 64 + cpbytes;
	reg_t *regs = tl_get((void **)&tl_regs, &tl_regs_n, regbytes ? regbytes : 8);
	uint8_t *mem = tl_get((void **)&tl_mem, &tl_mem_n, membytes);
	if (!regs || !mem) {
		free(pbuf);
		snprintf(err, errlen, "kernel %s: out of memory for %d threads", k->name, nt);
		return -1;
	}
	thr *th = (thr *)mem;
	uint8_t *shared = mem + (size_t)nt * sizeof(thr);
	uint8_t *local = shared + shpad;
	cpent *cpq = (cpent *)(local + (size_t)nt * lsz);
	int *order = (int *)((uint8_t *)cpq + cpbytes);
	blk b;
	memset(&b, 0, sizeof b);
	b.k = k;
	b.env = env;
	b.shared = shared;
	b.shsize = shsize;
	b.params = pbuf;
	b.lsize = k->local_size;
	b.err = err;
	b.errlen = errlen;
	uint64_t rng = env->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
	if (!rng)
		rng = 1;
	int rc = 0;
	/* Blocks run one after another, in x-fastest order, or under a random
	 * schedule in the order bi = (li·stride + first) mod nblocks (stride
	 * coprime to nblocks: every block once), so a kernel that counts its
	 * blocks finishing does not always see the highest index last. */
	uint64_t nblocks = (uint64_t)grid[0] * grid[1] * grid[2], first = 0, stride = 1;
	if (env->randomize_schedule && nblocks > 1) {
		first = rng_next(&rng) % nblocks;
		stride = rng_next(&rng) % nblocks | 1;
		for (;;) {
			uint64_t x = stride, y = nblocks;
			while (y) {
				uint64_t r = x % y;
				x = y;
				y = r;
			}
			if (x == 1)
				break;
			stride = (stride + 1) % nblocks;
		}
	}
	for (uint64_t li = 0; li < nblocks && !rc; li++) {
		uint64_t bi = (uint64_t)(((unsigned __int128)li * stride + first) % nblocks);
		unsigned bx = (unsigned)(bi % grid[0]), by = (unsigned)(bi / grid[0] % grid[1]), bz = (unsigned)(bi / grid[0] / grid[1]);
		b.ctaid[0] = bx;
		b.ctaid[1] = by;
		b.ctaid[2] = bz;
		memset(shared, 0xff, shsize);
		if (lsz)
			memset(local, 0xff, (size_t)nt * lsz);
		for (int i = 0; i < nt; i++) {
			thr *t = &th[i];
			t->R = regs + (size_t)i * k->nslots;
			memcpy(t->R, k->init, k->ninit * sizeof(reg_t));
			t->tid[0] = (unsigned)i % block[0];
			t->tid[1] = ((unsigned)i / block[0]) % block[1];
			t->tid[2] = (unsigned)i / (block[0] * block[1]);
			t->loc = local + (size_t)i * lsz;
			t->pc = 0;
			t->st = ST_RUN;
			t->cpq = cpbytes ? cpq + (size_t)i * CP_MAX : NULL;
			t->ncp = 0;
			t->ngroups = 0;
			t->backjumps = 0;
			reg_t *R = t->R;
			R[SLOT_TID_X].u64 = t->tid[0];
			R[SLOT_TID_Y].u64 = t->tid[1];
			R[SLOT_TID_Z].u64 = t->tid[2];
			R[SLOT_NTID_X].u64 = block[0];
			R[SLOT_NTID_Y].u64 = block[1];
			R[SLOT_NTID_Z].u64 = block[2];
			R[SLOT_CTAID_X].u64 = bx;
			R[SLOT_CTAID_Y].u64 = by;
			R[SLOT_CTAID_Z].u64 = bz;
			R[SLOT_NCTAID_X].u64 = grid[0];
			R[SLOT_NCTAID_Y].u64 = grid[1];
			R[SLOT_NCTAID_Z].u64 = grid[2];
			unsigned lane = (unsigned)i & 31;
			R[SLOT_LANEID].u64 = lane;
			R[SLOT_WARPID].u64 = (unsigned)i / 32;
			R[SLOT_NWARPID].u64 = (unsigned)nwarps;
			R[SLOT_LANEMASK_EQ].u64 = 1u << lane;
			R[SLOT_LANEMASK_LT].u64 = (1u << lane) - 1;
			R[SLOT_LANEMASK_LE].u64 = (uint32_t)((2ull << lane) - 1);
			R[SLOT_LANEMASK_GT].u64 = (uint32_t)~((2ull << lane) - 1);
			R[SLOT_LANEMASK_GE].u64 = (uint32_t)~((1u << lane) - 1);
		}
		/* phases between barriers */
		for (;;) {
			/* the order warps and lanes run in this phase */
			for (int w = 0; w < nwarps; w++)
				order[w] = w;
			if (env->randomize_schedule)
				for (int w = nwarps - 1; w > 0; w--) {
					int j = (int)(rng_next(&rng) % (uint64_t)(w + 1));
					int x = order[w];
					order[w] = order[j];
					order[j] = x;
				}
			for (int wi = 0; wi < nwarps && !rc; wi++) {
				int w = order[wi];
				thr *lanes = &th[w * 32];
				int n = nt - w * 32 < 32 ? nt - w * 32 : 32;
				int lo[32];
				for (int l = 0; l < n; l++)
					lo[l] = l;
				if (env->randomize_schedule)
					for (int l = n - 1; l > 0; l--) {
						int j = (int)(rng_next(&rng) % (uint64_t)(l + 1));
						int x = lo[l];
						lo[l] = lo[j];
						lo[j] = x;
					}
				for (;;) {
					for (int li = 0; li < n; li++) {
						thr *t = &lanes[lo[li]];
						if (t->st == ST_RUN && run_thread(&b, t)) {
							rc = -1;
							break;
						}
					}
					if (rc)
						break;
					int r = resolve_wsync(&b, lanes, n);
					if (r < 0)
						rc = -1;
					if (r <= 0)
						break;
				}
			}
			if (rc)
				break;
			/* everyone is at a barrier or exited */
			int waiting = 0, alive = 0;
			unsigned bar_ids = 0;
			int first_at[16];
			for (int i = 0; i < 16; i++)
				first_at[i] = -1;
			int bad = -1;
			for (int i = 0; i < nt; i++) {
				if (th[i].st == ST_EXIT)
					continue;
				alive++;
				if (th[i].st != ST_BAR)
					continue;
				waiting++;
				const insn *in = &k->code[th[i].pc];
				uint32_t id = th[i].R[in->a].u32;
				if (id >= 16) {
					bad = i;
					continue;
				}
				bar_ids |= 1u << id;
				if (first_at[id] < 0)
					first_at[id] = i;
			}
			if (bad >= 0) {
				fault(&b, &th[bad], k->code[th[bad].pc].line, "barrier id %u is not 0..15",
				      th[bad].R[k->code[th[bad].pc].a].u32);
				rc = -1;
				break;
			}
			if (!waiting)
				break; /* block done */
			/* release a barrier every live thread waits at, or
			 * one whose thread count is reached */
			int released = 0;
			for (int id = 0; id < 16 && !released; id++) {
				if (!((bar_ids >> id) & 1))
					continue;
				int cnt = 0;
				for (int i = 0; i < nt; i++)
					if (th[i].st == ST_BAR && th[i].R[k->code[th[i].pc].a].u32 == (uint32_t)id)
						cnt++;
				const insn *fi = &k->code[th[first_at[id]].pc];
				uint32_t want = (fi->flags & F_HASCOUNT) ? th[first_at[id]].R[fi->b].u32 : (uint32_t)alive;
				if ((fi->flags & F_HASCOUNT) && (want % 32 || want == 0)) {
					fault(&b, &th[first_at[id]], fi->line, "bar.sync thread count %u is not a nonzero multiple of 32", want);
					rc = -1;
					break;
				}
				if ((uint32_t)cnt >= want) {
					for (int i = 0; i < nt; i++)
						if (th[i].st == ST_BAR && th[i].R[k->code[th[i].pc].a].u32 == (uint32_t)id) {
							th[i].st = ST_RUN;
							th[i].pc++;
						}
					released = 1;
				}
			}
			if (rc)
				break;
			if (!released) {
				int f = -1;
				for (int id = 0; id < 16; id++)
					if (first_at[id] >= 0) {
						f = first_at[id];
						break;
					}
				const insn *fi = &k->code[th[f].pc];
				fault(&b, &th[f], fi->line,
				      "barrier deadlock: %d of %d live threads wait at barriers (barrier %u, line %d) and none can be released",
				      waiting, alive, th[f].R[fi->a].u32, fi->line);
				rc = -1;
				break;
			}
		}
	}
	if (env->instructions)
		*env->instructions = b.icount;
	free(pbuf);
	return rc;
}
