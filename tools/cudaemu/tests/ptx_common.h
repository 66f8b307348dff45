/* ptx_common.h - the PTX interpreter tests' harness: counters, an
 * allocation table for env->check_global, and helpers to load and run. */
#ifndef PTX_COMMON_H
#define PTX_COMMON_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ptx.h"

static int __attribute__((unused)) t_pass, t_fail __attribute__((unused));
#define EXPECT(cond, ...)                                                          \
	do {                                                                           \
		if (cond) {                                                                \
			t_pass++;                                                              \
		} else {                                                                   \
			t_fail++;                                                              \
			fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);        \
			fprintf(stderr, __VA_ARGS__);                                          \
			fputc('\n', stderr);                                                   \
		}                                                                          \
	} while (0)
#define FINISH()                                                                   \
	do {                                                                           \
		t_reset();                                                                 \
		printf("%d passed, %d failed\n", t_pass, t_fail);                          \
		return t_fail ? 1 : 0;                                                     \
	} while (0)

/* the allocation table check_global answers from */
typedef struct { uint64_t base, size; int ro; void *p; } t_range;
static t_range t_ranges[64];
static int t_nranges;

/* t_reset frees every buffer t_alloc gave since the last reset */
static __attribute__((unused)) void t_reset(void)
{
	for (int i = 0; i < t_nranges; i++)
		free(t_ranges[i].p);
	t_nranges = 0;
}
static __attribute__((unused)) void *t_alloc(size_t n)
{
	if (t_nranges == 64)
		abort();
	void *p = aligned_alloc(256, (n + 255) / 256 * 256);
	if (!p)
		abort();
	memset(p, 0xff, n);
	t_ranges[t_nranges].base = (uint64_t)(uintptr_t)p;
	t_ranges[t_nranges].size = n;
	t_ranges[t_nranges].ro = 0;
	t_ranges[t_nranges].p = p;
	t_nranges++;
	return p;
}
static __attribute__((unused)) int t_check(void *ctx, uint64_t addr, uint64_t n, int write, char *msg, size_t msglen)
{
	(void)ctx;
	for (int i = 0; i < t_nranges; i++)
		if (addr >= t_ranges[i].base && addr - t_ranges[i].base + n <= t_ranges[i].size && n <= t_ranges[i].size) {
			if (write && t_ranges[i].ro)
				break;
			return 0;
		}
	snprintf(msg, msglen, "0x%llx is in no allocation", (unsigned long long)addr);
	return 1;
}

static __attribute__((unused)) char *t_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(s);
		return NULL;
	}
	s[n] = 0;
	fclose(f);
	return s;
}

/* the committed kernels: PTX_KERNELS or ../../ember-cuda/kernels */
static const char *t_kernels_dir(void)
{
	const char *d = getenv("PTX_KERNELS");
	return d ? d : "../../ember-cuda/kernels";
}

static __attribute__((unused)) ptx_module *t_load_kernel_file(const char *name)
{
	char path[512], err[300];
	snprintf(path, sizeof path, "%s/%s", t_kernels_dir(), name);
	char *s = t_read_file(path);
	if (!s) {
		fprintf(stderr, "cannot read %s\n", path);
		return NULL;
	}
	ptx_module *m = ptx_load(s, err, sizeof err);
	if (!m)
		fprintf(stderr, "%s: %s\n", path, err);
	free(s);
	return m;
}

static __attribute__((unused)) int t_launch(ptx_kernel *k, unsigned gx, unsigned gy, unsigned bx, unsigned dyn, void **params, int randomize,
                    uint64_t seed, char *err, size_t errlen, uint64_t *icount)
{
	unsigned grid[3] = {gx, gy, 1}, block[3] = {bx, 1, 1};
	uint64_t n = 0;
	ptx_env env = {t_check, NULL, randomize, seed, &n};
	int r = ptx_launch(k, grid, block, dyn, params, &env, err, errlen);
	if (icount)
		*icount = n;
	return r;
}
#endif
