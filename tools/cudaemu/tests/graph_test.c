/*
 * graph_test.c - stream capture and graphs: the capture rules CUDA enforces
 * (each violation returns its code and invalidates the capture), captured
 * work not running at capture time, and a graph replayed twice reading its
 * inputs at replay time, with its external event records timing it.
 */
#include "api.h"
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>

enum { THREAD_LOCAL = 1, GLOBAL = 0, RELAXED = 2 };

static CUcontext ctx;
static CUstream s, other;

/* on_thread runs fn on a new thread (with ctx current) and returns its result. */
typedef struct {
	int (*fn)(void);
	int result;
} job;

static void *trampoline(void *p) {
	job *j = p;
	cuCtxSetCurrent(ctx);
	j->result = j->fn();
	return NULL;
}

static int on_thread(int (*fn)(void)) {
	job j = {fn, -1};
	pthread_t t;
	pthread_create(&t, NULL, trampoline, &j);
	pthread_join(t, NULL);
	return j.result;
}

static int alloc_and_free(void) {
	CUdeviceptr p;
	int r = cuMemAlloc_v2(&p, 256);
	if (r == 0) r = cuMemFree_v2(p);
	return r;
}

static int end_capture(void) {
	CUgraph g;
	return cuStreamEndCapture(s, &g);
}

static void test_rules(void) {
	CUgraph g = (CUgraph)1;
	CUdeviceptr p, buf;
	OK(cuMemAlloc_v2(&buf, 256));

	/* allocating on the capturing thread */
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	CHECK_CU(cuStreamBeginCapture_v2(s, THREAD_LOCAL), CUDA_ERROR_ILLEGAL_STATE);
	CHECK_CU(cuMemAlloc_v2(&p, 256), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	CHECK_CU(cuMemsetD8Async(buf, 0, 256, s), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	CHECK_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	CHECK(g == NULL, "an invalidated capture made a graph");

	/* ... is fine on another thread in thread-local mode, not in global mode */
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	CHECK(on_thread(alloc_and_free) == 0, "allocating on another thread during a thread-local capture failed");
	OK(cuStreamEndCapture(s, &g));
	CHECK(g != NULL, "no graph");
	OK(cuGraphDestroy(g));
	OK(cuStreamBeginCapture_v2(s, GLOBAL));
	CHECK(on_thread(alloc_and_free) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "global capture allowed an allocation");
	CHECK_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	OK(cuStreamBeginCapture_v2(s, RELAXED));
	OK(cuMemAlloc_v2(&p, 256));
	OK(cuMemFree_v2(p));
	OK(cuStreamEndCapture(s, &g));
	OK(cuGraphDestroy(g));

	/* synchronising the capturing stream, or another one on its thread */
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	CHECK_CU(cuStreamSynchronize(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	CHECK_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	CHECK_CU(cuStreamSynchronize(other), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	CHECK_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);

	/* waiting on an event recorded outside the capture */
	CUevent outside, inside;
	OK(cuEventCreate(&outside, 0));
	OK(cuEventCreate(&inside, 0));
	OK(cuEventRecord(outside, other));
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	CHECK_CU(cuStreamWaitEvent(s, outside, 0), CUDA_ERROR_STREAM_CAPTURE_ISOLATION);
	CHECK_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);

	/* an event recorded inside the capture may be waited on inside it, but
	 * not synchronised with or timed until recorded again outside */
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	OK(cuEventRecord(inside, s));
	OK(cuStreamWaitEvent(s, inside, 0));
	OK(cuStreamEndCapture(s, &g));
	OK(cuGraphDestroy(g));
	CHECK_CU(cuEventSynchronize(inside), CUDA_ERROR_CAPTURED_EVENT);
	float ms;
	CHECK_CU(cuEventElapsedTime(&ms, outside, inside), CUDA_ERROR_CAPTURED_EVENT);
	OK(cuEventRecord(inside, other));
	OK(cuEventSynchronize(inside));
	OK(cuEventElapsedTime(&ms, outside, inside));

	/* ending from another thread; the capture survives it */
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	CHECK(on_thread(end_capture) == CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "ended from another thread");
	OK(cuStreamEndCapture(s, &g));
	OK(cuGraphDestroy(g));

	CHECK_CU(cuStreamEndCapture(s, &g), CUDA_ERROR_ILLEGAL_STATE);
	CHECK_CU(cuStreamBeginCapture_v2(NULL, THREAD_LOCAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	CHECK_CU(cuEventRecordWithFlags(outside, s, CU_EVENT_RECORD_EXTERNAL), CUDA_ERROR_INVALID_VALUE);
	OK(cuEventDestroy_v2(outside));
	OK(cuEventDestroy_v2(inside));
	OK(cuMemFree_v2(buf));
}

/* y = 2·x by cuBLAS between an upload and a download, captured once and
 * replayed twice with new host data; external records time each replay. */
static void test_replay(void) {
	enum { N = 1000 };
	float *hin, *hout;
	OK(cuMemHostAlloc((void **)&hin, 4 * N, 1));
	OK(cuMemHostAlloc((void **)&hout, 4 * N, 1));
	CUdeviceptr x, y, one;
	OK(cuMemAlloc_v2(&x, 4 * N));
	OK(cuMemAlloc_v2(&y, 4 * N));
	OK(cuMemAlloc_v2(&one, 4));
	*(float *)(uintptr_t)one = 1;
	cublasHandle_t h;
	OK(cublasCreate_v2(&h));
	OK(cublasSetStream_v2(h, s));
	CUevent e0, e1;
	OK(cuEventCreate(&e0, 0));
	OK(cuEventCreate(&e1, 0));
	float alpha = 2, beta = 0;

	CUgraph g;
	OK(cuStreamBeginCapture_v2(s, THREAD_LOCAL));
	OK(cuEventRecordWithFlags(e0, s, CU_EVENT_RECORD_EXTERNAL));
	OK(cuMemcpyHtoDAsync_v2(x, hin, 4 * N, s));
	OK(cublasGemmEx(h, 0, 0, N, 1, 1, &alpha, (void *)(uintptr_t)x, 0, N, (void *)(uintptr_t)one, 0, 1, &beta,
	                (void *)(uintptr_t)y, 0, N, 68, -1));
	OK(cuEventRecordWithFlags(e1, s, CU_EVENT_RECORD_EXTERNAL));
	OK(cuMemcpyDtoHAsync_v2(hout, y, 4 * N, s));
	OK(cuStreamEndCapture(s, &g));
	OK(cuStreamSynchronize(s));
	CHECK(isnan(hout[0]) && isnan(((float *)(uintptr_t)y)[0]), "captured work ran at capture time");
	CUgraphExec xg;
	OK(cuGraphInstantiateWithFlags(&xg, g, 0));
	OK(cuGraphDestroy(g)); /* the exec lives on without its graph */
	float ms;
	CHECK_CU(cuEventElapsedTime(&ms, e0, e1), CUDA_ERROR_INVALID_HANDLE); /* not recorded yet */

	for (int rep = 1; rep <= 2; rep++) {
		for (int i = 0; i < N; i++) hin[i] = (float)(rep * 100 + i);
		OK(cuGraphLaunch(xg, s));
		CHECK(rep == 2 || isnan(hout[0]), "the replay ran before the sync");
		OK(cuStreamSynchronize(s));
		int bad = 0;
		for (int i = 0; i < N; i++) bad += hout[i] != 2 * (float)(rep * 100 + i);
		CHECK(bad == 0, "replay %d: %d wrong, hout[0] = %g", rep, bad, hout[0]);
		OK(cuEventElapsedTime(&ms, e0, e1));
		/* upload 1000 + 4000/20 ns, GEMM 3000 + 2·1000/50000 ns */
		CHECK(fabs(ms - 0.00420004) < 1e-8, "replay %d took %.9f ms, want 0.00420004", rep, ms);
	}

	/* a graph is launched on a stream of its own context only */
	CUcontext c1;
	OK(cuDevicePrimaryCtxRetain(&c1, 1));
	OK(cuCtxSetCurrent(c1));
	CUstream s1;
	OK(cuStreamCreate(&s1, 1));
	CHECK_CU(cuGraphLaunch(xg, s1), CUDA_ERROR_INVALID_HANDLE);
	OK(cuStreamDestroy_v2(s1));
	OK(cuCtxSetCurrent(ctx));
	OK(cuDevicePrimaryCtxRelease_v2(1));

	int d, hh, graphs, execs;
	cudaemuLiveObjects(&d, &hh, &graphs, &execs);
	CHECK(graphs == 0 && execs == 1, "%d graphs, %d execs live", graphs, execs);
	OK(cuGraphExecDestroy(xg));
	cudaemuLiveObjects(&d, &hh, &graphs, &execs);
	CHECK(execs == 0, "%d execs live", execs);
	OK(cublasDestroy_v2(h));
	OK(cuEventDestroy_v2(e0));
	OK(cuEventDestroy_v2(e1));
	OK(cuMemFree_v2(x));
	OK(cuMemFree_v2(y));
	OK(cuMemFree_v2(one));
	OK(cuMemFreeHost(hin));
	OK(cuMemFreeHost(hout));
}

int main(void) {
	setenv("EMBER_EMU_GPUS", "2", 1);
	OK(cuInit(0));
	OK(cuDevicePrimaryCtxRetain(&ctx, 0));
	OK(cuCtxSetCurrent(ctx));
	OK(cuStreamCreate(&s, 1));
	OK(cuStreamCreate(&other, 1));
	test_rules();
	test_replay();
	OK(cuStreamDestroy_v2(s));
	OK(cuStreamDestroy_v2(other));
	OK(cuDevicePrimaryCtxRelease_v2(0));
	int d, h, g, x;
	cudaemuLiveObjects(&d, &h, &g, &x);
	CHECK(d == 0 && h == 0 && g == 0 && x == 0, "%d device, %d host, %d graphs, %d execs live", d, h, g, x);
	DONE();
}
