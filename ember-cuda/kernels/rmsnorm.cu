// rmsnorm.cu: RMSNorm over rows, the fused residual add + RMSNorm, and the
// per-head RMSNorm Qwen3 applies to q and k (q_norm, k_norm).
//
// All three compute scale = 1/sqrt(mean(x²) + eps) in f32 and write
// (x · scale) · w, the order of the products the CPU reference and Hugging
// Face use, so that results differ from the reference only by the order of
// the sum of squares.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// One block per row. out may alias x: each thread rewrites only the elements
// it read itself.
template <typename W>
__device__ void rmsnorm(float* out, const float* x, const W* w, int d, float eps) {
    __shared__ float shared[32];
    const long row = blockIdx.x;
    const float* xr = x + row * d;
    float* orow = out + row * d;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const float v = xr[j];
        ss += v * v;
    }
    ss = block_sum(ss, shared);
    const float scale = 1.0f / sqrtf(ss / (float)d + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) orow[j] = (xr[j] * scale) * ld(w, j);
}

// x += r, then out = rmsnorm(x) · w: the residual add and the next norm in one
// pass over the row. Each thread adds, stores and later rereads the same
// elements, so the second pass needs no barrier beyond the reduction's.
template <typename W>
__device__ void add_rmsnorm(float* out, float* x, const float* r, const W* w, int d, float eps) {
    __shared__ float shared[32];
    const long row = blockIdx.x;
    float* xr = x + row * d;
    const float* rr = r + row * d;
    float* orow = out + row * d;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const float v = xr[j] + rr[j];
        xr[j] = v;
        ss += v * v;
    }
    ss = block_sum(ss, shared);
    const float scale = 1.0f / sqrtf(ss / (float)d + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) orow[j] = (xr[j] * scale) * ld(w, j);
}

// One warp per head slice of hd values, in place; slices is rows × heads.
template <typename W>
__device__ void head_rmsnorm(float* x, const W* w, long slices, int hd, float eps) {
    const long slice = (long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (slice >= slices) return; // whole warps leave together: the shuffles stay converged
    const int lane = threadIdx.x & 31;
    float* v = x + slice * hd;
    float ss = 0.0f;
    for (int j = lane; j < hd; j += 32) ss += v[j] * v[j];
    ss = warp_sum(ss);
    const float scale = 1.0f / sqrtf(ss / (float)hd + eps);
    for (int j = lane; j < hd; j += 32) v[j] = (v[j] * scale) * ld(w, j);
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches one block per row (rmsnorm, add_rmsnorm)
// and four warps per block, one per head slice (head_rmsnorm).

extern "C" __global__ void rmsnorm_f32(float* out, const float* x, const float* w, int d, float eps) { rmsnorm(out, x, w, d, eps); }
extern "C" __global__ void rmsnorm_bf16(float* out, const float* x, const bf16* w, int d, float eps) { rmsnorm(out, x, w, d, eps); }
extern "C" __global__ void rmsnorm_f16(float* out, const float* x, const fp16* w, int d, float eps) { rmsnorm(out, x, w, d, eps); }

extern "C" __global__ void add_rmsnorm_f32(float* out, float* x, const float* r, const float* w, int d, float eps) { add_rmsnorm(out, x, r, w, d, eps); }
extern "C" __global__ void add_rmsnorm_bf16(float* out, float* x, const float* r, const bf16* w, int d, float eps) { add_rmsnorm(out, x, r, w, d, eps); }
extern "C" __global__ void add_rmsnorm_f16(float* out, float* x, const float* r, const fp16* w, int d, float eps) { add_rmsnorm(out, x, r, w, d, eps); }

extern "C" __global__ void head_rmsnorm_f32(float* x, const float* w, long slices, int hd, float eps) { head_rmsnorm(x, w, slices, hd, eps); }
extern "C" __global__ void head_rmsnorm_bf16(float* x, const bf16* w, long slices, int hd, float eps) { head_rmsnorm(x, w, slices, hd, eps); }
extern "C" __global__ void head_rmsnorm_f16(float* x, const fp16* w, long slices, int hd, float eps) { head_rmsnorm(x, w, slices, hd, eps); }
