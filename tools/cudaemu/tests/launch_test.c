/*
 * launch_test.c - modules and kernel launches through the driver with the
 * PTX interpreter: results, laziness, arguments copied at the launch, launch
 * limits, out-of-bounds and cross-GPU accesses faulting the context with the
 * kernel's name, and a captured launch replayed.
 */
#include "api.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

static const char *scale_ptx =
    ".version 7.8\n"
    ".target sm_80\n"
    ".address_size 64\n"
    "\n"
    ".visible .entry scale(\n"
    "\t.param .u64 scale_param_0,\n"
    "\t.param .u64 scale_param_1,\n"
    "\t.param .f32 scale_param_2,\n"
    "\t.param .u32 scale_param_3\n"
    ")\n"
    "{\n"
    "\t.reg .pred %p<2>;\n"
    "\t.reg .f32 %f<4>;\n"
    "\t.reg .b32 %r<6>;\n"
    "\t.reg .b64 %rd<8>;\n"
    "\n"
    "\tld.param.u64 %rd1, [scale_param_0];\n"
    "\tld.param.u64 %rd2, [scale_param_1];\n"
    "\tld.param.f32 %f1, [scale_param_2];\n"
    "\tld.param.u32 %r1, [scale_param_3];\n"
    "\tmov.u32 %r2, %ctaid.x;\n"
    "\tmov.u32 %r3, %ntid.x;\n"
    "\tmov.u32 %r4, %tid.x;\n"
    "\tmad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "\tsetp.ge.u32 %p1, %r5, %r1;\n"
    "\t@%p1 bra $L__done;\n"
    "\tcvta.to.global.u64 %rd3, %rd1;\n"
    "\tcvta.to.global.u64 %rd4, %rd2;\n"
    "\tmul.wide.u32 %rd5, %r5, 4;\n"
    "\tadd.s64 %rd6, %rd4, %rd5;\n"
    "\tld.global.f32 %f2, [%rd6];\n"
    "\tmul.f32 %f3, %f2, %f1;\n"
    "\tadd.s64 %rd7, %rd3, %rd5;\n"
    "\tst.global.f32 [%rd7], %f3;\n"
    "$L__done:\n"
    "\tret;\n"
    "}\n";

static CUcontext ctx[3];

typedef struct {
	CUmodule mod;
	CUfunction fn;
	CUstream s;
} gpu;

static void open_gpu(gpu *g, int i) {
	OK(cuCtxSetCurrent(ctx[i]));
	OK(cuModuleLoadData(&g->mod, scale_ptx));
	OK(cuModuleGetFunction(&g->fn, g->mod, "scale"));
	OK(cuStreamCreate(&g->s, CU_STREAM_NON_BLOCKING));
}

static CUresult launch(gpu *g, float *out, const float *in, float factor, unsigned n, unsigned grid) {
	unsigned long long o = (uintptr_t)out, p = (uintptr_t)in;
	void *args[] = {&o, &p, &factor, &n};
	return cuLaunchKernel(g->fn, grid, 1, 1, 256, 1, 1, 0, g->s, args, NULL);
}

static float *dev(size_t n) {
	CUdeviceptr p;
	OK(cuMemAlloc_v2(&p, 4 * n));
	return (float *)(uintptr_t)p;
}

int main(void) {
	setenv("EMBER_EMU_GPUS", "3", 1);
	setenv("EMBER_EMU_NOPEER", "2", 1);
	OK(cuInit(0));
	for (int i = 0; i < 3; i++) OK(cuDevicePrimaryCtxRetain(&ctx[i], i));
	gpu g0;
	open_gpu(&g0, 0);
	CUfunction none;
	CHECK_CU(cuModuleGetFunction(&none, g0.mod, "nope"), CUDA_ERROR_NOT_FOUND);

	enum { N = 1000 };
	float *in = dev(N), *out = dev(N);
	for (int i = 0; i < N; i++) in[i] = (float)i - 500.5f;
	float factor = 2;
	OK(launch(&g0, out, in, factor, N, 4));
	CHECK(isnan(out[0]), "the kernel ran before the stream was synchronised");
	OK(cuStreamSynchronize(g0.s));
	int bad = 0;
	for (int i = 0; i < N; i++) bad += out[i] != 2 * in[i];
	CHECK(bad == 0, "%d wrong, out[1] = %g", bad, out[1]);

	/* arguments are copied at the launch */
	unsigned long long o = (uintptr_t)out, p = (uintptr_t)in;
	unsigned n = N;
	factor = 3;
	void *args[] = {&o, &p, &factor, &n};
	OK(cuLaunchKernel(g0.fn, 4, 1, 1, 256, 1, 1, 0, g0.s, args, NULL));
	factor = 100;
	OK(cuStreamSynchronize(g0.s));
	CHECK(out[7] == 3 * in[7], "out[7] = %g, want %g", out[7], 3 * in[7]);

	/* launch limits */
	CHECK_CU(cuLaunchKernel(g0.fn, 1, 1, 1, 2048, 1, 1, 0, g0.s, args, NULL), CUDA_ERROR_INVALID_VALUE);
	CHECK_CU(cuLaunchKernel(g0.fn, 1, 1, 1, 32, 1, 1, 49153, g0.s, args, NULL), CUDA_ERROR_INVALID_VALUE);
	CHECK_CU(cuLaunchKernel(g0.fn, 0, 1, 1, 32, 1, 1, 0, g0.s, args, NULL), CUDA_ERROR_INVALID_VALUE);
	CHECK_CU(cuLaunchKernel(g0.fn, 1, 1, 1, 32, 1, 1, 0, g0.s, NULL, NULL), CUDA_ERROR_INVALID_VALUE);

	/* a captured launch reads its input at replay */
	CUgraph graph;
	CUgraphExec exec;
	OK(cuStreamBeginCapture_v2(g0.s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
	OK(launch(&g0, out, in, 0.5f, N, 4));
	OK(cuStreamEndCapture(g0.s, &graph));
	OK(cuGraphInstantiateWithFlags(&exec, graph, 0));
	OK(cuGraphDestroy(graph));
	for (int rep = 1; rep <= 2; rep++) {
		for (int i = 0; i < N; i++) in[i] = (float)(rep * i);
		OK(cuGraphLaunch(exec, g0.s));
		OK(cuStreamSynchronize(g0.s));
		CHECK(out[999] == 0.5f * rep * 999, "replay %d: out[999] = %g", rep, out[999]);
	}
	OK(cuGraphExecDestroy(exec));

	/* GPU 1 reads GPU 0's memory with peer access; GPU 2 has none and faults */
	gpu g1, g2;
	open_gpu(&g1, 1);
	float *out1 = dev(N);
	OK(cuCtxEnablePeerAccess(ctx[0], 0));
	OK(launch(&g1, out1, in, 1, N, 4));
	OK(cuStreamSynchronize(g1.s));
	CHECK(out1[999] == in[999], "peer read: %g", out1[999]);
	open_gpu(&g2, 2);
	float *out2 = dev(N);
	OK(launch(&g2, out2, in, 1, N, 4));
	CHECK_CU(cuStreamSynchronize(g2.s), CUDA_ERROR_ILLEGAL_ADDRESS);
	const char *msg = NULL;
	OK(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &msg));
	CHECK(msg && strstr(msg, "GPU 2: kernel scale") && strstr(msg, "no peer access"), "message %s", msg);
	CHECK_CU(launch(&g2, out2, out2, 1, N, 4), CUDA_ERROR_ILLEGAL_ADDRESS);

	/* one element past the end faults GPU 1, naming the kernel */
	OK(cuCtxSetCurrent(ctx[1]));
	OK(launch(&g1, out1, out1, 1, N + 1, 4));
	CHECK_CU(cuStreamSynchronize(g1.s), CUDA_ERROR_ILLEGAL_ADDRESS);
	OK(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &msg));
	CHECK(msg && strstr(msg, "GPU 1: kernel scale") && strstr(msg, "past the end of a 4000-byte allocation"), "message %s", msg);

	/* GPU 0 is unaffected */
	OK(cuCtxSetCurrent(ctx[0]));
	OK(launch(&g0, out, in, 1, N, 4));
	OK(cuStreamSynchronize(g0.s));
	OK(cuModuleUnload(g0.mod));
	OK(cuStreamDestroy_v2(g0.s));
	OK(cuMemFree_v2((uintptr_t)in));
	OK(cuMemFree_v2((uintptr_t)out));
	for (int i = 0; i < 3; i++) OK(cuDevicePrimaryCtxRelease_v2(i));
	int d, h, gr, x;
	cudaemuLiveObjects(&d, &h, &gr, &x);
	CHECK(d == 0 && h == 0, "%d device, %d host allocations live after the contexts went", d, h);
	DONE();
}
