// rope.cu: NeoX-style rotary position embedding, in place, at the positions a
// device tensor gives (so the same launch serves every decode step).
//
// The angle pos · inv_freq[j] is formed and reduced to [-π, π] in f64, then
// its cosine and sine are taken in f32: the CPU reference rotates by the
// exact angle rounded once, and a position of 40 000 times a frequency near 1
// would lose the whole fraction in f32 before the reduction. The frequencies
// come as f32 (hi, lo) pairs of turns, whose sum is the f64 value.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// rope_sincos: the sine and cosine of pos turns of rev = hi + lo (the
// frequency inv_freq[j] / 2π), the angle formed and reduced to [-π, π] in
// f64 as the CPU reference forms it, then its sine and cosine in f32. (An
// all-f32 reduction, within 2e-7 rad, moved enough bf16 KV roundings to make
// near-tie greedy tokens differ from the CPU's under gpu-check.)
__device__ __forceinline__ void rope_sincos(int pos, float2 rev, float* s, float* c) {
    const double two_pi = 6.283185307179586476925286766559;
    double a = (double)pos * (((double)rev.x + (double)rev.y) * two_pi);
    a -= two_pi * rint(a / two_pi);
    sincosf((float)a, s, c);
}

// rope_rotate: the pair (x1, x2) rotated by the angle whose cosine and sine
// are c and s, each product rounded and then summed, as the CPU reference
// does. The intrinsics pin the roundings: left to itself nvcc fuses one
// product of each sum into an fma, and which one differs from kernel to
// kernel (rope_neox and qk_rope_append once disagreed in the last bit).
__device__ __forceinline__ void rope_rotate(float x1, float x2, float c, float s, float* y1, float* y2) {
    *y1 = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
    *y2 = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
}

// One thread per (row, head, j < hd/2), rotating the pair (j, j + hd/2).
// rev holds theta^(-2j/hd) / 2π as (hi, lo) f32 pairs, computed once on the host.
__device__ void rope_neox(float* x, const int* pos, const float2* rev, int n, int cols, int hd) {
    const int half = hd >> 1;
    const int heads = cols / hd;
    const long total = (long)n * heads * half;
    for (long t = (long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (long)gridDim.x * blockDim.x) {
        const int j = (int)(t % half);
        const long rh = t / half;
        const int h = (int)(rh % heads);
        const long row = rh / heads;
        float s, c;
        rope_sincos(pos[row], rev[j], &s, &c);
        float* p = x + row * cols + (long)h * hd;
        rope_rotate(p[j], p[j + half], c, s, &p[j], &p[j + half]);
    }
}

// qk_rope_append: for one token (a decode step), Qwen3's q_norm and k_norm,
// RoPE of q and k at pos[0] and the append of k and v to the caches at row
// start (*start_ptr in a graph), in one launch instead of five: one warp per
// head slice of q (heads), k (kv_heads) and v (kv_heads, appended only). Each
// step computes what head_rmsnorm, rope_neox and kv_append compute, in the
// same order, so q, k and the cache rows get the same bits as from the five
// ops; q and k are left normed and rotated as those ops leave them.
template <typename W, typename T>
__device__ void qk_rope_append(float* q, float* k, const float* v, T* kc, T* vc, const W* qw, const W* kw, const int* pos,
                               const float2* rev, int heads, int kv_heads, int hd, float eps, int start,
                               const int* start_ptr) {
    const int slice = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (slice >= heads + 2 * kv_heads) return; // whole warps leave together
    const int lane = threadIdx.x & 31;
    const long cache_row = (long)start_of(start, start_ptr) * kv_heads * hd;
    if (slice >= heads + kv_heads) {
        const long off = (long)(slice - heads - kv_heads) * hd;
        for (int j = lane; j < hd; j += 32) st(vc, cache_row + off + j, v[off + j]);
        return;
    }
    const bool is_q = slice < heads;
    const long off = (long)(is_q ? slice : slice - heads) * hd;
    float* p = (is_q ? q : k) + off;
    const W* w = is_q ? qw : kw;
    float ss = 0.0f;
    for (int j = lane; j < hd; j += 32) ss += p[j] * p[j];
    ss = warp_sum(ss);
    const float scale = 1.0f / sqrtf(ss / (float)hd + eps);
    // Each lane normalises and rotates whole pairs (j, j + hd/2) in
    // registers, so no lane reads what another wrote.
    const int half = hd >> 1;
    for (int j = lane; j < half; j += 32) {
        const float x1 = (p[j] * scale) * ld(w, j), x2 = (p[j + half] * scale) * ld(w, j + half);
        float s, c;
        rope_sincos(pos[0], rev[j], &s, &c);
        float y1, y2;
        rope_rotate(x1, x2, c, s, &y1, &y2);
        p[j] = y1;
        p[j + half] = y2;
        if (!is_q) {
            st(kc, cache_row + off + j, y1);
            st(kc, cache_row + off + j + half, y2);
        }
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches 256-thread blocks over n·heads·hd/2 pairs
// (rope_neox) and four warps per block, one per head slice (qk_rope_append).

extern "C" __global__ void rope_neox_f32(float* x, const int* pos, const float2* rev, int n, int cols, int hd) { rope_neox(x, pos, rev, n, cols, hd); }
extern "C" __global__ void qk_rope_append_wf32_kvf32(float* q, float* k, const float* v, float* kc, float* vc, const float* qw,
                                                     const float* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wf32_kvbf16(float* q, float* k, const float* v, bf16* kc, bf16* vc, const float* qw,
                                                     const float* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wf32_kvf16(float* q, float* k, const float* v, fp16* kc, fp16* vc, const float* qw,
                                                     const float* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wbf16_kvf32(float* q, float* k, const float* v, float* kc, float* vc, const bf16* qw,
                                                     const bf16* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wbf16_kvbf16(float* q, float* k, const float* v, bf16* kc, bf16* vc, const bf16* qw,
                                                     const bf16* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wbf16_kvf16(float* q, float* k, const float* v, fp16* kc, fp16* vc, const bf16* qw,
                                                     const bf16* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wf16_kvf32(float* q, float* k, const float* v, float* kc, float* vc, const fp16* qw,
                                                     const fp16* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wf16_kvbf16(float* q, float* k, const float* v, bf16* kc, bf16* vc, const fp16* qw,
                                                     const fp16* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
extern "C" __global__ void qk_rope_append_wf16_kvf16(float* q, float* k, const float* v, fp16* kc, fp16* vc, const fp16* qw,
                                                     const fp16* kw, const int* pos, const float2* rev, int heads,
                                                     int kv_heads, int hd, float eps, int start, const int* start_ptr) {
    qk_rope_append(q, k, v, kc, vc, qw, kw, pos, rev, heads, kv_heads, hd, eps, start, start_ptr);
}
