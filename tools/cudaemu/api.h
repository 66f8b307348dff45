/*
 * api.h - the entry points libcudaemu.so exports, as CUDA's, cuBLAS's and
 * NVML's headers declare them (the subset Ember calls), plus the emulator's
 * own cudaemuLiveObjects. driver.c, cublas.c and nvml.c include it so the
 * compiler checks each definition against its declaration.
 */
#ifndef CUDAEMU_API_H
#define CUDAEMU_API_H

#include "emu.h"

/* driver */
EMU_API CUresult cuInit(unsigned flags);
EMU_API CUresult cuDriverGetVersion(int *v);
EMU_API CUresult cuDeviceGetCount(int *n);
EMU_API CUresult cuDeviceGet(CUdevice *d, int ordinal);
EMU_API CUresult cuDeviceGetName(char *name, int len, CUdevice d);
EMU_API CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d);
EMU_API CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d);
EMU_API CUresult cuDeviceCanAccessPeer(int *can, CUdevice d, CUdevice peer);
EMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d);
EMU_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d);
EMU_API CUresult cuCtxSetCurrent(CUcontext c);
EMU_API CUresult cuCtxEnablePeerAccess(CUcontext peer, unsigned flags);
EMU_API CUresult cuMemGetInfo_v2(size_t *free_, size_t *total);
EMU_API CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes);
EMU_API CUresult cuMemFree_v2(CUdeviceptr p);
EMU_API CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned flags);
EMU_API CUresult cuMemFreeHost(void *p);
EMU_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s);
EMU_API CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s);
EMU_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s);
EMU_API CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n,
                                   CUstream s);
EMU_API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s);
EMU_API CUresult cuStreamCreate(CUstream *s, unsigned flags);
EMU_API CUresult cuStreamDestroy_v2(CUstream s);
EMU_API CUresult cuStreamSynchronize(CUstream s);
EMU_API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned flags);
EMU_API CUresult cuEventCreate(CUevent *e, unsigned flags);
EMU_API CUresult cuEventDestroy_v2(CUevent e);
EMU_API CUresult cuEventRecord(CUevent e, CUstream s);
EMU_API CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned flags);
EMU_API CUresult cuEventSynchronize(CUevent e);
EMU_API CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b);
EMU_API CUresult cuModuleLoadData(CUmodule *m, const void *image);
EMU_API CUresult cuModuleUnload(CUmodule m);
EMU_API CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name);
EMU_API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                unsigned bz, unsigned shmem, CUstream s, void **params, void **extra);
EMU_API CUresult cuGetErrorName(CUresult r, const char **s);
EMU_API CUresult cuGetErrorString(CUresult r, const char **s);
EMU_API CUresult cuStreamBeginCapture_v2(CUstream s, int mode);
EMU_API CUresult cuStreamEndCapture(CUstream s, CUgraph *g);
EMU_API CUresult cuGraphInstantiateWithFlags(CUgraphExec *x, CUgraph g, unsigned long long flags);
EMU_API CUresult cuGraphLaunch(CUgraphExec x, CUstream s);
EMU_API CUresult cuGraphExecDestroy(CUgraphExec x);
EMU_API CUresult cuGraphDestroy(CUgraph g);
EMU_API void cudaemuLiveObjects(int *dev, int *host, int *graphs, int *execs);

/* cuBLAS */
typedef struct cublasContext *cublasHandle_t;
EMU_API int cublasCreate_v2(cublasHandle_t *h);
EMU_API int cublasDestroy_v2(cublasHandle_t h);
EMU_API int cublasSetStream_v2(cublasHandle_t h, CUstream s);
EMU_API int cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes);
EMU_API int cublasSetMathMode(cublasHandle_t h, int mode);
EMU_API int cublasGetVersion_v2(cublasHandle_t h, int *v);
EMU_API int cublasGemmEx(cublasHandle_t h, int transa, int transb, int m, int n, int k, const void *alpha,
                         const void *A, int atype, int lda, const void *B, int btype, int ldb, const void *beta,
                         void *C, int ctype, int ldc, int compute, int algo);

/* NVML */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	char busIdLegacy[16];
	unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;
typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;
EMU_API int nvmlInit_v2(void);
EMU_API int nvmlShutdown(void);
EMU_API const char *nvmlErrorString(int r);
EMU_API int nvmlSystemGetDriverVersion(char *v, unsigned len);
EMU_API int nvmlSystemGetCudaDriverVersion(int *v);
EMU_API int nvmlDeviceGetCount_v2(unsigned *n);
EMU_API int nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d);
EMU_API int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned len);
EMU_API int nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned len);
EMU_API int nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p);
EMU_API int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);
EMU_API int nvmlDeviceGetP2PStatus(nvmlDevice_t a, nvmlDevice_t b, int index, int *status);
EMU_API int nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t a, nvmlDevice_t b, int *level);

#endif
