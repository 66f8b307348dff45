// common.cuh: what every Ember kernel file shares: storage types, conversion
// to and from f32, warp and block reductions, and the device error flags.
//
// Storage may be f32, bf16 or fp16; all arithmetic is f32. Kernels are
// instantiated per storage type behind extern "C" names (foo_f32, foo_bf16,
// foo_f16) so that the Go side can look them up by name in the PTX.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <float.h>

typedef __nv_bfloat16 bf16;
typedef __half fp16;

// Error flags a kernel may raise; the host reads them at the next Sync or
// Download, since a kernel cannot return an error.
#define EMBER_ERR_EMBEDDING_ID 1

// ----------------------------------------------------------------------------
// loads and stores

__device__ __forceinline__ float ld(const float* p, long i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, long i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float ld(const fp16* p, long i) { return __half2float(p[i]); }

// Stores round to nearest even, as the CPU backend narrows.
__device__ __forceinline__ void st(float* p, long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, long i, float v) { p[i] = __float2bfloat16_rn(v); }
__device__ __forceinline__ void st(fp16* p, long i, float v) { p[i] = __float2half_rn(v); }

// ----------------------------------------------------------------------------
// reductions

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// block_sum returns the sum of v over the block to every thread. The block
// size must be a multiple of 32 and at most 1024. shared must hold 32 floats;
// it may be reused after the call (the trailing barrier protects it).
__device__ __forceinline__ float block_sum(float v, float* shared) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

// start_of resolves a position argument: a captured CUDA graph reads it from
// device memory (start_ptr) so one graph serves every step of a bucket; plain
// launches pass it by value and start_ptr is null.
__device__ __forceinline__ int start_of(int start, const int* start_ptr) {
    return start_ptr ? *start_ptr : start;
}

// widen16 widens sixteen bytes from one 16-byte load (8 bf16/fp16 or 4 f32
// values) to f32: the GEMV's weights, decode attention's cache rows.
__device__ __forceinline__ void widen16(const uint4& u, const float*, float* f) {
    f[0] = __uint_as_float(u.x);
    f[1] = __uint_as_float(u.y);
    f[2] = __uint_as_float(u.z);
    f[3] = __uint_as_float(u.w);
}
__device__ __forceinline__ void widen16(const uint4& u, const bf16*, float* f) {
    const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 v = __bfloat1622float2(p[i]);
        f[2 * i] = v.x;
        f[2 * i + 1] = v.y;
    }
}
__device__ __forceinline__ void widen16(const uint4& u, const fp16*, float* f) {
    const __half2* p = reinterpret_cast<const __half2*>(&u);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 v = __half22float2(p[i]);
        f[2 * i] = v.x;
        f[2 * i + 1] = v.y;
    }
}
