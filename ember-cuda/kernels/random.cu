// random.cu: filling a tensor with deterministic uniform values on the device,
// so that the gpu-check benchmark can build Qwen3-4B-sized weights without
// reading or uploading 8 GB.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// splitmix64 of (seed, i): independent of the launch geometry.
__device__ __forceinline__ unsigned long long mix(unsigned long long z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// fill_uniform writes values uniform in [offset - scale, offset + scale).
template <typename T>
__device__ void fill_uniform(T* out, long n, unsigned long long seed, float offset, float scale) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const unsigned long long r = mix(seed * 0x100000001b3ULL + (unsigned long long)i);
        const float u = (float)(r >> 40) * (1.0f / 16777216.0f); // 24 bits: [0, 1)
        st(out, i, offset + (2.0f * u - 1.0f) * scale);
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches 256-thread blocks, grid-stride.

extern "C" __global__ void fill_uniform_f32(float* out, long n, unsigned long long seed, float offset, float scale) { fill_uniform(out, n, seed, offset, scale); }
extern "C" __global__ void fill_uniform_bf16(bf16* out, long n, unsigned long long seed, float offset, float scale) { fill_uniform(out, n, seed, offset, scale); }
extern "C" __global__ void fill_uniform_f16(fp16* out, long n, unsigned long long seed, float offset, float scale) { fill_uniform(out, n, seed, offset, scale); }
