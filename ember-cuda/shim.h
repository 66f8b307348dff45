// shim.h: the few CUDA driver and cuBLAS types Ember uses, declared here so
// that building needs no CUDA headers, and the shim functions cgo calls. The
// libraries are opened with dlopen at run time (shim.c).
#ifndef EMBER_SHIM_H
#define EMBER_SHIM_H

#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st* CUcontext;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUgraph_st* CUgraph;
typedef struct CUgraphExec_st* CUgraphExec;
typedef struct cublasContext* cublasHandle_t;

// Status codes the shim itself returns: a cuBLAS status s comes back as
// EMBER_CUBLAS_STATUS + s so that one int carries both libraries' errors.
#define EMBER_CUBLAS_STATUS 100000

// The kinds of ember_op.
enum {
    EMBER_OP_KERNEL = 0,   // cuLaunchKernel
    EMBER_OP_EVENT = 1,    // cuEventRecord
    EMBER_OP_EVENT_EXT = 2,// cuEventRecordWithFlags(EXTERNAL): a timing mark kept by graph capture
    EMBER_OP_WAIT = 3,     // cuStreamWaitEvent
    EMBER_OP_GEMM = 4,     // cublasGemmEx
    EMBER_OP_H2D = 5,      // cuMemcpyHtoDAsync from pinned host memory
    EMBER_OP_D2H = 6,      // cuMemcpyDtoHAsync into pinned host memory
    EMBER_OP_D2D = 7,      // cuMemcpyDtoDAsync
    EMBER_OP_MEMSET = 8,   // cuMemsetD8Async to zero
    EMBER_OP_PEER = 9      // cuMemcpyPeerAsync (dst in ctx, src in ctx2)
};

#define EMBER_MAX_ARGS 24

// ember_op is one entry of a batch issued on one stream by ember_run or
// ember_capture. Kernel arguments live in a separate byte blob: argument j of
// a kernel op is at blob + args_off + offs[offs_off + j].
typedef struct {
    int kind;
    unsigned int argc, args_off, offs_off;
    unsigned int grid[3], block[3], shmem;
    unsigned long long fn;    // CUfunction
    unsigned long long ev;    // CUevent
    unsigned long long dst, src, src2, bytes, host; // src2: GEMM's B
    unsigned long long dctx, sctx;                  // PEER: the contexts of dst and src
    // GEMM (column-major, cuBLAS's view)
    unsigned long long handle;
    int transa, transb, m, n, k, lda, ldb, ldc;
    int atype, btype, ctype, compute;
    float alpha, beta;
} ember_op;

// Loading. Each returns 0 or -1 with a one-line reason in err.
int ember_cuda_load(const char* path, char* err, int errlen);
int ember_cublas_load(const char* path, char* err, int errlen);
int ember_cuda_has(const char* what); // optional symbols: "graphs"

const char* ember_cu_error_name(CUresult r);
const char* ember_cu_error_string(CUresult r);

// Driver wrappers; those taking a context make it current first, inside the
// same C call, so a goroutine moving between threads never runs a call
// without it. Events and graphs travel as integers (Go keeps no C pointers).
CUresult ember_init(void);
CUresult ember_driver_version(int* v);
CUresult ember_device_count(int* n);
CUresult ember_device_get(CUdevice* d, int ordinal);
CUresult ember_device_name(char* name, int len, CUdevice d);
CUresult ember_device_attribute(int* v, int attr, CUdevice d);
CUresult ember_device_total_mem(size_t* bytes, CUdevice d);
CUresult ember_can_access_peer(int* can, CUdevice d, CUdevice peer);
CUresult ember_primary_ctx_retain(CUcontext* ctx, CUdevice d);
CUresult ember_primary_ctx_release(CUdevice d);
CUresult ember_enable_peer(CUcontext ctx, CUcontext peer);
CUresult ember_mem_info(CUcontext ctx, size_t* free, size_t* total);
CUresult ember_mem_alloc(CUcontext ctx, CUdeviceptr* p, size_t bytes);
CUresult ember_mem_free(CUcontext ctx, CUdeviceptr p);
CUresult ember_host_alloc(CUcontext ctx, void** p, size_t bytes);
CUresult ember_host_free(CUcontext ctx, void* p);
CUresult ember_stream_create(CUcontext ctx, CUstream* s);
CUresult ember_stream_destroy(CUcontext ctx, CUstream s);
CUresult ember_stream_sync(CUcontext ctx, CUstream s);
CUresult ember_event_create(CUcontext ctx, unsigned long long* e);
CUresult ember_event_destroy(CUcontext ctx, unsigned long long e);
CUresult ember_event_sync(CUcontext ctx, unsigned long long e);
CUresult ember_event_elapsed(CUcontext ctx, float* ms, unsigned long long a, unsigned long long b);
CUresult ember_module_load(CUcontext ctx, CUmodule* m, const void* image);
CUresult ember_module_unload(CUcontext ctx, CUmodule m);
CUresult ember_module_function(CUcontext ctx, CUfunction* f, CUmodule m, const char* name);

// Batches: ops run in order on stream s. On failure *failed_at is the index
// of the op that failed (-1: before any op).
int ember_run(CUcontext ctx, CUstream s, const ember_op* ops, int n, const unsigned char* blob,
              const unsigned int* offs, int* failed_at);
// ember_capture records the batch into a CUDA graph (thread-local capture
// mode) and instantiates it; the ops are not executed.
int ember_capture(CUcontext ctx, CUstream s, const ember_op* ops, int n, const unsigned char* blob,
                  const unsigned int* offs, unsigned long long* exec, int* failed_at);
CUresult ember_graph_launch(CUcontext ctx, unsigned long long g, CUstream s);
CUresult ember_graph_destroy(CUcontext ctx, unsigned long long g);

// cuBLAS
int ember_cublas_create(CUcontext ctx, cublasHandle_t* h, CUstream s, CUdeviceptr workspace, size_t ws_bytes);
int ember_cublas_destroy(CUcontext ctx, cublasHandle_t h);
int ember_cublas_version(CUcontext ctx, cublasHandle_t h, int* v);

#endif
