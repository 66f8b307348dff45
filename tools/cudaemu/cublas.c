/*
 * cublas.c - cudaemu's cuBLAS: the seven entry points Ember resolves from
 * libcublas.so.1x. cublasGemmEx (column-major, N or T, f32/f16/bf16 inputs,
 * f32 output, f32 compute) runs on the handle's stream in order with the
 * kernels around it, lazily like them, and is captured into graphs like
 * them. Products of the widened inputs are exact in double and summed in
 * double, so the result is the exact dot product rounded once (cuBLAS
 * itself sums in f32, in an order of its own).
 */
#define _GNU_SOURCE
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1, CUBLAS_STATUS_ALLOC_FAILED = 3,
       CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_EXECUTION_FAILED = 13, CUBLAS_STATUS_NOT_SUPPORTED = 15 };
enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 };
enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_PEDANTIC = 69 };
enum { OP_N = 0, OP_T = 1, OP_C = 2 };

#define MAGIC_BLAS 0x424c4153
#define COST_GEMM_LAUNCH 3000.0
#define FLOPS_PER_NS 50000.0 /* 50 TFLOP/s */

struct cublasContext {
	uint32_t magic;
	CUcontext ctx;
	CUstream stream;
	uint64_t ws, wsbytes;
	int math;
};

EMU_API int cublasCreate_v2(cublasHandle_t *h) {
	emu_lock();
	CUcontext c = emu_current();
	if (!c) {
		emu_unlock();
		return CUBLAS_STATUS_NOT_INITIALIZED;
	}
	cublasHandle_t x = calloc(1, sizeof *x);
	if (!x) {
		emu_unlock();
		return CUBLAS_STATUS_ALLOC_FAILED;
	}
	x->magic = MAGIC_BLAS;
	x->ctx = c;
	*h = x;
	emu_unlock();
	return 0;
}

static int live(cublasHandle_t h) { return h && h->magic == MAGIC_BLAS; }

EMU_API int cublasDestroy_v2(cublasHandle_t h) {
	if (!live(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
	h->magic = 0;
	free(h);
	return 0;
}

EMU_API int cublasSetStream_v2(cublasHandle_t h, CUstream s) {
	if (!live(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
	emu_lock();
	CUresult r = emu_stream_check(h->ctx, s);
	if (!r) h->stream = s;
	emu_unlock();
	return r ? CUBLAS_STATUS_INVALID_VALUE : 0;
}

EMU_API int cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes) {
	if (!live(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
	if (ws || bytes) {
		char msg[256];
		emu_lock();
		int bad = !ws || emu_check_range(h->ctx, (uint64_t)(uintptr_t)ws, bytes, 1, msg, sizeof msg);
		emu_unlock();
		if (bad) return CUBLAS_STATUS_INVALID_VALUE;
		if ((uintptr_t)ws % 256) return CUBLAS_STATUS_INVALID_VALUE;
	}
	h->ws = (uint64_t)(uintptr_t)ws;
	h->wsbytes = bytes;
	return 0;
}

EMU_API int cublasSetMathMode(cublasHandle_t h, int mode) {
	if (!live(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
	int base = mode & ~16; /* CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION */
	if (base < 0 || base > 3) return CUBLAS_STATUS_INVALID_VALUE;
	h->math = mode;
	return 0;
}

EMU_API int cublasGetVersion_v2(cublasHandle_t h, int *v) {
	if (!live(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
	*v = 120402; /* 12.4.2 */
	return 0;
}

/* ------------------------------------------------------------------------ */
/* GemmEx */

typedef struct gemm {
	int transa, transb, m, n, k, lda, ldb, ldc, type;
	float alpha, beta;
	uint64_t a, b, c;
} gemm;

static size_t esize(int t) { return t == CUDA_R_32F ? 4 : 2; }

/* f16_to_f32 widens an IEEE half exactly. */
static float f16_to_f32(uint16_t h) {
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
	if (exp == 31) {
		bits = sign | 0x7f800000u | (man << 13);
	} else if (exp) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man) { /* subnormal: normalise */
		int e = 113;
		while (!(man & 1024)) {
			man <<= 1;
			e--;
		}
		bits = sign | ((uint32_t)e << 23) | ((man & 1023) << 13);
	} else {
		bits = sign;
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static float bf16_to_f32(uint16_t h) {
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static float load(const unsigned char *p, size_t i, int type) {
	if (type == CUDA_R_32F) {
		float f;
		memcpy(&f, p + 4 * i, 4);
		return f;
	}
	uint16_t h;
	memcpy(&h, p + 2 * i, 2);
	return type == CUDA_R_16F ? f16_to_f32(h) : bf16_to_f32(h);
}

/* span is the bytes a column-major operand of rows×cols (as stored) with
 * leading dimension ld covers. */
static uint64_t span(int rows, int cols, int ld, int type) {
	if (rows == 0 || cols == 0) return 0;
	return ((uint64_t)(cols - 1) * (uint64_t)ld + (uint64_t)rows) * esize(type);
}

static double dot(const float *x, const float *y, int k) {
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int l = 0;
	for (; l + 4 <= k; l += 4) {
		s0 += (double)x[l] * y[l];
		s1 += (double)x[l + 1] * y[l + 1];
		s2 += (double)x[l + 2] * y[l + 2];
		s3 += (double)x[l + 3] * y[l + 3];
	}
	for (; l < k; l++) s0 += (double)x[l] * y[l];
	return (s0 + s1) + (s2 + s3);
}

#define PANEL 64

static int gemm_run(CUcontext ctx, void *arg, char *err, size_t errlen) {
	const gemm *g = arg;
	char msg[256];
	int ar = g->transa == OP_N ? g->m : g->k, ac = g->transa == OP_N ? g->k : g->m;
	int br = g->transb == OP_N ? g->k : g->n, bc = g->transb == OP_N ? g->n : g->k;
	if (g->k > 0 && emu_check_range(ctx, g->a, span(ar, ac, g->lda, g->type), 0, msg, sizeof msg)) {
		snprintf(err, errlen, "cublasGemmEx A: %s", msg);
		return 1;
	}
	if (g->k > 0 && emu_check_range(ctx, g->b, span(br, bc, g->ldb, g->type), 0, msg, sizeof msg)) {
		snprintf(err, errlen, "cublasGemmEx B: %s", msg);
		return 1;
	}
	if (emu_check_range(ctx, g->c, span(g->m, g->n, g->ldc, CUDA_R_32F), 1, msg, sizeof msg)) {
		snprintf(err, errlen, "cublasGemmEx C: %s", msg);
		return 1;
	}
	const unsigned char *A = (const unsigned char *)(uintptr_t)g->a, *B = (const unsigned char *)(uintptr_t)g->b;
	float *C = (float *)(uintptr_t)g->c;
	int m = g->m, n = g->n, k = g->k;
	float *bt = malloc(sizeof(float) * ((size_t)n * k + (size_t)PANEL * k + 1));
	if (!bt) {
		snprintf(err, errlen, "cublasGemmEx: the host is out of memory");
		return 1;
	}
	float *at = bt + (size_t)n * k;
	for (int j = 0; j < n; j++) /* op(B) column j, contiguous */
		for (int l = 0; l < k; l++)
			bt[(size_t)j * k + l] = load(B, g->transb == OP_N ? (size_t)j * g->ldb + l : (size_t)l * g->ldb + j, g->type);
	for (int i0 = 0; i0 < m; i0 += PANEL) {
		int rows = m - i0 < PANEL ? m - i0 : PANEL;
		for (int i = 0; i < rows; i++) /* op(A) row i0+i, contiguous */
			for (int l = 0; l < k; l++)
				at[(size_t)i * k + l] = load(A, g->transa == OP_N ? (size_t)l * g->lda + (i0 + i)
				                                                  : (size_t)(i0 + i) * g->lda + l, g->type);
		for (int j = 0; j < n; j++)
			for (int i = 0; i < rows; i++) {
				double v = (double)g->alpha * dot(at + (size_t)i * k, bt + (size_t)j * k, k);
				float *c = &C[(size_t)j * g->ldc + i0 + i];
				if (g->beta != 0) v += (double)g->beta * *c; /* beta 0: C is not read */
				*c = (float)v;
			}
	}
	free(bt);
	return 0;
}

EMU_API int cublasGemmEx(cublasHandle_t h, int transa, int transb, int m, int n, int k, const void *alpha,
                         const void *A, int atype, int lda, const void *B, int btype, int ldb, const void *beta,
                         void *C, int ctype, int ldc, int compute, int algo) {
	if (!live(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
	if ((transa != OP_N && transa != OP_T) || (transb != OP_N && transb != OP_T) || m < 0 || n < 0 || k < 0 ||
	    !alpha || !beta)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (lda < (transa == OP_N ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) ||
	    ldb < (transb == OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) || ldc < (m > 1 ? m : 1))
		return CUBLAS_STATUS_INVALID_VALUE;
	if (atype != btype || (atype != CUDA_R_32F && atype != CUDA_R_16F && atype != CUDA_R_16BF) ||
	    ctype != CUDA_R_32F || (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC))
		return CUBLAS_STATUS_NOT_SUPPORTED;
	if (m == 0 || n == 0) return 0;
	gemm g = {transa, transb, m, n, k, lda, ldb, ldc, atype, *(const float *)alpha, *(const float *)beta,
	          (uint64_t)(uintptr_t)A, (uint64_t)(uintptr_t)B, (uint64_t)(uintptr_t)C};
	double cost = COST_GEMM_LAUNCH + 2.0 * m * n * k / FLOPS_PER_NS;
	emu_lock();
	CUresult r = emu_enqueue_host(h->ctx, h->stream, gemm_run, &g, sizeof g, cost, CUDA_ERROR_ILLEGAL_ADDRESS);
	emu_unlock();
	return r ? CUBLAS_STATUS_EXECUTION_FAILED : 0;
}
