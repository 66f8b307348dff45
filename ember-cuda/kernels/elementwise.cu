// elementwise.cu: the residual add, SwiGLU's silu(gate)·up, and the f32 to
// bf16/fp16 conversion that feeds cuBLAS (whose GemmEx takes both operands in
// the weight's type).

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels (grid-stride; out may be one of the inputs, element for element)

__device__ void add(float* out, const float* a, const float* b, long n) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) out[i] = a[i] + b[i];
}

// silu(g) = g / (1 + e^-g), with expf (not the fast __expf): the result is
// compared with the CPU reference's f64 evaluation.
__device__ void silu_mul(float* out, const float* g, const float* u, long n) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const float x = g[i];
        out[i] = (x / (1.0f + expf(-x))) * u[i];
    }
}

template <typename T>
__device__ void convert_from_f32(T* out, const float* x, long n) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) st(out, i, x[i]);
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches 256-thread blocks, capped at a grid that
// fills the GPU a few times over.

extern "C" __global__ void add_f32(float* out, const float* a, const float* b, long n) { add(out, a, b, n); }
extern "C" __global__ void silu_mul_f32(float* out, const float* g, const float* u, long n) { silu_mul(out, g, u, n); }
extern "C" __global__ void convert_f32_bf16(bf16* out, const float* x, long n) { convert_from_f32(out, x, n); }
extern "C" __global__ void convert_f32_f16(fp16* out, const float* x, long n) { convert_from_f32(out, x, n); }
