/*
 * emu.h - what cudaemu's three fake libraries share: the CUDA driver
 * (driver.c), cuBLAS (cublas.c) and NVML (nvml.c) are one shared object,
 * libcudaemu.so, opened under the names libcuda.so.1, libcublas.so.1x and
 * libnvidia-ml.so.1, so they see one set of emulated GPUs.
 *
 * Everything runs under one lock (emu_lock): streams are lazy, and the work
 * queued on them runs on whichever thread waits for it, one op at a time.
 */
#ifndef CUDAEMU_EMU_H
#define CUDAEMU_EMU_H

#include <stddef.h>
#include <stdint.h>

#define EMU_API __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

/* The CUresult codes the emulator returns (cuda.h). */
enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
	CUDA_ERROR_PEER_ACCESS_UNSUPPORTED = 217,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_ILLEGAL_STATE = 401,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
	CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704,
	CUDA_ERROR_MISALIGNED_ADDRESS = 716,
	CUDA_ERROR_LAUNCH_FAILED = 719,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
	CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
	CUDA_ERROR_STREAM_CAPTURE_MERGE = 902,
	CUDA_ERROR_STREAM_CAPTURE_UNMATCHED = 903,
	CUDA_ERROR_STREAM_CAPTURE_ISOLATION = 905,
	CUDA_ERROR_CAPTURED_EVENT = 907,
	CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
	CUDA_ERROR_UNKNOWN = 999,
};

/* Stream capture modes (CUstreamCaptureMode) and event flags. */
enum { CU_STREAM_CAPTURE_MODE_GLOBAL = 0, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
       CU_STREAM_CAPTURE_MODE_RELAXED = 2 };
#define CU_EVENT_DISABLE_TIMING 0x2
#define CU_EVENT_RECORD_EXTERNAL 0x1
#define CU_STREAM_NON_BLOCKING 0x1
#define CU_MEMHOSTALLOC_PORTABLE 0x1

void emu_lock(void);
void emu_unlock(void);

/* emu_fail records detail for code (cuGetErrorString appends the latest
 * one) and returns code. */
CUresult emu_fail(CUresult code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* emu_current is the calling thread's context, or NULL. */
CUcontext emu_current(void);
/* emu_ctx_device is the ordinal of ctx's GPU. */
int emu_ctx_device(CUcontext ctx);
/* emu_stream_ctx checks that s (NULL: ctx's default stream) belongs to ctx. */
CUresult emu_stream_check(CUcontext ctx, CUstream s);

/* emu_check_range: 0 when [addr, addr+n) lies in memory ctx's kernels may
 * touch (its GPU's memory, peer memory with access enabled, pinned host
 * memory, its modules' globals); otherwise nonzero with one sentence. */
int emu_check_range(CUcontext ctx, uint64_t addr, uint64_t n, int write, char *msg, size_t msglen);

/* A host op runs on a stream in order, like a kernel: run gets its own copy
 * of arg (argsize bytes) and returns 0 or a fault sentence in err (then the
 * context faults with code). cost_ns advances the stream's virtual clock. */
typedef int (*emu_host_fn)(CUcontext ctx, void *arg, char *err, size_t errlen);
CUresult emu_enqueue_host(CUcontext ctx, CUstream s, emu_host_fn run, const void *arg, size_t argsize,
                          double cost_ns, CUresult code);

/* emu_gpu_count, emu_gpu_info: the emulated GPUs, for NVML (valid after
 * emu_config). */
void emu_config(void);
int emu_gpu_count(void);
void emu_gpu_info(int ordinal, char *name, size_t namelen, uint64_t *total, uint64_t *used);
int emu_gpu_peer_possible(int a, int b);

#endif
