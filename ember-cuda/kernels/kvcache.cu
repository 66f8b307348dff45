// kvcache.cu: appending a chunk's keys and values (f32) to a layer's caches,
// narrowing to the cache's storage type with round to nearest even.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// One thread per element of k (and the same element of v). The first row
// written is start (or *start_ptr inside a captured graph).
template <typename T>
__device__ void kv_append(T* kc, T* vc, const float* k, const float* v, int n, int kv_dim, int start, const int* start_ptr) {
    const long off = (long)start_of(start, start_ptr) * kv_dim;
    const long total = (long)n * kv_dim;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        st(kc, off + i, k[i]);
        st(vc, off + i, v[i]);
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches 256-thread blocks over n·kv_dim elements.

extern "C" __global__ void kv_append_f32(float* kc, float* vc, const float* k, const float* v, int n, int kv_dim, int start, const int* start_ptr) { kv_append(kc, vc, k, v, n, kv_dim, start, start_ptr); }
extern "C" __global__ void kv_append_bf16(bf16* kc, bf16* vc, const float* k, const float* v, int n, int kv_dim, int start, const int* start_ptr) { kv_append(kc, vc, k, v, n, kv_dim, start, start_ptr); }
extern "C" __global__ void kv_append_f16(fp16* kc, fp16* vc, const float* k, const float* v, int n, int kv_dim, int start, const int* start_ptr) { kv_append(kc, vc, k, v, n, kv_dim, start, start_ptr); }
