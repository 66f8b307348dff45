// rope.cu: NeoX-style rotary position embedding, in place, at the positions a
// device tensor gives (so the same launch serves every decode step).
//
// The angle pos · inv_freq[j] is formed and reduced to [-π, π] in f64, then
// its cosine and sine are taken in f32: the CPU reference rotates by the
// exact angle rounded once, and a position of 40 000 times a frequency near 1
// would lose the whole fraction in f32 before the reduction.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// One thread per (row, head, j < hd/2), rotating the pair (j, j + hd/2).
// inv_freq holds theta^(-2j/hd) in f64, computed once on the host.
__device__ void rope_neox(float* x, const int* pos, const double* inv_freq, int n, int cols, int hd) {
    const int half = hd >> 1;
    const int heads = cols / hd;
    const long total = (long)n * heads * half;
    const double two_pi = 6.283185307179586476925286766559;
    for (long t = (long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (long)gridDim.x * blockDim.x) {
        const int j = (int)(t % half);
        const long rh = t / half;
        const int h = (int)(rh % heads);
        const long row = rh / heads;
        double a = (double)pos[row] * inv_freq[j];
        a -= two_pi * rint(a / two_pi);
        float s, c;
        sincosf((float)a, &s, &c);
        float* p = x + row * cols + (long)h * hd;
        const float x1 = p[j], x2 = p[j + half];
        p[j] = x1 * c - x2 * s;
        p[j + half] = x2 * c + x1 * s;
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches 256-thread blocks over n·heads·hd/2 pairs.

extern "C" __global__ void rope_neox_f32(float* x, const int* pos, const double* inv_freq, int n, int cols, int hd) { rope_neox(x, pos, inv_freq, n, cols, hd); }
