/* ptx_bench.c - the interpreter's throughput (not a test): runs gemv16_bf16,
 * gemv_f32, rmsnorm_f32, silu_mul_f32 and add_f32 from the committed PTX on
 * Qwen3-like shapes and prints thread-instructions per second for each.
 *   build: tests/build_ptx_tests.sh; run from tools/cudaemu: build/ptx/ptx_bench */
#include <time.h>

#include "ptx_common.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(const char *name, ptx_kernel *k, unsigned grid, unsigned block, void **p)
{
	char err[300];
	double best = 0;
	uint64_t ic = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		if (t_launch(k, grid, 1, block, 0, p, 0, 0, err, sizeof err, &ic)) {
			printf("%s: %s\n", name, err);
			return;
		}
		double r = ic / (now() - t0);
		if (r > best)
			best = r;
	}
	printf("%-14s %10llu thread-instructions  %6.1f M/s (best of 3)\n", name, (unsigned long long)ic, best / 1e6);
}

int main(void)
{
	ptx_module *g = t_load_kernel_file("gemv.ptx"), *r = t_load_kernel_file("rmsnorm.ptx"),
	           *e = t_load_kernel_file("elementwise.ptx");
	if (!g || !r || !e)
		return 1;
	t_reset();
	int n = 1, o = 256, kk = 1024;
	float *x = t_alloc((size_t)4 * kk * 4), *out = t_alloc((size_t)4 * o * 4);
	uint16_t *w16 = t_alloc((size_t)o * kk * 2);
	float *w32 = t_alloc((size_t)o * kk * 4);
	for (int i = 0; i < 4 * kk; i++)
		x[i] = (float)(i % 7) * 0.25f;
	memset(w16, 0x3f, (size_t)o * kk * 2);
	for (int i = 0; i < o * kk; i++)
		w32[i] = 0.5f;
	void *pg16[6] = {&out, &x, &w16, &n, &o, &kk};
	bench("gemv16_bf16", ptx_kernel_find(g, "gemv16_bf16"), (unsigned)o / 4, 128, pg16);
	void *pg32[6] = {&out, &x, &w32, &n, &o, &kk};
	bench("gemv_f32", ptx_kernel_find(g, "gemv_f32"), (unsigned)o / 4, 128, pg32);
	int d = 1024, rows = 64;
	float eps = 1e-6f;
	float *rx = t_alloc((size_t)rows * d * 4), *ro = t_alloc((size_t)rows * d * 4);
	for (int i = 0; i < rows * d; i++)
		rx[i] = (float)(i % 13) * 0.1f;
	void *pr[5] = {&ro, &rx, &w32, &d, &eps};
	bench("rmsnorm_f32", ptx_kernel_find(r, "rmsnorm_f32"), (unsigned)rows, 256, pr);
	long len = (long)rows * d;
	void *pe[4] = {&ro, &rx, &rx, &len};
	bench("silu_mul_f32", ptx_kernel_find(e, "silu_mul_f32"), 64, 256, pe);
	bench("add_f32", ptx_kernel_find(e, "add_f32"), 64, 256, pe);
	ptx_unload(g);
	ptx_unload(r);
	ptx_unload(e);
	return 0;
}
