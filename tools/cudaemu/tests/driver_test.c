/*
 * driver_test.c - the fake driver's memory table, lazy streams, events and
 * virtual clock, peer access and sticky faults. Three GPUs of 64 MiB; GPU 2
 * has no peer access.
 */
#include "api.h"
#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>

static CUcontext ctx[3];

static void setup(void) {
	setenv("EMBER_EMU_GPUS", "3", 1);
	setenv("EMBER_EMU_MEM", "64M", 1);
	setenv("EMBER_EMU_NOPEER", "2", 1);
	setenv("EMBER_EMU_SMS", "8", 1);
	CHECK_CU(cuCtxSetCurrent(NULL), CUDA_ERROR_NOT_INITIALIZED);
	OK(cuInit(0));
	int n = 0;
	OK(cuDeviceGetCount(&n));
	CHECK(n == 3, "%d GPUs", n);
	for (int i = 0; i < 3; i++) OK(cuDevicePrimaryCtxRetain(&ctx[i], i));
	OK(cuCtxSetCurrent(ctx[0]));
}

static void test_devices(void) {
	CUdevice d;
	CHECK_CU(cuDeviceGet(&d, 3), CUDA_ERROR_INVALID_DEVICE);
	OK(cuDeviceGet(&d, 1));
	CHECK(d == 1, "device %d", d);
	int v = 0;
	OK(cuDeviceGetAttribute(&v, 75, 0));
	CHECK(v == 8, "cc major %d", v);
	OK(cuDeviceGetAttribute(&v, 16, 0));
	CHECK(v == 8, "SMs %d", v);
	CHECK_CU(cuDeviceGetAttribute(&v, 12345, 0), CUDA_ERROR_INVALID_VALUE);
	size_t total = 0;
	OK(cuDeviceTotalMem_v2(&total, 0));
	CHECK(total == 64u << 20, "total %zu", total);
	int can = -1;
	OK(cuDeviceCanAccessPeer(&can, 0, 1));
	CHECK(can == 1, "0→1 %d", can);
	OK(cuDeviceCanAccessPeer(&can, 0, 2));
	CHECK(can == 0, "0→2 %d", can);
	OK(cuDeviceCanAccessPeer(&can, 1, 1));
	CHECK(can == 0, "1→1 %d", can);
	char name[64];
	OK(cuDeviceGetName(name, sizeof name, 1));
	CHECK(strstr(name, "GPU 1") != NULL, "name %s", name);
	const char *s = NULL;
	OK(cuGetErrorName(905, &s));
	CHECK(s && strcmp(s, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION") == 0, "%s", s);
	CHECK_CU(cuGetErrorName(12345, &s), CUDA_ERROR_INVALID_VALUE);
}

static void test_memory(void) {
	size_t free0, total;
	OK(cuMemGetInfo_v2(&free0, &total));
	CHECK(total == 64u << 20 && free0 == total, "free %zu of %zu", free0, total);
	CUdeviceptr p = 0;
	OK(cuMemAlloc_v2(&p, 1000));
	CHECK(p % 256 == 0, "alignment of %#llx", p);
	size_t free1;
	OK(cuMemGetInfo_v2(&free1, &total));
	CHECK(free0 - free1 == 1000, "allocating 1000 bytes took %zu", free0 - free1);
	const unsigned char *b = (const unsigned char *)(uintptr_t)p;
	int poisoned = 1;
	for (int i = 0; i < 1000; i++) poisoned &= b[i] == 0xFF;
	CHECK(poisoned, "fresh memory is not 0xFF");
	float f;
	memcpy(&f, b, 4);
	CHECK(isnan(f), "fresh memory reads %g as a float", f);

	char msg[256];
	CHECK(emu_check_range(ctx[0], p, 1000, 0, msg, sizeof msg) == 0, "whole allocation");
	CHECK(emu_check_range(ctx[0], p + 996, 8, 1, msg, sizeof msg) != 0, "4 bytes past the end pass");
	CHECK(strstr(msg, "runs 4 bytes past the end of a 1000-byte allocation") != NULL, "message: %s", msg);
	CHECK(emu_check_range(ctx[0], p + 1100, 4, 0, msg, sizeof msg) != 0, "past the end passes");
	CHECK(strstr(msg, "100 bytes past the end") != NULL, "message: %s", msg);
	CHECK(emu_check_range(ctx[1], p, 4, 0, msg, sizeof msg) != 0, "GPU 1 reads GPU 0 without peer access");
	CHECK(strstr(msg, "GPU 0's memory and GPU 1 has no peer access") != NULL, "message: %s", msg);

	CHECK_CU(cuMemAlloc_v2(&p, 0), CUDA_ERROR_INVALID_VALUE);
	CUdeviceptr big;
	CHECK_CU(cuMemAlloc_v2(&big, 65u << 20), CUDA_ERROR_OUT_OF_MEMORY);
	OK(cuMemFree_v2(p));
	OK(cuMemGetInfo_v2(&free1, &total));
	CHECK(free1 == free0, "free after free %zu, want %zu", free1, free0);
	CHECK(emu_check_range(ctx[0], p, 4, 0, msg, sizeof msg) != 0, "a freed allocation passes");
	CHECK_CU(cuMemFree_v2(p), CUDA_ERROR_INVALID_VALUE);

	void *h = NULL;
	OK(cuMemHostAlloc(&h, 4096, CU_MEMHOSTALLOC_PORTABLE));
	CHECK(((unsigned char *)h)[4095] == 0xFF, "pinned memory is not poisoned");
	CHECK(emu_check_range(ctx[1], (uint64_t)(uintptr_t)h, 4096, 1, msg, sizeof msg) == 0, "pinned from GPU 1: %s", msg);
	CHECK_CU(cuMemFree_v2((CUdeviceptr)(uintptr_t)h), CUDA_ERROR_INVALID_VALUE);
	OK(cuMemFreeHost(h));
	int dev, host, graphs, execs;
	cudaemuLiveObjects(&dev, &host, &graphs, &execs);
	CHECK(dev == 0 && host == 0, "%d device and %d host allocations live", dev, host);
}

static void test_peer(void) {
	CUdeviceptr a, b;
	OK(cuCtxSetCurrent(ctx[1]));
	OK(cuMemAlloc_v2(&b, 256));
	OK(cuCtxSetCurrent(ctx[0]));
	OK(cuMemAlloc_v2(&a, 256));
	char msg[256];
	CHECK(emu_check_range(ctx[0], b, 256, 0, msg, sizeof msg) != 0, "GPU 0 reads GPU 1 before peer access");
	OK(cuCtxEnablePeerAccess(ctx[1], 0));
	CHECK(emu_check_range(ctx[0], b, 256, 0, msg, sizeof msg) == 0, "GPU 0 reads GPU 1 with peer access: %s", msg);
	CHECK(emu_check_range(ctx[1], a, 256, 0, msg, sizeof msg) != 0, "peer access is one way");
	CHECK_CU(cuCtxEnablePeerAccess(ctx[1], 0), CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED);
	CHECK_CU(cuCtxEnablePeerAccess(ctx[2], 0), CUDA_ERROR_PEER_ACCESS_UNSUPPORTED);
	CHECK_CU(cuCtxEnablePeerAccess(ctx[0], 0), CUDA_ERROR_INVALID_DEVICE);

	/* a peer copy names both contexts; wrong ones are refused */
	CUstream s;
	OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	memset((void *)(uintptr_t)a, 5, 256);
	CHECK_CU(cuMemcpyPeerAsync(b, ctx[0], a, ctx[1], 256, s), CUDA_ERROR_INVALID_VALUE);
	OK(cuMemcpyPeerAsync(b, ctx[1], a, ctx[0], 256, s));
	OK(cuStreamSynchronize(s));
	CHECK(((unsigned char *)(uintptr_t)b)[255] == 5, "peer copy");
	OK(cuStreamDestroy_v2(s));
	OK(cuMemFree_v2(a));
	OK(cuCtxSetCurrent(ctx[1]));
	OK(cuMemFree_v2(b));
	OK(cuCtxSetCurrent(ctx[0]));
}

/* Work on a stream runs only when something waits for it, so a consumer on
 * another stream that forgets cuStreamWaitEvent sees the old data. */
static void test_lazy_streams(void) {
	CUstream prod, cons;
	OK(cuStreamCreate(&prod, CU_STREAM_NON_BLOCKING));
	OK(cuStreamCreate(&cons, CU_STREAM_NON_BLOCKING));
	CUdeviceptr buf, out;
	OK(cuMemAlloc_v2(&buf, 64));
	OK(cuMemAlloc_v2(&out, 64));
	unsigned char *hb = (unsigned char *)(uintptr_t)buf, *ho = (unsigned char *)(uintptr_t)out;
	CUevent written;
	OK(cuEventCreate(&written, 0));

	OK(cuMemsetD8Async(buf, 7, 64, prod));
	OK(cuEventRecord(written, prod));
	CHECK(hb[0] == 0xFF, "the memset ran before anything waited for it");
	/* missing wait: the copy reads the stale buffer */
	OK(cuMemcpyDtoDAsync_v2(out, buf, 64, cons));
	OK(cuStreamSynchronize(cons));
	CHECK(ho[0] == 0xFF && ho[63] == 0xFF, "without a wait the consumer saw %d", ho[0]);
	CHECK(hb[0] == 0xFF, "the producer ran without being waited for");

	/* with the wait, the consumer runs the producer first */
	OK(cuMemsetD8Async(buf, 9, 64, prod));
	OK(cuEventRecord(written, prod));
	OK(cuStreamWaitEvent(cons, written, 0));
	OK(cuMemcpyDtoDAsync_v2(out, buf, 64, cons));
	OK(cuStreamSynchronize(cons));
	CHECK(ho[0] == 9 && ho[63] == 9, "after the wait the consumer saw %d", ho[0]);

	/* a wait refers to the record before it: a later record is not waited for */
	OK(cuEventRecord(written, prod));
	OK(cuStreamWaitEvent(cons, written, 0));
	OK(cuMemsetD8Async(buf, 11, 64, prod));
	OK(cuEventRecord(written, prod));
	OK(cuMemcpyDtoDAsync_v2(out, buf, 64, cons));
	OK(cuStreamSynchronize(cons));
	CHECK(ho[0] == 9, "the consumer waited for a record issued after its wait (saw %d)", ho[0]);
	OK(cuEventSynchronize(written));
	CHECK(hb[0] == 11, "cuEventSynchronize did not run the producer (%d)", hb[0]);

	/* an async copy into pinned memory lands only at the sync */
	void *pin;
	OK(cuMemHostAlloc(&pin, 64, CU_MEMHOSTALLOC_PORTABLE));
	OK(cuMemcpyDtoHAsync_v2(pin, buf, 64, cons));
	CHECK(((unsigned char *)pin)[0] == 0xFF, "the copy to pinned memory ran early");
	OK(cuStreamSynchronize(cons));
	CHECK(((unsigned char *)pin)[0] == 11, "the copy to pinned memory did not run");

	/* a pageable source is read at the call; a pageable destination waits */
	unsigned char page[64];
	memset(page, 3, sizeof page);
	OK(cuMemcpyHtoDAsync_v2(out, page, 64, cons));
	memset(page, 4, sizeof page);
	OK(cuStreamSynchronize(cons));
	CHECK(ho[0] == 3, "pageable source read late (%d)", ho[0]);
	memset(page, 0, sizeof page);
	OK(cuMemcpyDtoHAsync_v2(page, buf, 64, cons));
	CHECK(page[0] == 11, "a copy to pageable memory returned before it ran (%d)", page[0]);

	/* the default stream runs at once, after the context's blocking streams */
	CUstream blocking;
	OK(cuStreamCreate(&blocking, 0));
	OK(cuMemsetD8Async(buf, 12, 64, blocking));
	OK(cuMemcpyDtoDAsync_v2(out, buf, 64, NULL));
	CHECK(ho[0] == 12, "the default stream did not order after a blocking stream (%d)", ho[0]);

	/* invalid ranges are refused at the call */
	CHECK_CU(cuMemsetD8Async(buf + 1, 0, 64, cons), CUDA_ERROR_INVALID_VALUE);
	CHECK_CU(cuMemcpyDtoDAsync_v2(out, (CUdeviceptr)(uintptr_t)page, 8, cons), CUDA_ERROR_INVALID_VALUE);

	OK(cuEventDestroy_v2(written));
	OK(cuMemFreeHost(pin));
	OK(cuMemFree_v2(buf));
	OK(cuMemFree_v2(out));
	OK(cuStreamDestroy_v2(prod));
	OK(cuStreamDestroy_v2(cons));
	OK(cuStreamDestroy_v2(blocking));
}

/* Event times come from a virtual clock: 1 µs per copy plus bytes over the
 * link's bandwidth (20 B/ns to and from the host, 500 B/ns on the device). */
static void test_events(void) {
	CUstream s, t;
	OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	OK(cuStreamCreate(&t, CU_STREAM_NON_BLOCKING));
	CUevent a, b, c, never, notime;
	OK(cuEventCreate(&a, 0));
	OK(cuEventCreate(&b, 0));
	OK(cuEventCreate(&c, 0));
	OK(cuEventCreate(&never, 0));
	OK(cuEventCreate(&notime, CU_EVENT_DISABLE_TIMING));
	CUdeviceptr d;
	OK(cuMemAlloc_v2(&d, 1 << 20));
	void *h;
	OK(cuMemHostAlloc(&h, 1 << 20, 0));
	float ms = -1;
	OK(cuEventRecord(a, s));
	OK(cuMemcpyHtoDAsync_v2(d, h, 20000, s)); /* 1000 + 20000/20 = 2000 ns */
	OK(cuMemsetD8Async(d, 0, 500000, s));      /* 1000 + 500000/500 = 2000 ns */
	OK(cuEventRecord(b, s));
	CHECK_CU(cuEventElapsedTime(&ms, a, b), CUDA_ERROR_NOT_READY);
	OK(cuEventSynchronize(b));
	OK(cuEventElapsedTime(&ms, a, b));
	CHECK(fabsf(ms - 0.004f) < 1e-7f, "elapsed %g ms, want 0.004", ms);
	OK(cuEventElapsedTime(&ms, b, a));
	CHECK(fabsf(ms + 0.004f) < 1e-7f, "reversed %g ms, want -0.004", ms);
	CHECK_CU(cuEventElapsedTime(&ms, a, never), CUDA_ERROR_INVALID_HANDLE);
	OK(cuEventRecord(notime, s));
	CHECK_CU(cuEventElapsedTime(&ms, a, notime), CUDA_ERROR_INVALID_HANDLE);
	OK(cuEventSynchronize(never)); /* never recorded: nothing to wait for */

	/* a wait carries the clock across streams: t starts where s's b was */
	OK(cuEventRecord(a, s));
	OK(cuMemcpyHtoDAsync_v2(d, h, 40000, s)); /* 3000 ns */
	OK(cuEventRecord(b, s));
	OK(cuStreamWaitEvent(t, b, 0));
	OK(cuMemcpyDtoDAsync_v2(d + 4096, d, 500, t)); /* 1001 ns */
	OK(cuEventRecord(c, t));
	OK(cuEventSynchronize(c));
	OK(cuEventElapsedTime(&ms, a, c));
	CHECK(fabsf(ms - 0.004001f) < 1e-7f, "across streams %g ms, want 0.004001", ms);

	OK(cuMemFree_v2(d));
	OK(cuMemFreeHost(h));
	CUevent all[] = {a, b, c, never, notime};
	for (int i = 0; i < 5; i++) OK(cuEventDestroy_v2(all[i]));
	OK(cuStreamDestroy_v2(s));
	OK(cuStreamDestroy_v2(t));
}

static int fail_host(CUcontext c, void *arg, char *err, size_t n) {
	snprintf(err, n, "%s", (const char *)arg);
	return 1;
}

static int count_host(CUcontext c, void *arg, char *err, size_t n) {
	(**(int **)arg)++;
	return 0;
}

/* A fault is sticky: the context returns it from every later call, and the
 * ops queued after the fault do not run. */
static void test_sticky_fault(void) {
	OK(cuCtxSetCurrent(ctx[1]));
	CUstream s;
	OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	CUdeviceptr p;
	OK(cuMemAlloc_v2(&p, 256));
	int ran = 0, *rp = &ran;
	emu_lock();
	OK(emu_enqueue_host(ctx[1], s, fail_host, "kernel x: load out of bounds", 29, 10, CUDA_ERROR_ILLEGAL_ADDRESS));
	OK(emu_enqueue_host(ctx[1], s, count_host, &rp, sizeof rp, 10, CUDA_ERROR_LAUNCH_FAILED));
	emu_unlock();
	OK(cuMemsetD8Async(p, 1, 256, s)); /* queued before the fault is known */
	CHECK(ran == 0, "ran early");
	CHECK_CU(cuStreamSynchronize(s), CUDA_ERROR_ILLEGAL_ADDRESS);
	CHECK(ran == 0, "an op after the fault ran");
	CHECK(((unsigned char *)(uintptr_t)p)[0] == 0xFF, "a memset after the fault ran");
	CHECK_CU(cuMemsetD8Async(p, 1, 256, s), CUDA_ERROR_ILLEGAL_ADDRESS);
	CUdeviceptr q;
	CHECK_CU(cuMemAlloc_v2(&q, 256), CUDA_ERROR_ILLEGAL_ADDRESS);
	const char *str = NULL;
	OK(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &str));
	CHECK(str && strstr(str, "GPU 1: kernel x: load out of bounds"), "error string %s", str);
	/* other GPUs are unaffected */
	OK(cuCtxSetCurrent(ctx[0]));
	OK(cuMemAlloc_v2(&q, 256));
	OK(cuMemFree_v2(q));
	/* releasing the last reference destroys the context; a new one is clean */
	OK(cuCtxSetCurrent(ctx[1]));
	CHECK_CU(cuMemFree_v2(p), CUDA_ERROR_ILLEGAL_ADDRESS);
	OK(cuStreamDestroy_v2(s));
	OK(cuDevicePrimaryCtxRelease_v2(1));
	CHECK_CU(cuDevicePrimaryCtxRelease_v2(1), CUDA_ERROR_INVALID_CONTEXT);
	OK(cuDevicePrimaryCtxRetain(&ctx[1], 1));
	OK(cuCtxSetCurrent(ctx[1]));
	OK(cuMemAlloc_v2(&q, 256));
	OK(cuMemFree_v2(q));
	OK(cuCtxSetCurrent(ctx[0]));
}

static void test_modules(void) {
	CUmodule m;
	const char *bad = ".version 7.0\n.target sm_80\n.address_size 64\n.visible .entry k() { frobnicate.b32 %r1; }\n";
	CHECK_CU(cuModuleLoadData(&m, bad), CUDA_ERROR_INVALID_PTX);
	const char *s = NULL;
	OK(cuGetErrorString(CUDA_ERROR_INVALID_PTX, &s));
	CHECK(s && strstr(s, "a PTX JIT compilation failed; cudaemu: ") && strstr(s, "line 4") && strstr(s, "frobnicate"),
	      "message %s", s);
	CHECK_CU(cuLaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_HANDLE);
	/* a fatbin has no code for the emulator (the caller falls back to PTX);
	 * a cubin is refused as an invalid image */
	const unsigned char fatbin[16] = {0x50, 0xED, 0x55, 0xBA, 1, 0, 0x10, 0};
	CHECK_CU(cuModuleLoadData(&m, fatbin), CUDA_ERROR_NO_BINARY_FOR_GPU);
	OK(cuGetErrorName(CUDA_ERROR_NO_BINARY_FOR_GPU, &s));
	CHECK(s && strcmp(s, "CUDA_ERROR_NO_BINARY_FOR_GPU") == 0, "name %s", s);
	const unsigned char cubin[16] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
	CHECK_CU(cuModuleLoadData(&m, cubin), CUDA_ERROR_INVALID_IMAGE);
}

int main(void) {
	setup();
	test_devices();
	test_memory();
	test_peer();
	test_lazy_streams();
	test_events();
	test_sticky_fault();
	test_modules();
	DONE();
}
