/*
 * cublas_test.c - cublasGemmEx against a naive column-major reference for
 * each input type and transpose, on values whose products and sums are exact
 * (multiples of 1/16), so the result must match bit for bit; the widening of
 * f16 subnormals and bf16; laziness; beta; argument checks; a bad pointer
 * faulting the context.
 */
#include "api.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

enum { R32F = 0, R16F = 2, R16BF = 14, COMPUTE32F = 68 };

static CUcontext ctx0, ctx1;
static CUstream stream;
static cublasHandle_t blas;

/* exact encodings of values that are multiples of 1/16 in [-8, 8] */
static uint16_t to_bf16(float f) {
	uint32_t b;
	memcpy(&b, &f, 4);
	return (uint16_t)(b >> 16);
}

static uint16_t to_f16(float f) {
	if (f == 0) return 0;
	uint32_t b;
	memcpy(&b, &f, 4);
	uint32_t sign = (b >> 31) << 15, exp = ((b >> 23) & 255) - 127 + 15, man = (b >> 13) & 1023;
	return (uint16_t)(sign | (exp << 10) | man);
}

static void *dev(size_t bytes) {
	CUdeviceptr p;
	OK(cuMemAlloc_v2(&p, bytes));
	return (void *)(uintptr_t)p;
}

static void put(void *buf, size_t i, float v, int type) {
	if (type == R32F) {
		((float *)buf)[i] = v;
	} else {
		uint16_t h = type == R16F ? to_f16(v) : to_bf16(v);
		((uint16_t *)buf)[i] = h;
	}
}

static unsigned rng = 12345;
static float small_value(void) {
	rng = rng * 1103515245u + 12345u;
	return (float)((int)((rng >> 16) % 129) - 64) / 16.0f;
}

static void gemm_case(int type, int ta, int tb) {
	const int m = 5, n = 3, k = 37;
	int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
	int lda = ar + 2, ldb = br + 1, ldc = m + 3;
	size_t es = type == R32F ? 4 : 2;
	float *av = malloc(sizeof(float) * lda * ac), *bv = malloc(sizeof(float) * ldb * bc);
	float c0[8 * 3];
	void *A = dev(es * lda * ac), *B = dev(es * ldb * bc);
	float *C = dev(sizeof(float) * ldc * n);
	for (int i = 0; i < lda * ac; i++) put(A, i, av[i] = small_value(), type);
	for (int i = 0; i < ldb * bc; i++) put(B, i, bv[i] = small_value(), type);
	for (int i = 0; i < ldc * n; i++) C[i] = c0[i] = small_value();
	for (int beta_case = 0; beta_case < 2; beta_case++) {
		float alpha = 0.5f, beta = beta_case ? 0.25f : 0;
		if (!beta_case)
			for (int i = 0; i < ldc * n; i++) C[i] = NAN; /* beta 0 must not read C */
		else
			for (int i = 0; i < ldc * n; i++) C[i] = c0[i];
		OK(cublasGemmEx(blas, ta, tb, m, n, k, &alpha, A, type, lda, B, type, ldb, &beta, C, R32F, ldc, COMPUTE32F, -1));
		CHECK(beta_case ? C[0] == c0[0] : isnan(C[0]), "GemmEx ran before the stream was synchronised");
		OK(cuStreamSynchronize(stream));
		int bad = 0;
		for (int j = 0; j < n; j++)
			for (int i = 0; i < m; i++) {
				double s = 0;
				for (int l = 0; l < k; l++) {
					double a = ta ? av[i * lda + l] : av[l * lda + i];
					double b = tb ? bv[l * ldb + j] : bv[j * ldb + l];
					s += a * b;
				}
				float want = (float)(alpha * s + (beta_case ? beta * c0[j * ldc + i] : 0));
				if (C[j * ldc + i] != want) {
					if (!bad)
						fprintf(stderr, "type %d ta %d tb %d beta %g: C(%d,%d) = %g, want %g\n", type, ta, tb, beta, i,
						        j, C[j * ldc + i], want);
					bad++;
				}
			}
		CHECK(bad == 0, "type %d transa %d transb %d beta %g: %d wrong", type, ta, tb, beta, bad);
		/* the padding rows of C are untouched */
		CHECK(beta_case ? C[m] == c0[m] : isnan(C[m]), "GemmEx wrote C's padding");
	}
	free(av);
	free(bv);
	OK(cuMemFree_v2((uintptr_t)A));
	OK(cuMemFree_v2((uintptr_t)B));
	OK(cuMemFree_v2((uintptr_t)C));
}

/* A hand-worked 2×2: A = [1 3; 2 4] (column-major 1,2,3,4), B = 2I. */
static void test_hand_worked(void) {
	float *A = dev(16), *B = dev(16), *C = dev(16);
	float a[4] = {1, 2, 3, 4}, b[4] = {2, 0, 0, 2};
	memcpy(A, a, 16);
	memcpy(B, b, 16);
	float one = 1, zero = 0;
	OK(cublasGemmEx(blas, 0, 0, 2, 2, 2, &one, A, R32F, 2, B, R32F, 2, &zero, C, R32F, 2, COMPUTE32F, -1));
	OK(cuStreamSynchronize(stream));
	CHECK(C[0] == 2 && C[1] == 4 && C[2] == 6 && C[3] == 8, "A·2I = %g %g %g %g", C[0], C[1], C[2], C[3]);
	OK(cublasGemmEx(blas, 1, 0, 2, 2, 2, &one, A, R32F, 2, B, R32F, 2, &zero, C, R32F, 2, COMPUTE32F, -1));
	OK(cuStreamSynchronize(stream));
	CHECK(C[0] == 2 && C[1] == 6 && C[2] == 4 && C[3] == 8, "Aᵀ·2I = %g %g %g %g", C[0], C[1], C[2], C[3]);
	OK(cuMemFree_v2((uintptr_t)A));
	OK(cuMemFree_v2((uintptr_t)B));
	OK(cuMemFree_v2((uintptr_t)C));
}

/* 1×1×1 products widen 16-bit inputs exactly: subnormal halves, bf16. */
static void test_widening(void) {
	uint16_t *A = dev(2), *B = dev(2);
	float *C = dev(4);
	float one = 1, zero = 0;
	struct {
		int type;
		uint16_t a, b;
		float want;
	} cases[] = {
	    {R16F, 0x0001, 0x3C00, 0x1p-24f},          /* smallest subnormal × 1 */
	    {R16F, 0x03FF, 0x4000, 1023 * 0x1p-23f},   /* largest subnormal × 2 */
	    {R16F, 0x7BFF, 0xBC00, -65504.0f},         /* largest half × -1 */
	    {R16F, 0x3555, 0x3C00, 0x1.554p-2f},       /* 0.333251953125 */
	    {R16BF, 0x4049, 0x3F80, 3.140625f},        /* bf16 pi × 1 */
	    {R16BF, 0x0001, 0x3F80, 0x1p-133f},        /* bf16 subnormal */
	    {R16BF, 0xC2F7, 0x4000, -247.0f},          /* -123.5 × 2 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		A[0] = cases[i].a;
		B[0] = cases[i].b;
		OK(cublasGemmEx(blas, 0, 0, 1, 1, 1, &one, A, cases[i].type, 1, B, cases[i].type, 1, &zero, C, R32F, 1,
		                COMPUTE32F, -1));
		OK(cuStreamSynchronize(stream));
		CHECK(C[0] == cases[i].want, "case %zu: %a, want %a", i, C[0], cases[i].want);
	}
	A[0] = 0x7C00; /* +inf × 1 */
	B[0] = 0x3C00;
	OK(cublasGemmEx(blas, 0, 0, 1, 1, 1, &one, A, R16F, 1, B, R16F, 1, &zero, C, R32F, 1, COMPUTE32F, -1));
	OK(cuStreamSynchronize(stream));
	CHECK(isinf(C[0]) && C[0] > 0, "inf: %g", C[0]);
	OK(cuMemFree_v2((uintptr_t)A));
	OK(cuMemFree_v2((uintptr_t)B));
	OK(cuMemFree_v2((uintptr_t)C));
}

static void test_arguments(void) {
	float *A = dev(64), *C = dev(64);
	float one = 1, zero = 0;
	CHECK_CU(cublasGemmEx(blas, 0, 0, 4, 1, 4, &one, A, R32F, 3, A, R32F, 4, &zero, C, R32F, 4, COMPUTE32F, -1), 7);
	CHECK_CU(cublasGemmEx(blas, 0, 0, 4, 1, 4, &one, A, R32F, 4, A, R32F, 4, &zero, C, R32F, 3, COMPUTE32F, -1), 7);
	CHECK_CU(cublasGemmEx(blas, 2, 0, 4, 1, 4, &one, A, R32F, 4, A, R32F, 4, &zero, C, R32F, 4, COMPUTE32F, -1), 7);
	CHECK_CU(cublasGemmEx(blas, 0, 0, 4, 1, 4, &one, A, R16F, 4, A, R32F, 4, &zero, C, R32F, 4, COMPUTE32F, -1), 15);
	CHECK_CU(cublasGemmEx(blas, 0, 0, 4, 1, 4, &one, A, R32F, 4, A, R32F, 4, &zero, C, R16F, 4, COMPUTE32F, -1), 15);
	CHECK_CU(cublasGemmEx(blas, 0, 0, 4, 1, 4, &one, A, R32F, 4, A, R32F, 4, &zero, C, R32F, 4, 77, -1), 15);
	CHECK_CU(cublasGemmEx(NULL, 0, 0, 4, 1, 4, &one, A, R32F, 4, A, R32F, 4, &zero, C, R32F, 4, COMPUTE32F, -1), 1);
	CHECK_CU(cublasSetMathMode(blas, 7), 7);
	OK(cublasSetMathMode(blas, 0));
	CHECK_CU(cublasSetWorkspace_v2(blas, (char *)A + 1, 16), 7);
	int v = 0;
	OK(cublasGetVersion_v2(blas, &v));
	CHECK(v / 10000 == 12, "version %d", v);
	OK(cuMemFree_v2((uintptr_t)A));
	OK(cuMemFree_v2((uintptr_t)C));
}

/* A GEMM whose C runs past its allocation faults GPU 1's context when it
 * runs, as a cuBLAS kernel's illegal address would. */
static void test_fault(void) {
	OK(cuCtxSetCurrent(ctx1));
	CUstream s;
	OK(cuStreamCreate(&s, 1));
	cublasHandle_t h;
	OK(cublasCreate_v2(&h));
	OK(cublasSetStream_v2(h, s));
	CHECK_CU(cublasSetStream_v2(h, stream), 7); /* a stream of GPU 0 */
	float *A = dev(64), *C = dev(16);
	float one = 1, zero = 0;
	OK(cublasGemmEx(h, 0, 0, 8, 1, 1, &one, A, R32F, 8, A, R32F, 1, &zero, C, R32F, 8, COMPUTE32F, -1));
	CHECK_CU(cuStreamSynchronize(s), CUDA_ERROR_ILLEGAL_ADDRESS);
	const char *str;
	OK(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &str));
	CHECK(strstr(str, "cublasGemmEx C: store to") && strstr(str, "runs 16 bytes past the end of a 16-byte allocation"),
	      "message %s", str);
	CHECK_CU(cublasGemmEx(h, 0, 0, 1, 1, 1, &one, A, R32F, 1, A, R32F, 1, &zero, C, R32F, 1, COMPUTE32F, -1), 13);
	OK(cublasDestroy_v2(h));
	OK(cuStreamDestroy_v2(s));
	OK(cuDevicePrimaryCtxRelease_v2(1));
	OK(cuCtxSetCurrent(ctx0));
}

int main(void) {
	setenv("EMBER_EMU_GPUS", "2", 1);
	OK(cuInit(0));
	OK(cuDevicePrimaryCtxRetain(&ctx0, 0));
	OK(cuDevicePrimaryCtxRetain(&ctx1, 1));
	OK(cuCtxSetCurrent(ctx0));
	OK(cuStreamCreate(&stream, 1));
	OK(cublasCreate_v2(&blas));
	OK(cublasSetStream_v2(blas, stream));
	void *ws = dev(1 << 20);
	OK(cublasSetWorkspace_v2(blas, ws, 1 << 20));
	OK(cublasSetMathMode(blas, 0));
	for (int type = 0; type < 3; type++)
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) gemm_case((int[]){R32F, R16F, R16BF}[type], ta, tb);
	test_hand_worked();
	test_widening();
	test_arguments();
	test_fault();
	OK(cublasDestroy_v2(blas));
	OK(cuMemFree_v2((uintptr_t)ws));
	OK(cuStreamDestroy_v2(stream));
	int d, h, g, x;
	cudaemuLiveObjects(&d, &h, &g, &x);
	CHECK(d == 0 && h == 0, "%d device, %d host allocations live", d, h);
	DONE();
}
