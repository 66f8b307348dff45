/* ptx_kernels_test.c - every committed ember-cuda kernel file loads, and the
 * elementwise, rmsnorm and gemv kernels run on small inputs and match a C
 * reference (double precision sums, stated tolerances). */
#include "ptx_common.h"

static const char *files[] = {"attention.ptx", "attention_mma.ptx", "elementwise.ptx", "embedding.ptx", "gemv.ptx",
                              "kvcache.ptx", "random.ptx", "rmsnorm.ptx", "rope.ptx", "sampling.ptx"};

static uint64_t rs = 88172645463325252ull;
static float frand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (float)((rs >> 40) & 0xffffff) / 8388608.0f - 1.0f; /* [-1, 1) */
}

/* round to nearest even by the classic bit trick (not the interpreter's) */
static uint16_t bf16_ref(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return 0x7fff;
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
static float bf16_to_f(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static int close_rel(double got, double want, double tol) { return fabs(got - want) <= tol * (fabs(want) + 1e-30) || fabs(got - want) < 1e-30; }

static void test_load_all(void)
{
	int total = 0;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		ptx_module *m = t_load_kernel_file(files[i]);
		EXPECT(m != NULL, "%s does not load", files[i]);
		if (!m)
			continue;
		total += ptx_module_kernel_count(m);
		ptx_unload(m);
	}
	/* attention 36, attention_mma 4, elementwise 4, embedding 3, gemv 15,
	 * kvcache 3, random 3, rmsnorm 9, rope 10, sampling 4 */
	EXPECT(total == 91, "%d kernels in the 10 files, want 91", total);
	/* rope's module .global table is initialised from its PTX */
	ptx_module *m = t_load_kernel_file("rope.ptx");
	if (m) {
		void *addr = NULL;
		size_t size = 0;
		EXPECT(ptx_global_find(m, "__cudart_i2opi_f", &addr, &size) == 0 && size == 24, "i2opi size %zu", size);
		EXPECT(addr && ((unsigned char *)addr)[0] == 65 && ((unsigned char *)addr)[23] == 162, "i2opi contents");
		ptx_unload(m);
	}
}

static void test_elementwise(void)
{
	ptx_module *m = t_load_kernel_file("elementwise.ptx");
	if (!m)
		return;
	char err[300];
	const long n = 1000;
	t_reset();
	float *a = t_alloc(n * 4), *b = t_alloc(n * 4), *o = t_alloc(n * 4);
	uint16_t *h = t_alloc(n * 2);
	for (long i = 0; i < n; i++) {
		a[i] = frand() * 8;
		b[i] = frand();
	}
	long nn = n;
	void *p[4] = {&o, &a, &b, &nn};
	uint64_t ic = 0;
	EXPECT(t_launch(ptx_kernel_find(m, "add_f32"), 3, 1, 128, 0, p, 0, 0, err, sizeof err, &ic) == 0, "%s", err);
	int bad = 0;
	for (long i = 0; i < n; i++)
		bad += o[i] != a[i] + b[i];
	EXPECT(bad == 0, "add_f32: %d wrong", bad);
	EXPECT(ic > (uint64_t)n * 5, "add_f32 counted %llu instructions", (unsigned long long)ic);
	EXPECT(t_launch(ptx_kernel_find(m, "silu_mul_f32"), 2, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
	bad = 0;
	double worst = 0;
	for (long i = 0; i < n; i++) {
		double x = a[i], want = x / (1 + exp(-x)) * b[i];
		double e = fabs(o[i] - want) / (fabs(want) + 1e-6);
		if (e > worst)
			worst = e;
		bad += !(e < 4e-6);
	}
	EXPECT(bad == 0, "silu_mul_f32: %d beyond 4e-6 relative (worst %g)", bad, worst);
	void *q[3] = {&h, &a, &nn};
	EXPECT(t_launch(ptx_kernel_find(m, "convert_f32_bf16"), 4, 1, 64, 0, q, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
	bad = 0;
	for (long i = 0; i < n; i++)
		bad += h[i] != bf16_ref(a[i]);
	EXPECT(bad == 0, "convert_f32_bf16: %d differ from round-to-nearest-even", bad);
	EXPECT(t_launch(ptx_kernel_find(m, "convert_f32_f16"), 4, 1, 64, 0, q, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
	bad = 0;
	for (long i = 0; i < n; i++) {
		_Float16 r = (_Float16)a[i]; /* gcc's conversion rounds to nearest even */
		uint16_t u;
		memcpy(&u, &r, 2);
		bad += h[i] != u;
	}
	EXPECT(bad == 0, "convert_f32_f16: %d differ from gcc's _Float16", bad);
	ptx_unload(m);
}

static void test_rmsnorm(void)
{
	ptx_module *m = t_load_kernel_file("rmsnorm.ptx");
	if (!m)
		return;
	char err[300];
	int rows = 3, d = 300;
	float eps = 1e-6f;
	t_reset();
	float *x = t_alloc((size_t)rows * d * 4), *w = t_alloc((size_t)d * 4), *o = t_alloc((size_t)rows * d * 4);
	uint16_t *wb = t_alloc((size_t)d * 2);
	for (int i = 0; i < rows * d; i++)
		x[i] = frand() * 3;
	for (int i = 0; i < d; i++) {
		w[i] = 1 + frand() / 2;
		wb[i] = bf16_ref(w[i]);
	}
	for (int variant = 0; variant < 3; variant++) {
		int bf = variant == 1;
		void *wp = bf ? (void *)wb : (void *)w;
		void *p[5] = {&o, &x, &wp, &d, &eps};
		memset(o, 0xff, (size_t)rows * d * 4);
		/* variant 2: randomised schedule, same answer */
		EXPECT(t_launch(ptx_kernel_find(m, bf ? "rmsnorm_bf16" : "rmsnorm_f32"), (unsigned)rows, 1, 256, 0, p, variant == 2,
		                7, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int r = 0; r < rows; r++) {
			double ss = 0;
			for (int j = 0; j < d; j++)
				ss += (double)x[r * d + j] * x[r * d + j];
			double scale = 1 / sqrt(ss / d + eps);
			for (int j = 0; j < d; j++) {
				double want = x[r * d + j] * scale * (bf ? bf16_to_f(wb[j]) : w[j]);
				bad += !close_rel(o[r * d + j], want, 2e-6);
			}
		}
		EXPECT(bad == 0, "rmsnorm variant %d: %d of %d beyond 2e-6", variant, bad, rows * d);
	}
	/* head_rmsnorm: slices of 64 values, one warp each, 4 warps per block */
	long slices = 6;
	int hd = 64;
	float *v = t_alloc((size_t)slices * hd * 4), *v0 = malloc((size_t)slices * hd * 4);
	for (int i = 0; i < slices * hd; i++)
		v[i] = v0[i] = frand();
	void *p[5] = {&v, &w, &slices, &hd, &eps};
	EXPECT(t_launch(ptx_kernel_find(m, "head_rmsnorm_f32"), 2, 1, 128, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
	int bad = 0;
	for (int s = 0; s < slices; s++) {
		double ss = 0;
		for (int j = 0; j < hd; j++)
			ss += (double)v0[s * hd + j] * v0[s * hd + j];
		double scale = 1 / sqrt(ss / hd + eps);
		for (int j = 0; j < hd; j++)
			bad += !close_rel(v[s * hd + j], v0[s * hd + j] * scale * w[j], 2e-6);
	}
	EXPECT(bad == 0, "head_rmsnorm_f32: %d wrong", bad);
	free(v0);
	ptx_unload(m);
}

static void test_gemv(void)
{
	ptx_module *m = t_load_kernel_file("gemv.ptx");
	if (!m)
		return;
	char err[300];
	t_reset();
	/* gemv_f32: n=2 rows, o=10 outputs, k=70 */
	{
		int n = 2, o = 10, k = 70;
		float *x = t_alloc((size_t)n * k * 4), *w = t_alloc((size_t)o * k * 4), *out = t_alloc((size_t)n * o * 4);
		for (int i = 0; i < n * k; i++)
			x[i] = frand();
		for (int i = 0; i < o * k; i++)
			w[i] = frand();
		void *p[6] = {&out, &x, &w, &n, &o, &k};
		EXPECT(t_launch(ptx_kernel_find(m, "gemv_f32"), (unsigned)(o + 3) / 4, 1, 128, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int r = 0; r < n; r++)
			for (int j = 0; j < o; j++) {
				double s = 0, sa = 0;
				for (int i = 0; i < k; i++) {
					s += (double)x[r * k + i] * w[j * k + i];
					sa += fabs((double)x[r * k + i] * w[j * k + i]);
				}
				bad += !(fabs(out[r * o + j] - s) <= 1e-6 * sa);
			}
		EXPECT(bad == 0, "gemv_f32: %d wrong", bad);
	}
	/* gemv16_bf16: n=3, o=9, k=1064 (4 unrolled groups of 32 chunks, then a tail of 5) */
	{
		int n = 3, o = 9, k = 8 * (128 + 5);
		float *x = t_alloc((size_t)n * k * 4), *out = t_alloc((size_t)n * o * 4);
		uint16_t *w = t_alloc((size_t)o * k * 2);
		for (int i = 0; i < n * k; i++)
			x[i] = frand();
		for (int i = 0; i < o * k; i++)
			w[i] = bf16_ref(frand());
		void *p[6] = {&out, &x, &w, &n, &o, &k};
		EXPECT(t_launch(ptx_kernel_find(m, "gemv16_bf16"), (unsigned)(o + 3) / 4, 1, 128, 0, p, 1, 3, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int r = 0; r < n; r++)
			for (int j = 0; j < o; j++) {
				double s = 0, sa = 0;
				for (int i = 0; i < k; i++) {
					double t = (double)x[r * k + i] * bf16_to_f(w[j * k + i]);
					s += t;
					sa += fabs(t);
				}
				bad += !(fabs(out[r * o + j] - s) <= 1e-6 * sa);
			}
		EXPECT(bad == 0, "gemv16_bf16: %d wrong", bad);
	}
	ptx_unload(m);
}

static void test_rope_embedding(void)
{
	char err[300];
	ptx_module *m = t_load_kernel_file("rope.ptx");
	if (m) {
		t_reset();
		int n = 3, hd = 16, heads = 2, cols = hd * heads;
		float *x = t_alloc((size_t)n * cols * 4), *x0 = malloc((size_t)n * cols * 4);
		int *pos = t_alloc((size_t)n * 4);
		double inv[8];
		float *rev = t_alloc((size_t)(hd / 2) * 8); /* (hi, lo) f32 pairs of inv/2π */
		for (int i = 0; i < n * cols; i++)
			x[i] = x0[i] = frand();
		pos[0] = 0;
		pos[1] = 7;
		pos[2] = 40000;
		for (int j = 0; j < hd / 2; j++) {
			inv[j] = pow(1000000.0, -2.0 * j / hd);
			double turns = inv[j] / (2 * M_PI);
			rev[2 * j] = (float)turns;
			rev[2 * j + 1] = (float)(turns - (double)rev[2 * j]);
		}
		void *p[6] = {&x, &pos, &rev, &n, &cols, &hd};
		EXPECT(t_launch(ptx_kernel_find(m, "rope_neox_f32"), 1, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int r = 0; r < n; r++)
			for (int h = 0; h < heads; h++)
				for (int j = 0; j < hd / 2; j++) {
					double a = fmod((double)pos[r] * inv[j], 2 * M_PI);
					double c = cos(a), sn = sin(a);
					int i1 = r * cols + h * hd + j, i2 = i1 + hd / 2;
					double w1 = x0[i1] * c - x0[i2] * sn, w2 = x0[i2] * c + x0[i1] * sn;
					bad += fabs(x[i1] - w1) > 2e-6 || fabs(x[i2] - w2) > 2e-6;
				}
		EXPECT(bad == 0, "rope_neox_f32: %d pairs beyond 2e-6", bad);
		free(x0);
		ptx_unload(m);
	}
	m = t_load_kernel_file("embedding.ptx");
	if (m) {
		t_reset();
		int hidden = 40, vocab = 5;
		uint16_t *tab = t_alloc((size_t)vocab * hidden * 2);
		float *out = t_alloc((size_t)3 * hidden * 4);
		int *ids = t_alloc(3 * 4), *e = t_alloc(4);
		for (int i = 0; i < vocab * hidden; i++)
			tab[i] = bf16_ref(frand());
		ids[0] = 4;
		ids[1] = 0;
		ids[2] = 2;
		*e = 0;
		void *p[6] = {&out, &tab, &ids, &hidden, &vocab, &e};
		EXPECT(t_launch(ptx_kernel_find(m, "embedding_bf16"), 3, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int r = 0; r < 3; r++)
			for (int j = 0; j < hidden; j++)
				bad += out[r * hidden + j] != bf16_to_f(tab[ids[r] * hidden + j]);
		EXPECT(bad == 0 && *e == 0, "embedding_bf16: %d wrong, err %d", bad, *e);
		ids[1] = vocab; /* out of range: the kernel sets the error bit with atom.global.or */
		EXPECT(t_launch(ptx_kernel_find(m, "embedding_bf16"), 3, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		EXPECT(*e == 1, "embedding_bf16 bad id: err %d, want 1", *e);
		ptx_unload(m);
	}
	m = t_load_kernel_file("sampling.ptx");
	if (m) {
		t_reset();
		int rows = 2, d = 3000, k = 5;
		float *x = t_alloc((size_t)rows * d * 4), *vals = t_alloc((size_t)rows * k * 4);
		int *am = t_alloc((size_t)rows * 4), *idx = t_alloc((size_t)rows * k * 4);
		for (int i = 0; i < rows * d; i++)
			x[i] = (float)((i * 7919) % 100003) / 100003.0f; /* distinct in each row */
		x[17] = NAN;
		x[d + 2999] = 5.0f;
		void *p[3] = {&am, &x, &d};
		EXPECT(t_launch(ptx_kernel_find(m, "argmax_rows_f32"), (unsigned)rows, 1, 1024, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		void *q[5] = {&vals, &idx, &x, &d, &k};
		EXPECT(t_launch(ptx_kernel_find(m, "topk_rows_f32"), (unsigned)rows, 1, 1024, 0, q, 1, 11, err, sizeof err, NULL) == 0, "%s", err);
		for (int r = 0; r < rows; r++) {
			int used[3000] = {0};
			for (int t = 0; t < k; t++) {
				int best = -1;
				for (int j = 0; j < d; j++) {
					float v = x[r * d + j];
					if (v == v && !used[j] && (best < 0 || v > x[r * d + best]))
						best = j;
				}
				used[best] = 1;
				if (t == 0)
					EXPECT(am[r] == best, "argmax row %d: %d, want %d", r, am[r], best);
				EXPECT(idx[r * k + t] == best && vals[r * k + t] == x[r * d + best], "topk row %d #%d: %d (%g), want %d (%g)", r, t,
				       idx[r * k + t], vals[r * k + t], best, x[r * d + best]);
			}
		}
		ptx_unload(m);
	}
}

/* 16-bit storage types: 1 bf16, 2 f16; 0 is f32 */
static uint16_t enc16(float v, int ty)
{
	if (ty == 1)
		return bf16_ref(v);
	_Float16 h = (_Float16)v;
	uint16_t u;
	memcpy(&u, &h, 2);
	return u;
}
static float dec16(uint16_t u, int ty)
{
	if (ty == 1)
		return bf16_to_f(u);
	_Float16 h;
	memcpy(&h, &u, 2);
	return (float)h;
}

/* attn_prefill_<ty>_d<D> over head_dim 32·D: causal GQA over a cache of
 * start+n rows, against a double-precision softmax */
/* prefill_mismatches counts the outputs of a causal GQA prefill (n queries
 * at positions start.., f32 [n, heads, hd], keys and values as f32 rows of
 * kv_heads × hd) further than tol from a double-precision softmax. At most
 * 128 visible keys. */
static int prefill_mismatches(const float *out, const float *q, const float *k, const float *v, int n, int heads,
                              int kv_heads, int hd, int start, double scale, double tol)
{
	int bad = 0;
	for (int r = 0; r < n; r++)
		for (int h = 0; h < heads; h++) {
			int kvh = h / (heads / kv_heads), nk = start + r + 1;
			double sc[128], mx = -1e300, z = 0;
			for (int t = 0; t < nk; t++) {
				double d = 0;
				for (int i = 0; i < hd; i++)
					d += (double)q[(r * heads + h) * hd + i] * k[(t * kv_heads + kvh) * hd + i];
				sc[t] = d * scale;
				if (sc[t] > mx)
					mx = sc[t];
			}
			for (int t = 0; t < nk; t++)
				z += exp(sc[t] - mx);
			for (int i = 0; i < hd; i++) {
				double o = 0;
				for (int t = 0; t < nk; t++)
					o += exp(sc[t] - mx) / z * v[(t * kv_heads + kvh) * hd + i];
				bad += fabs(out[(r * heads + h) * hd + i] - o) > tol;
			}
		}
	return bad;
}

static void test_prefill_variant(ptx_module *m, int ty, int D)
{
	static const char *tn[] = {"f32", "bf16", "f16"};
	char name[64], err[300];
	snprintf(name, sizeof name, "attn_prefill_%s_d%d", tn[ty], D);
	t_reset();
	int n = 5, heads = 4, kv_heads = 2, hd = 32 * D - (D > 1 ? 8 : 0), start = 3, rows = start + n;
	float scale = 0.125f;
	size_t cn = (size_t)rows * kv_heads * hd;
	float *q = t_alloc((size_t)n * heads * hd * 4), *out = t_alloc((size_t)n * heads * hd * 4);
	float *kf = malloc(cn * 4), *vf = malloc(cn * 4);
	void *kc = t_alloc(cn * (ty ? 2 : 4)), *vc = t_alloc(cn * (ty ? 2 : 4));
	for (int i = 0; i < n * heads * hd; i++)
		q[i] = frand();
	for (size_t i = 0; i < cn; i++) {
		kf[i] = frand();
		vf[i] = frand();
		if (ty) {
			((uint16_t *)kc)[i] = enc16(kf[i], ty);
			((uint16_t *)vc)[i] = enc16(vf[i], ty);
			kf[i] = dec16(((uint16_t *)kc)[i], ty);
			vf[i] = dec16(((uint16_t *)vc)[i], ty);
		} else {
			((float *)kc)[i] = kf[i];
			((float *)vc)[i] = vf[i];
		}
	}
	void *nullp = NULL;
	void *p[11] = {&out, &q, &kc, &vc, &n, &heads, &kv_heads, &hd, &start, &nullp, &scale};
	unsigned grid[3] = {1, (unsigned)heads, 1}, block[3] = {128, 1, 1};
	uint64_t ic = 0;
	ptx_env env = {t_check, NULL, 1, 21, &ic};
	EXPECT(ptx_launch(ptx_kernel_find(m, name), grid, block, 2 * 16 * hd * 4, p, &env, err, sizeof err) == 0, "%s: %s", name, err);
	int bad = prefill_mismatches(out, q, kf, vf, n, heads, kv_heads, hd, start, scale, 4e-6);
	EXPECT(bad == 0, "%s (head_dim %d): %d of %d beyond 4e-6", name, hd, bad, n * heads * hd);
	free(kf);
	free(vf);
}

/* The launch geometry.go gives attn_decode for g query heads per KV head:
 * g·max(1, 8/g) warps, and a K and a V tile of f32 (32 keys up to head_dim
 * 128) or the warps' partials, whichever is larger, of shared memory. */
static unsigned decode_warps(int g) { return (unsigned)(g * (8 / g > 1 ? 8 / g : 1)); }
static unsigned decode_shmem(int hd, unsigned warps, int dpl)
{
	int tk = hd > 128 ? 4096 / hd : 32;
	long a = 2L * tk * hd, b = (long)warps * (2 + 32 * dpl);
	return (unsigned)(4 * (a > b ? a : b));
}

/* attn_decode_<ty>_d<D>: a block per (KV head, split) serves the group's
 * query heads; 4 splits share the 38 visible keys (keys [⌊s·38/4⌋,
 * ⌊(s+1)·38/4⌋): 9, 10, 9 and 10), the last block of each group to finish
 * merges them; then again at position 2 (3 keys: split 0 empty), with the
 * per-group counts the first launch left (they must be back at 0). */
static void test_decode_variant(ptx_module *m, int ty, int D, int heads, int kv_heads)
{
	static const char *tn[] = {"f32", "bf16", "f16"};
	char name[64], err[300];
	snprintf(name, sizeof name, "attn_decode_%s_d%d", tn[ty], D);
	t_reset();
	int dh = 32 * D - (D > 2 ? 16 : 0), dstart = 37, splits = 4, kvr = 40;
	float scale = 0.125f;
	size_t cn = (size_t)kvr * kv_heads * dh;
	float *dq = t_alloc((size_t)heads * dh * 4), *dout = t_alloc((size_t)heads * dh * 4);
	float *pacc = t_alloc((size_t)heads * splits * dh * 4), *pml = t_alloc((size_t)heads * splits * 2 * 4);
	void *dk = t_alloc(cn * (ty ? 2 : 4)), *dv = t_alloc(cn * (ty ? 2 : 4));
	float *kf = malloc(cn * 4), *vf = malloc(cn * 4);
	for (int i = 0; i < heads * dh; i++)
		dq[i] = frand();
	for (size_t i = 0; i < cn; i++) {
		kf[i] = frand();
		vf[i] = frand();
		if (ty) {
			((uint16_t *)dk)[i] = enc16(kf[i], ty);
			((uint16_t *)dv)[i] = enc16(vf[i], ty);
			kf[i] = dec16(((uint16_t *)dk)[i], ty);
			vf[i] = dec16(((uint16_t *)dv)[i], ty);
		} else {
			((float *)dk)[i] = kf[i];
			((float *)dv)[i] = vf[i];
		}
	}
	void *nullp = NULL;
	uint64_t ic = 0;
	ptx_env env = {t_check, NULL, 1, 5, &ic};
	unsigned warps = decode_warps(heads / kv_heads), block[3] = {32 * warps, 1, 1};
	unsigned shmem = decode_shmem(dh, warps, D);
	int *done = t_alloc((size_t)kv_heads * 4);
	memset(done, 0, (size_t)kv_heads * 4);
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			dstart = 2;
		memset(dout, 0xff, (size_t)heads * dh * 4);
		void *dp[13] = {&dout, &pacc, &pml, &done, &dq, &dk, &dv, &heads, &kv_heads, &dh, &dstart, &nullp, &scale};
		unsigned dg[3] = {(unsigned)kv_heads, (unsigned)splits, 1};
		env.seed = 5 + (uint64_t)pass;
		EXPECT(ptx_launch(ptx_kernel_find(m, name), dg, block, shmem, dp, &env, err, sizeof err) == 0, "%s (%d/%d heads): %s",
		       name, heads, kv_heads, err);
		int left = 0;
		for (int h = 0; h < kv_heads; h++)
			left += done[h] != 0;
		EXPECT(left == 0, "%s: %d groups' split counts not set back to 0", name, left);
		int bad = 0;
		for (int h = 0; h < heads; h++) {
			int kvh = h / (heads / kv_heads), nk = dstart + 1;
			double sc[64], mx = -1e300, z = 0;
			for (int t = 0; t < nk; t++) {
				double d = 0;
				for (int i = 0; i < dh; i++)
					d += (double)dq[h * dh + i] * kf[(t * kv_heads + kvh) * dh + i];
				sc[t] = d * scale;
				if (sc[t] > mx)
					mx = sc[t];
			}
			for (int t = 0; t < nk; t++)
				z += exp(sc[t] - mx);
			for (int i = 0; i < dh; i++) {
				double o = 0;
				for (int t = 0; t < nk; t++)
					o += exp(sc[t] - mx) / z * vf[(t * kv_heads + kvh) * dh + i];
				bad += fabs(dout[h * dh + i] - o) > 4e-6;
			}
		}
		EXPECT(bad == 0, "%s (head_dim %d, %d/%d heads, %d keys): %d of %d beyond 4e-6", name, dh, heads, kv_heads, dstart + 1,
		       bad, heads * dh);
	}
	free(kf);
	free(vf);
}

/* attn_prefill_mma_<ty>_h<hd> (tensor cores): 17 queries at position 50
 * (keys 0..66: a full 64-key tile and 3 of the next, zero-filled past them),
 * two query warps of which the second has one row, 4 query heads on 1 kv
 * head, under a randomised schedule. q holds values of the cache's type, so
 * the kernel's rounding of q is exact and only P's remains: each weight is
 * rounded to the type for P·V while the row sum keeps it in f32, which moves
 * an output by at most u·max|v| (u = 2^-8 bf16, 2^-11 f16; |v| < 1), plus
 * 2^-14 for f32 sums and ex2.approx. */
static void test_prefill_mma_variant(ptx_module *m, int ty, int hd)
{
	static const char *tn[] = {"f32", "bf16", "f16"};
	char name[64], err[300];
	snprintf(name, sizeof name, "attn_prefill_mma_%s_h%d", tn[ty], hd);
	t_reset();
	int n = 17, heads = 4, kv_heads = 1, start = 50, rows = start + n;
	float scale = 1.0f / sqrtf((float)hd);
	size_t cn = (size_t)rows * kv_heads * hd;
	float *q = t_alloc((size_t)n * heads * hd * 4), *out = t_alloc((size_t)n * heads * hd * 4);
	float *kf = malloc(cn * 4), *vf = malloc(cn * 4);
	uint16_t *kc = t_alloc(cn * 2), *vc = t_alloc(cn * 2);
	for (int i = 0; i < n * heads * hd; i++)
		q[i] = dec16(enc16(frand() * 3, ty), ty);
	for (size_t i = 0; i < cn; i++) {
		kc[i] = enc16(frand(), ty);
		vc[i] = enc16(frand(), ty);
		kf[i] = dec16(kc[i], ty);
		vf[i] = dec16(vc[i], ty);
	}
	void *nullp = NULL;
	void *p[10] = {&out, &q, &kc, &vc, &n, &heads, &kv_heads, &start, &nullp, &scale};
	unsigned grid[3] = {1, (unsigned)heads, 1}, block[3] = {128, 1, 1};
	uint64_t ic = 0;
	ptx_env env = {t_check, NULL, 1, 33, &ic};
	EXPECT(ptx_launch(ptx_kernel_find(m, name), grid, block, 0, p, &env, err, sizeof err) == 0, "%s: %s", name, err);
	double tol = ldexp(1, ty == 1 ? -8 : -11) + ldexp(1, -14);
	int bad = prefill_mismatches(out, q, kf, vf, n, heads, kv_heads, hd, start, scale, tol);
	EXPECT(bad == 0, "%s: %d of %d beyond %.2e", name, bad, n * heads * hd, tol);
	free(kf);
	free(vf);
}

static void test_attention(void)
{
	ptx_module *mma = t_load_kernel_file("attention_mma.ptx");
	if (mma) {
		for (int ty = 1; ty <= 2; ty++) {
			test_prefill_mma_variant(mma, ty, 64);
			test_prefill_mma_variant(mma, ty, 128);
		}
		ptx_unload(mma);
	}

	ptx_module *m = t_load_kernel_file("attention.ptx");
	if (!m)
		return;
	for (int ty = 0; ty < 3; ty++)
		for (int D = 1; D <= 8; D *= 2) {
			test_prefill_variant(m, ty, D);
			test_decode_variant(m, ty, D, 4, 2);
		}
	/* one query head per KV head (8 warps on one head), and 16 per KV head
	 * (16 warps, one per head) */
	test_decode_variant(m, 1, 4, 4, 4);
	test_decode_variant(m, 1, 4, 16, 1);
	char err[300];
	t_reset();
	int n = 5, heads = 4, kv_heads = 2, hd = 64, start = 3, rows = start + n;
	float scale = 0.125f;
	float *q = t_alloc((size_t)n * heads * hd * 4), *out = t_alloc((size_t)n * heads * hd * 4);
	float *kc = t_alloc((size_t)rows * kv_heads * hd * 4), *vc = t_alloc((size_t)rows * kv_heads * hd * 4);
	for (int i = 0; i < n * heads * hd; i++)
		q[i] = frand();
	for (int i = 0; i < rows * kv_heads * hd; i++) {
		kc[i] = frand();
		vc[i] = frand();
	}
	void *nullp = NULL;
	void *p[11] = {&out, &q, &kc, &vc, &n, &heads, &kv_heads, &hd, &start, &nullp, &scale};
	unsigned grid[3] = {1, (unsigned)heads, 1}, block[3] = {128, 1, 1};
	uint64_t ic = 0;
	ptx_env env = {t_check, NULL, 1, 21, &ic};
	EXPECT(ptx_launch(ptx_kernel_find(m, "attn_prefill_f32_d2"), grid, block, 2 * 16 * hd * 4, p, &env, err, sizeof err) == 0,
	       "%s", err);
	int bad = prefill_mismatches(out, q, kc, vc, n, heads, kv_heads, hd, start, scale, 2e-6);
	EXPECT(bad == 0, "attn_prefill_f32_d2: %d of %d beyond 2e-6", bad, n * heads * hd);

	/* flash decoding, bf16 cache, head_dim 128: 4 splits share 38 visible
	 * keys (9, 10, 9, 10), merged by the last block of each group */
	{
		int dh = 128, dstart = 37, splits = 4, kvr = 40;
		float *dq = t_alloc((size_t)heads * dh * 4), *dout = t_alloc((size_t)heads * dh * 4);
		float *pacc = t_alloc((size_t)heads * splits * dh * 4), *pml = t_alloc((size_t)heads * splits * 2 * 4);
		uint16_t *dk = t_alloc((size_t)kvr * kv_heads * dh * 2), *dv = t_alloc((size_t)kvr * kv_heads * dh * 2);
		for (int i = 0; i < heads * dh; i++)
			dq[i] = frand();
		for (int i = 0; i < kvr * kv_heads * dh; i++) {
			dk[i] = bf16_ref(frand());
			dv[i] = bf16_ref(frand());
		}
		int *done = t_alloc((size_t)kv_heads * 4);
		memset(done, 0, (size_t)kv_heads * 4);
		void *dp[13] = {&dout, &pacc, &pml, &done, &dq, &dk, &dv, &heads, &kv_heads, &dh, &dstart, &nullp, &scale};
		unsigned dg[3] = {(unsigned)kv_heads, (unsigned)splits, 1};
		unsigned warps = decode_warps(heads / kv_heads), dblock[3] = {32 * warps, 1, 1};
		EXPECT(ptx_launch(ptx_kernel_find(m, "attn_decode_bf16_d4"), dg, dblock, decode_shmem(dh, warps, 4), dp, &env, err,
		                  sizeof err) == 0,
		       "%s", err);
		bad = 0;
		for (int h = 0; h < heads; h++) {
			int kvh = h / (heads / kv_heads), nk = dstart + 1;
			double sc[64], mx = -1e300, z = 0;
			for (int t = 0; t < nk; t++) {
				double d = 0;
				for (int i = 0; i < dh; i++)
					d += (double)dq[h * dh + i] * bf16_to_f(dk[(t * kv_heads + kvh) * dh + i]);
				sc[t] = d * scale;
				if (sc[t] > mx)
					mx = sc[t];
			}
			for (int t = 0; t < nk; t++)
				z += exp(sc[t] - mx);
			for (int i = 0; i < dh; i++) {
				double o = 0;
				for (int t = 0; t < nk; t++)
					o += exp(sc[t] - mx) / z * bf16_to_f(dv[(t * kv_heads + kvh) * dh + i]);
				bad += fabs(dout[h * dh + i] - o) > 2e-6;
			}
		}
		EXPECT(bad == 0, "attn_decode_bf16_d4 (merged in the last block): %d of %d beyond 2e-6", bad, heads * dh);
	}
	ptx_unload(m);
}

static uint64_t mix_ref(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* fill_uniform, kv_append, add_rmsnorm and sample_sorted */
static void test_more(void)
{
	char err[300];
	ptx_module *m = t_load_kernel_file("random.ptx");
	if (m) {
		t_reset();
		long n = 1000;
		unsigned long long seed = 12345;
		float off = 0.5f, sc = 0.25f;
		uint16_t *o = t_alloc((size_t)n * 2);
		void *p[5] = {&o, &n, &seed, &off, &sc};
		EXPECT(t_launch(ptx_kernel_find(m, "fill_uniform_bf16"), 2, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (long i = 0; i < n; i++) {
			uint64_t r = mix_ref(seed * 0x100000001b3ull + (uint64_t)i);
			float u = (float)(r >> 40) * (1.0f / 16777216.0f);
			float v = fmaf(fmaf(u, 2.0f, -1.0f), sc, off); /* nvcc contracts to these two fma */
			bad += o[i] != bf16_ref(v);
		}
		EXPECT(bad == 0, "fill_uniform_bf16: %d of %ld differ", bad, n);
		ptx_unload(m);
	}
	m = t_load_kernel_file("kvcache.ptx");
	if (m) {
		t_reset();
		int n = 3, kvd = 10, start = 2, rows = 6;
		uint16_t *kc = t_alloc((size_t)rows * kvd * 2), *vc = t_alloc((size_t)rows * kvd * 2);
		float *k = t_alloc((size_t)n * kvd * 4), *v = t_alloc((size_t)n * kvd * 4);
		int *sp = t_alloc(4);
		*sp = 1;
		for (int i = 0; i < n * kvd; i++) {
			k[i] = frand();
			v[i] = frand();
		}
		void *nullp = NULL;
		void *p[8] = {&kc, &vc, &k, &v, &n, &kvd, &start, &nullp};
		EXPECT(t_launch(ptx_kernel_find(m, "kv_append_bf16"), 1, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int i = 0; i < rows * kvd; i++) {
			int r = i / kvd;
			uint16_t wk = r >= start && r < start + n ? bf16_ref(k[i - start * kvd]) : 0xffff;
			uint16_t wv = r >= start && r < start + n ? bf16_ref(v[i - start * kvd]) : 0xffff;
			bad += kc[i] != wk || vc[i] != wv;
		}
		EXPECT(bad == 0, "kv_append_bf16 at row 2: %d wrong", bad);
		/* the start row from device memory (a captured graph's way): row 1..3 */
		void *q[8] = {&kc, &vc, &k, &v, &n, &kvd, &start, &sp};
		EXPECT(t_launch(ptx_kernel_find(m, "kv_append_bf16"), 1, 1, 256, 0, q, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
		EXPECT(kc[kvd] == bf16_ref(k[0]) && kc[4 * kvd] == bf16_ref(k[2 * kvd]), "kv_append_bf16 at *start_ptr");
		ptx_unload(m);
	}
	m = t_load_kernel_file("rmsnorm.ptx");
	if (m) {
		t_reset();
		int rows = 2, d = 200;
		float eps = 1e-5f;
		float *x = t_alloc((size_t)rows * d * 4), *r = t_alloc((size_t)rows * d * 4), *w = t_alloc((size_t)d * 4);
		float *o = t_alloc((size_t)rows * d * 4), *x0 = malloc((size_t)rows * d * 4);
		for (int i = 0; i < rows * d; i++) {
			x[i] = x0[i] = frand();
			r[i] = frand();
		}
		for (int i = 0; i < d; i++)
			w[i] = frand();
		void *p[6] = {&o, &x, &r, &w, &d, &eps};
		EXPECT(t_launch(ptx_kernel_find(m, "add_rmsnorm_f32"), (unsigned)rows, 1, 256, 0, p, 1, 9, err, sizeof err, NULL) == 0, "%s", err);
		int bad = 0;
		for (int row = 0; row < rows; row++) {
			double ss = 0;
			for (int j = 0; j < d; j++) {
				float s = x0[row * d + j] + r[row * d + j];
				bad += x[row * d + j] != s;
				ss += (double)s * s;
			}
			double scale = 1 / sqrt(ss / d + eps);
			for (int j = 0; j < d; j++)
				bad += !close_rel(o[row * d + j], x[row * d + j] * scale * w[j], 2e-6);
		}
		EXPECT(bad == 0, "add_rmsnorm_f32: %d wrong", bad);
		free(x0);
		ptx_unload(m);
	}
	m = t_load_kernel_file("sampling.ptx");
	if (m) {
		t_reset();
		float *vals = t_alloc(12);
		int *idx = t_alloc(12), *out = t_alloc(4);
		vals[0] = 2.0f;
		vals[1] = 1.0f;
		vals[2] = 0.0f;
		idx[0] = 7;
		idx[1] = 3;
		idx[2] = 9;
		/* weights 1, e^-1, e^-2 (sum 1.5032); worked by hand */
		static const struct { float top_p, min_p; double u; int want; } cs[] = {
			{0, 0, 0.5, 7}, {0, 0, 0.7, 3}, {0, 0, 0.95, 9}, {0.5f, 0, 0.95, 7}, {0, 0.3f, 0.95, 3},
		};
		for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
			int k = 3;
			float temp = 1.0f, tp = cs[i].top_p, mp = cs[i].min_p;
			double u = cs[i].u;
			*out = -1;
			void *p[8] = {&out, &vals, &idx, &k, &temp, &tp, &mp, &u};
			EXPECT(t_launch(ptx_kernel_find(m, "sample_sorted_f32"), 1, 1, 1, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s", err);
			EXPECT(*out == cs[i].want, "sample_sorted case %zu: %d, want %d", i, *out, cs[i].want);
		}
		ptx_unload(m);
	}
}

/* the weight-type variants of gemv, rmsnorm, add_rmsnorm, head_rmsnorm,
 * embedding, kv_append and fill_uniform not run above */
static void test_type_variants(void)
{
	static const char *tn[] = {"f32", "bf16", "f16"};
	char name[64], err[300];
	ptx_module *g = t_load_kernel_file("gemv.ptx"), *r = t_load_kernel_file("rmsnorm.ptx"),
	           *e = t_load_kernel_file("embedding.ptx"), *kv = t_load_kernel_file("kvcache.ptx"),
	           *rd = t_load_kernel_file("random.ptx");
	if (!g || !r || !e || !kv || !rd)
		return;
	for (int ty = 0; ty < 3; ty++) {
		size_t es = ty ? 2 : 4;
		/* gemv_any and gemv16 */
		for (int sixteen = 0; sixteen < 2; sixteen++) {
			if (sixteen && !ty)
				continue;
			snprintf(name, sizeof name, "%s_%s", sixteen ? "gemv16" : "gemv", tn[ty]);
			t_reset();
			int n = 2, o = 7, k = sixteen ? 8 * 37 : 45;
			float *x = t_alloc((size_t)n * k * 4), *out = t_alloc((size_t)n * o * 4), *wf = malloc((size_t)o * k * 4);
			void *w = t_alloc((size_t)o * k * es);
			for (int i = 0; i < n * k; i++)
				x[i] = frand();
			for (int i = 0; i < o * k; i++) {
				wf[i] = frand();
				if (ty) {
					((uint16_t *)w)[i] = enc16(wf[i], ty);
					wf[i] = dec16(((uint16_t *)w)[i], ty);
				} else
					((float *)w)[i] = wf[i];
			}
			void *p[6] = {&out, &x, &w, &n, &o, &k};
			EXPECT(t_launch(ptx_kernel_find(g, name), (unsigned)(o + 3) / 4, 1, 128, 0, p, 1, 2, err, sizeof err, NULL) == 0,
			       "%s: %s", name, err);
			int bad = 0;
			for (int rr = 0; rr < n; rr++)
				for (int j = 0; j < o; j++) {
					double sum = 0, sa = 0;
					for (int i = 0; i < k; i++) {
						sum += (double)x[rr * k + i] * wf[j * k + i];
						sa += fabs((double)x[rr * k + i] * wf[j * k + i]);
					}
					bad += !(fabs(out[rr * o + j] - sum) <= 1e-6 * sa);
				}
			EXPECT(bad == 0, "%s: %d wrong", name, bad);
			free(wf);
		}
		/* rmsnorm family */
		{
			t_reset();
			int rows = 2, d = 96, hd = 32;
			long slices = 6;
			float eps = 1e-6f;
			float *x = t_alloc((size_t)rows * d * 4), *rsd = t_alloc((size_t)rows * d * 4), *o = t_alloc((size_t)rows * d * 4);
			float *x0 = malloc((size_t)rows * d * 4), *wf = malloc((size_t)d * 4);
			void *w = t_alloc((size_t)d * es);
			for (int i = 0; i < d; i++) {
				wf[i] = 1 + frand() / 2;
				if (ty) {
					((uint16_t *)w)[i] = enc16(wf[i], ty);
					wf[i] = dec16(((uint16_t *)w)[i], ty);
				} else
					((float *)w)[i] = wf[i];
			}
			for (int variant = 0; variant < 3; variant++) {
				static const char *kn[] = {"rmsnorm", "add_rmsnorm", "head_rmsnorm"};
				snprintf(name, sizeof name, "%s_%s", kn[variant], tn[ty]);
				for (int i = 0; i < rows * d; i++) {
					x[i] = x0[i] = frand();
					rsd[i] = frand();
				}
				int rc;
				if (variant == 0) {
					void *p[5] = {&o, &x, &w, &d, &eps};
					rc = t_launch(ptx_kernel_find(r, name), (unsigned)rows, 1, 256, 0, p, 0, 0, err, sizeof err, NULL);
				} else if (variant == 1) {
					void *p[6] = {&o, &x, &rsd, &w, &d, &eps};
					rc = t_launch(ptx_kernel_find(r, name), (unsigned)rows, 1, 256, 0, p, 0, 0, err, sizeof err, NULL);
				} else {
					void *p[5] = {&x, &w, &slices, &hd, &eps};
					rc = t_launch(ptx_kernel_find(r, name), 2, 1, 128, 0, p, 0, 0, err, sizeof err, NULL);
				}
				EXPECT(rc == 0, "%s: %s", name, err);
				int bad = 0, len = variant == 2 ? hd : d, nrow = variant == 2 ? (int)slices : rows;
				for (int row = 0; row < nrow; row++) {
					double ss = 0;
					for (int j = 0; j < len; j++) {
						float v = x0[row * len + j] + (variant == 1 ? rsd[row * len + j] : 0.0f);
						ss += (double)v * v;
					}
					double scale = 1 / sqrt(ss / len + eps);
					for (int j = 0; j < len; j++) {
						float v = x0[row * len + j] + (variant == 1 ? rsd[row * len + j] : 0.0f);
						float got = variant == 2 ? x[row * len + j] : o[row * len + j];
						bad += !close_rel(got, v * scale * wf[j], 2e-6);
					}
				}
				EXPECT(bad == 0, "%s: %d wrong", name, bad);
			}
			free(x0);
			free(wf);
		}
		/* embedding, kv_append, fill_uniform */
		{
			t_reset();
			int hidden = 24, vocab = 4;
			void *tab = t_alloc((size_t)vocab * hidden * es);
			float *out = t_alloc((size_t)2 * hidden * 4), *tf = malloc((size_t)vocab * hidden * 4);
			int *ids = t_alloc(8), *ef = t_alloc(4);
			for (int i = 0; i < vocab * hidden; i++) {
				tf[i] = frand();
				if (ty) {
					((uint16_t *)tab)[i] = enc16(tf[i], ty);
					tf[i] = dec16(((uint16_t *)tab)[i], ty);
				} else
					((float *)tab)[i] = tf[i];
			}
			ids[0] = 3;
			ids[1] = 1;
			*ef = 0;
			snprintf(name, sizeof name, "embedding_%s", tn[ty]);
			void *p[6] = {&out, &tab, &ids, &hidden, &vocab, &ef};
			EXPECT(t_launch(ptx_kernel_find(e, name), 2, 1, 256, 0, p, 0, 0, err, sizeof err, NULL) == 0, "%s: %s", name, err);
			int bad = 0;
			for (int i = 0; i < 2 * hidden; i++)
				bad += out[i] != tf[ids[i / hidden] * hidden + i % hidden];
			EXPECT(bad == 0 && *ef == 0, "%s: %d wrong", name, bad);
			free(tf);
			int n = 2, kvd = 8, start = 1;
			void *kc = t_alloc((size_t)4 * kvd * es), *vc = t_alloc((size_t)4 * kvd * es);
			float *k = t_alloc((size_t)n * kvd * 4), *v = t_alloc((size_t)n * kvd * 4);
			for (int i = 0; i < n * kvd; i++) {
				k[i] = frand();
				v[i] = frand();
			}
			void *nullp = NULL;
			snprintf(name, sizeof name, "kv_append_%s", tn[ty]);
			void *q[8] = {&kc, &vc, &k, &v, &n, &kvd, &start, &nullp};
			EXPECT(t_launch(ptx_kernel_find(kv, name), 1, 1, 256, 0, q, 0, 0, err, sizeof err, NULL) == 0, "%s: %s", name, err);
			bad = 0;
			for (int i = 0; i < n * kvd; i++) {
				size_t at = (size_t)start * kvd + i;
				if (ty)
					bad += ((uint16_t *)kc)[at] != enc16(k[i], ty) || ((uint16_t *)vc)[at] != enc16(v[i], ty);
				else
					bad += ((float *)kc)[at] != k[i] || ((float *)vc)[at] != v[i];
			}
			EXPECT(bad == 0, "%s: %d wrong", name, bad);
			long cnt = 300;
			unsigned long long seed = 99;
			float off = -1.0f, sc = 3.0f;
			void *fo = t_alloc((size_t)cnt * es);
			snprintf(name, sizeof name, "fill_uniform_%s", tn[ty]);
			void *f[5] = {&fo, &cnt, &seed, &off, &sc};
			EXPECT(t_launch(ptx_kernel_find(rd, name), 1, 1, 256, 0, f, 0, 0, err, sizeof err, NULL) == 0, "%s: %s", name, err);
			bad = 0;
			for (long i = 0; i < cnt; i++) {
				uint64_t rr = mix_ref(seed * 0x100000001b3ull + (uint64_t)i);
				float u = (float)(rr >> 40) * (1.0f / 16777216.0f);
				float val = fmaf(fmaf(u, 2.0f, -1.0f), sc, off);
				if (ty)
					bad += ((uint16_t *)fo)[i] != enc16(val, ty);
				else
					bad += ((float *)fo)[i] != val;
			}
			EXPECT(bad == 0, "%s: %d wrong", name, bad);
		}
	}
	ptx_unload(g);
	ptx_unload(r);
	ptx_unload(e);
	ptx_unload(kv);
	ptx_unload(rd);
}

int main(void)
{
	test_type_variants();
	test_more();
	test_attention();
	test_rope_embedding();
	test_load_all();
	test_elementwise();
	test_rmsnorm();
	test_gemv();
	FINISH();
}
