// shim.c: the CUDA driver and cuBLAS, opened with dlopen at run time so that
// Ember builds with gcc alone and runs (on the CPU) where neither exists.
#include "shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define CU_STREAM_NON_BLOCKING 1
#define CU_STREAM_CAPTURE_MODE_THREAD_LOCAL 1
#define CU_EVENT_RECORD_EXTERNAL 1
#define CUDA_ERROR_NOT_SUPPORTED 801

// ----------------------------------------------------------------------------
// the driver's entry points

static struct {
    CUresult (*Init)(unsigned);
    CUresult (*DriverGetVersion)(int*);
    CUresult (*DeviceGetCount)(int*);
    CUresult (*DeviceGet)(CUdevice*, int);
    CUresult (*DeviceGetName)(char*, int, CUdevice);
    CUresult (*DeviceGetAttribute)(int*, int, CUdevice);
    CUresult (*DeviceTotalMem)(size_t*, CUdevice);
    CUresult (*DeviceCanAccessPeer)(int*, CUdevice, CUdevice);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext*, CUdevice);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxEnablePeerAccess)(CUcontext, unsigned);
    CUresult (*MemGetInfo)(size_t*, size_t*);
    CUresult (*MemAlloc)(CUdeviceptr*, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemHostAlloc)(void**, size_t, unsigned);
    CUresult (*MemFreeHost)(void*);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream);
    CUresult (*MemcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream);
    CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*MemcpyPeerAsync)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t, CUstream);
    CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
    CUresult (*StreamCreate)(CUstream*, unsigned);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*StreamWaitEvent)(CUstream, CUevent, unsigned);
    CUresult (*EventCreate)(CUevent*, unsigned);
    CUresult (*EventDestroy)(CUevent);
    CUresult (*EventRecord)(CUevent, CUstream);
    CUresult (*EventSynchronize)(CUevent);
    CUresult (*EventElapsedTime)(float*, CUevent, CUevent);
    CUresult (*ModuleLoadData)(CUmodule*, const void*);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction*, CUmodule, const char*);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void**, void**);
    CUresult (*GetErrorName)(CUresult, const char**);
    CUresult (*GetErrorString)(CUresult, const char**);
    // optional: graphs (CUDA 11.4+); without them decode runs plain launches
    CUresult (*EventRecordWithFlags)(CUevent, CUstream, unsigned);
    CUresult (*StreamBeginCapture)(CUstream, int);
    CUresult (*StreamEndCapture)(CUstream, CUgraph*);
    CUresult (*GraphInstantiateWithFlags)(CUgraphExec*, CUgraph, unsigned long long);
    CUresult (*GraphLaunch)(CUgraphExec, CUstream);
    CUresult (*GraphExecDestroy)(CUgraphExec);
    CUresult (*GraphDestroy)(CUgraph);
} cu;

static struct {
    int (*Create)(cublasHandle_t*);
    int (*Destroy)(cublasHandle_t);
    int (*SetStream)(cublasHandle_t, CUstream);
    int (*SetWorkspace)(cublasHandle_t, void*, size_t);
    int (*SetMathMode)(cublasHandle_t, int);
    int (*GetVersion)(cublasHandle_t, int*);
    int (*GemmEx)(cublasHandle_t, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                  const void*, void*, int, int, int, int);
} blas;

typedef struct {
    void** slot;
    const char* name;
    int optional;
} sym;

static int resolve(void* h, const sym* syms, int n, const char* lib, char* err, int errlen) {
    for (int i = 0; i < n; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot && !syms[i].optional) {
            snprintf(err, errlen, "%s has no %s", lib, syms[i].name);
            return -1;
        }
    }
    return 0;
}

#define S(f, name) {(void**)&cu.f, name, 0}
#define O(f, name) {(void**)&cu.f, name, 1}

int ember_cuda_load(const char* path, char* err, int errlen) {
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        snprintf(err, errlen, "%s", e ? e : "dlopen failed");
        return -1;
    }
    const sym syms[] = {
        S(Init, "cuInit"),
        S(DriverGetVersion, "cuDriverGetVersion"),
        S(DeviceGetCount, "cuDeviceGetCount"),
        S(DeviceGet, "cuDeviceGet"),
        S(DeviceGetName, "cuDeviceGetName"),
        S(DeviceGetAttribute, "cuDeviceGetAttribute"),
        S(DeviceTotalMem, "cuDeviceTotalMem_v2"),
        S(DeviceCanAccessPeer, "cuDeviceCanAccessPeer"),
        S(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
        S(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
        S(CtxSetCurrent, "cuCtxSetCurrent"),
        S(CtxEnablePeerAccess, "cuCtxEnablePeerAccess"),
        S(MemGetInfo, "cuMemGetInfo_v2"),
        S(MemAlloc, "cuMemAlloc_v2"),
        S(MemFree, "cuMemFree_v2"),
        S(MemHostAlloc, "cuMemHostAlloc"),
        S(MemFreeHost, "cuMemFreeHost"),
        S(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
        S(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
        S(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
        S(MemcpyPeerAsync, "cuMemcpyPeerAsync"),
        S(MemsetD8Async, "cuMemsetD8Async"),
        S(StreamCreate, "cuStreamCreate"),
        S(StreamDestroy, "cuStreamDestroy_v2"),
        S(StreamSynchronize, "cuStreamSynchronize"),
        S(StreamWaitEvent, "cuStreamWaitEvent"),
        S(EventCreate, "cuEventCreate"),
        S(EventDestroy, "cuEventDestroy_v2"),
        S(EventRecord, "cuEventRecord"),
        S(EventSynchronize, "cuEventSynchronize"),
        S(EventElapsedTime, "cuEventElapsedTime"),
        S(ModuleLoadData, "cuModuleLoadData"),
        S(ModuleUnload, "cuModuleUnload"),
        S(ModuleGetFunction, "cuModuleGetFunction"),
        S(LaunchKernel, "cuLaunchKernel"),
        S(GetErrorName, "cuGetErrorName"),
        S(GetErrorString, "cuGetErrorString"),
        O(EventRecordWithFlags, "cuEventRecordWithFlags"),
        O(StreamBeginCapture, "cuStreamBeginCapture_v2"),
        O(StreamEndCapture, "cuStreamEndCapture"),
        O(GraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"),
        O(GraphLaunch, "cuGraphLaunch"),
        O(GraphExecDestroy, "cuGraphExecDestroy"),
        O(GraphDestroy, "cuGraphDestroy"),
    };
    if (resolve(h, syms, sizeof syms / sizeof syms[0], path, err, errlen) != 0) {
        memset(&cu, 0, sizeof cu);
        dlclose(h);
        return -1;
    }
    return 0; // the handle stays open for the life of the process
}

#undef S
#undef O
#define S(f, name) {(void**)&blas.f, name, 0}

int ember_cublas_load(const char* path, char* err, int errlen) {
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        snprintf(err, errlen, "%s", e ? e : "dlopen failed");
        return -1;
    }
    const sym syms[] = {
        S(Create, "cublasCreate_v2"),
        S(Destroy, "cublasDestroy_v2"),
        S(SetStream, "cublasSetStream_v2"),
        S(SetWorkspace, "cublasSetWorkspace_v2"),
        S(SetMathMode, "cublasSetMathMode"),
        S(GetVersion, "cublasGetVersion_v2"),
        S(GemmEx, "cublasGemmEx"),
    };
    if (resolve(h, syms, sizeof syms / sizeof syms[0], path, err, errlen) != 0) {
        memset(&blas, 0, sizeof blas);
        dlclose(h);
        return -1;
    }
    return 0;
}

int ember_cuda_has(const char* what) {
    if (strcmp(what, "graphs") == 0)
        return cu.EventRecordWithFlags && cu.StreamBeginCapture && cu.StreamEndCapture &&
               cu.GraphInstantiateWithFlags && cu.GraphLaunch && cu.GraphExecDestroy && cu.GraphDestroy;
    return 0;
}

const char* ember_cu_error_name(CUresult r) {
    const char* s = NULL;
    if (cu.GetErrorName) cu.GetErrorName(r, &s);
    return s ? s : "CUDA_ERROR_UNKNOWN";
}

const char* ember_cu_error_string(CUresult r) {
    const char* s = NULL;
    if (cu.GetErrorString) cu.GetErrorString(r, &s);
    return s ? s : "unknown error";
}

// ----------------------------------------------------------------------------
// wrappers

#define CTX(c)                           \
    do {                                 \
        CUresult r_ = cu.CtxSetCurrent(c); \
        if (r_) return r_;               \
    } while (0)

CUresult ember_init(void) { return cu.Init(0); }
CUresult ember_driver_version(int* v) { return cu.DriverGetVersion(v); }
CUresult ember_device_count(int* n) { return cu.DeviceGetCount(n); }
CUresult ember_device_get(CUdevice* d, int ordinal) { return cu.DeviceGet(d, ordinal); }
CUresult ember_device_name(char* name, int len, CUdevice d) { return cu.DeviceGetName(name, len, d); }
CUresult ember_device_attribute(int* v, int attr, CUdevice d) { return cu.DeviceGetAttribute(v, attr, d); }
CUresult ember_device_total_mem(size_t* bytes, CUdevice d) { return cu.DeviceTotalMem(bytes, d); }
CUresult ember_can_access_peer(int* can, CUdevice d, CUdevice peer) { return cu.DeviceCanAccessPeer(can, d, peer); }
CUresult ember_primary_ctx_retain(CUcontext* ctx, CUdevice d) { return cu.DevicePrimaryCtxRetain(ctx, d); }
CUresult ember_primary_ctx_release(CUdevice d) { return cu.DevicePrimaryCtxRelease(d); }

CUresult ember_enable_peer(CUcontext ctx, CUcontext peer) {
    CTX(ctx);
    return cu.CtxEnablePeerAccess(peer, 0);
}

CUresult ember_mem_info(CUcontext ctx, size_t* free, size_t* total) {
    CTX(ctx);
    return cu.MemGetInfo(free, total);
}

CUresult ember_mem_alloc(CUcontext ctx, CUdeviceptr* p, size_t bytes) {
    CTX(ctx);
    return cu.MemAlloc(p, bytes);
}

CUresult ember_mem_free(CUcontext ctx, CUdeviceptr p) {
    CTX(ctx);
    return cu.MemFree(p);
}

// Pinned host memory is allocated portable: a staged copy between two GPUs
// uses it from both contexts.
CUresult ember_host_alloc(CUcontext ctx, void** p, size_t bytes) {
    CTX(ctx);
    return cu.MemHostAlloc(p, bytes, 1 /* CU_MEMHOSTALLOC_PORTABLE */);
}

CUresult ember_host_free(CUcontext ctx, void* p) {
    CTX(ctx);
    return cu.MemFreeHost(p);
}

CUresult ember_stream_create(CUcontext ctx, CUstream* s) {
    CTX(ctx);
    return cu.StreamCreate(s, CU_STREAM_NON_BLOCKING);
}

CUresult ember_stream_destroy(CUcontext ctx, CUstream s) {
    CTX(ctx);
    return cu.StreamDestroy(s);
}

CUresult ember_stream_sync(CUcontext ctx, CUstream s) {
    CTX(ctx);
    return cu.StreamSynchronize(s);
}

CUresult ember_event_create(CUcontext ctx, unsigned long long* e) {
    CTX(ctx);
    CUevent ev = NULL;
    CUresult r = cu.EventCreate(&ev, 0);
    *e = (unsigned long long)ev;
    return r;
}

CUresult ember_event_destroy(CUcontext ctx, unsigned long long e) {
    CTX(ctx);
    return cu.EventDestroy((CUevent)e);
}

CUresult ember_event_sync(CUcontext ctx, unsigned long long e) {
    CTX(ctx);
    return cu.EventSynchronize((CUevent)e);
}

CUresult ember_event_elapsed(CUcontext ctx, float* ms, unsigned long long a, unsigned long long b) {
    CTX(ctx);
    return cu.EventElapsedTime(ms, (CUevent)a, (CUevent)b);
}

CUresult ember_module_load(CUcontext ctx, CUmodule* m, const void* image) {
    CTX(ctx);
    return cu.ModuleLoadData(m, image);
}

CUresult ember_module_unload(CUcontext ctx, CUmodule m) {
    CTX(ctx);
    return cu.ModuleUnload(m);
}

CUresult ember_module_function(CUcontext ctx, CUfunction* f, CUmodule m, const char* name) {
    CTX(ctx);
    return cu.ModuleGetFunction(f, m, name);
}

// ----------------------------------------------------------------------------
// batches

static int run_ops(CUstream s, const ember_op* ops, int n, const unsigned char* blob, const unsigned int* offs,
                   int* failed_at) {
    void* params[EMBER_MAX_ARGS];
    for (int i = 0; i < n; i++) {
        const ember_op* o = &ops[i];
        int r = 0;
        *failed_at = i;
        switch (o->kind) {
        case EMBER_OP_KERNEL:
            if (o->argc > EMBER_MAX_ARGS) return CUDA_ERROR_NOT_SUPPORTED;
            for (unsigned j = 0; j < o->argc; j++) params[j] = (void*)(blob + o->args_off + offs[o->offs_off + j]);
            r = cu.LaunchKernel((CUfunction)o->fn, o->grid[0], o->grid[1], o->grid[2], o->block[0], o->block[1],
                                o->block[2], o->shmem, s, params, NULL);
            break;
        case EMBER_OP_EVENT:
            r = cu.EventRecord((CUevent)o->ev, s);
            break;
        case EMBER_OP_EVENT_EXT:
            if (!cu.EventRecordWithFlags) return CUDA_ERROR_NOT_SUPPORTED;
            r = cu.EventRecordWithFlags((CUevent)o->ev, s, CU_EVENT_RECORD_EXTERNAL);
            break;
        case EMBER_OP_WAIT:
            r = cu.StreamWaitEvent(s, (CUevent)o->ev, 0);
            break;
        case EMBER_OP_GEMM:
            r = blas.GemmEx((cublasHandle_t)o->handle, o->transa, o->transb, o->m, o->n, o->k, &o->alpha,
                            (const void*)o->src, o->atype, o->lda, (const void*)o->src2, o->btype, o->ldb, &o->beta,
                            (void*)o->dst, o->ctype, o->ldc, o->compute, -1 /* CUBLAS_GEMM_DEFAULT */);
            if (r) r += EMBER_CUBLAS_STATUS;
            break;
        case EMBER_OP_H2D:
            r = cu.MemcpyHtoDAsync(o->dst, (const void*)o->host, o->bytes, s);
            break;
        case EMBER_OP_D2H:
            r = cu.MemcpyDtoHAsync((void*)o->host, o->src, o->bytes, s);
            break;
        case EMBER_OP_D2D:
            r = cu.MemcpyDtoDAsync(o->dst, o->src, o->bytes, s);
            break;
        case EMBER_OP_MEMSET:
            r = cu.MemsetD8Async(o->dst, 0, o->bytes, s);
            break;
        case EMBER_OP_PEER:
            r = cu.MemcpyPeerAsync(o->dst, (CUcontext)o->dctx, o->src, (CUcontext)o->sctx, o->bytes, s);
            break;
        default:
            return CUDA_ERROR_NOT_SUPPORTED;
        }
        if (r) return r;
    }
    *failed_at = -1;
    return 0;
}

int ember_run(CUcontext ctx, CUstream s, const ember_op* ops, int n, const unsigned char* blob,
              const unsigned int* offs, int* failed_at) {
    *failed_at = -1;
    CTX(ctx);
    return run_ops(s, ops, n, blob, offs, failed_at);
}

int ember_capture(CUcontext ctx, CUstream s, const ember_op* ops, int n, const unsigned char* blob,
                  const unsigned int* offs, unsigned long long* exec, int* failed_at) {
    *failed_at = -1;
    *exec = 0;
    if (!ember_cuda_has("graphs")) return CUDA_ERROR_NOT_SUPPORTED;
    CTX(ctx);
    CUresult r = cu.StreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    if (r) return r;
    int rr = run_ops(s, ops, n, blob, offs, failed_at);
    CUgraph g = NULL;
    r = cu.StreamEndCapture(s, &g); // always end the capture, even after a failed launch
    if (rr || r) {
        if (g) cu.GraphDestroy(g);
        return rr ? rr : r;
    }
    CUgraphExec ge = NULL;
    r = cu.GraphInstantiateWithFlags(&ge, g, 0);
    cu.GraphDestroy(g);
    *exec = (unsigned long long)ge;
    return r;
}

CUresult ember_graph_launch(CUcontext ctx, unsigned long long g, CUstream s) {
    CTX(ctx);
    return cu.GraphLaunch((CUgraphExec)g, s);
}

CUresult ember_graph_destroy(CUcontext ctx, unsigned long long g) {
    CTX(ctx);
    return cu.GraphExecDestroy((CUgraphExec)g);
}

// ----------------------------------------------------------------------------
// cuBLAS

int ember_cublas_create(CUcontext ctx, cublasHandle_t* h, CUstream s, CUdeviceptr workspace, size_t ws_bytes) {
    CTX(ctx);
    int r = blas.Create(h);
    if (r) return EMBER_CUBLAS_STATUS + r;
    if ((r = blas.SetStream(*h, s)) || (r = blas.SetWorkspace(*h, (void*)workspace, ws_bytes)) ||
        (r = blas.SetMathMode(*h, 0 /* CUBLAS_DEFAULT_MATH */))) {
        blas.Destroy(*h);
        *h = NULL;
        return EMBER_CUBLAS_STATUS + r;
    }
    return 0;
}

int ember_cublas_destroy(CUcontext ctx, cublasHandle_t h) {
    CTX(ctx);
    int r = blas.Destroy(h);
    return r ? EMBER_CUBLAS_STATUS + r : 0;
}

int ember_cublas_version(CUcontext ctx, cublasHandle_t h, int* v) {
    CTX(ctx);
    int r = blas.GetVersion(h, v);
    return r ? EMBER_CUBLAS_STATUS + r : 0;
}
