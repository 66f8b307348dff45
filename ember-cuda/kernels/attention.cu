// attention.cu: causal grouped-query attention over a layer's KV cache.
//
// Decode (one query) is flash-decoding: the cache is cut into splits, one
// block per (query head, split) runs an online softmax over its keys and
// leaves a partial (max, sum, unnormalised output), and the last of a head's
// blocks to finish merges the splits. A long context thus spreads over the
// whole GPU instead of one block per head, in one launch.
//
// Prefill (a chunk of n queries at positions start..start+n-1 over cache rows
// 0..start+n-1) streams the cache through shared memory in tiles of keys and
// keeps an online softmax per query row: no score matrix, let alone a ctx × ctx
// one, is ever written.
//
// Query head h reads kv head h / (heads / kv_heads). Each lane of a warp owns
// the head dimensions lane, lane+32, …; DPL (dims per lane, a power of two up to
// 8) is a template parameter so the per-row state lives in registers, which
// covers head_dim up to 256.

#include "common.cuh"

#define DECODE_WARPS 4
#define PREFILL_WARPS 4
#define PREFILL_ROWS 4 // query rows per warp
#define PREFILL_BQ (PREFILL_WARPS * PREFILL_ROWS)
#define PREFILL_BK 16 // keys per shared-memory tile

// ----------------------------------------------------------------------------
// kernels

// attn_decode_combine: merges head h's split partials into out[h·hd ..
// h·hd+hd). The partials come from other blocks of the same launch, so they
// are read from L2 (ld.global.cg), past this SM's L1.
__device__ void attn_decode_combine(float* out, const float* part_acc, const float* part_ml, int h, int hd, int splits) {
    const float* ml = part_ml + 2L * h * splits;
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) M = fmaxf(M, __ldcg(ml + 2 * s));
    float L = 0.0f;
    for (int s = 0; s < splits; s++) {
        const float m = __ldcg(ml + 2 * s);
        if (m != -INFINITY) L += __ldcg(ml + 2 * s + 1) * expf(m - M);
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float m = __ldcg(ml + 2 * s);
            if (m != -INFINITY) o += __ldcg(part_acc + ((long)h * splits + s) * hd + d) * expf(m - M);
        }
        out[(long)h * hd + d] = o * inv;
    }
}

// attn_decode: block (h, s) covers keys [⌊s·kv_len/splits⌋, ⌊(s+1)·kv_len/splits⌋)
// of the kv_len = start+1 visible ones, so the splits share the real length
// evenly whatever the position; each warp takes every fourth key. The grid's
// split count comes from the context bucket, so a captured graph replays for
// every position of its bucket, while the keys per split come from the length
// read at run time. Only when kv_len < splits are some splits empty; they
// leave an empty partial (max -inf, sum 0).
template <typename T, int DPL>
__device__ void attn_decode(float* out, float* part_acc, float* part_ml, int* done, const float* q, const T* kc,
                            const T* vc, int heads, int kv_heads, int hd, int start, const int* start_ptr, float scale) {
    __shared__ float s_m[DECODE_WARPS], s_l[DECODE_WARPS];
    __shared__ float s_acc[DECODE_WARPS * 32 * DPL];
    const int h = blockIdx.x, s = blockIdx.y, splits = gridDim.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kv_len = start_of(start, start_ptr) + 1;
    const int t0 = (int)((long)s * kv_len / splits);
    const int t1 = (int)((long)(s + 1) * kv_len / splits);
    const int kvh = h / (heads / kv_heads);
    const long kv_stride = (long)kv_heads * hd;
    const T* kb = kc + (long)kvh * hd;
    const T* vb = vc + (long)kvh * hd;

    float qr[DPL], acc[DPL];
#pragma unroll
    for (int i = 0; i < DPL; i++) {
        const int d = lane + 32 * i;
        qr[i] = d < hd ? q[(long)h * hd + d] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int t = t0 + warp; t < t1; t += DECODE_WARPS) {
        const T* kr = kb + (long)t * kv_stride;
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            if (d < hd) dot += qr[i] * ld(kr, d);
        }
        const float sc = warp_sum(dot) * scale;
        const float mn = fmaxf(m, sc);
        const float corr = expf(m - mn);
        const float p = expf(sc - mn);
        l = l * corr + p;
        const T* vr = vb + (long)t * kv_stride;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            acc[i] = acc[i] * corr + (d < hd ? p * ld(vr, d) : 0.0f);
        }
        m = mn;
    }

    // Merge the warps' partials: weights exp(m_w - M); a warp that saw no key
    // has m = -inf and weighs nothing.
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < DPL; i++) s_acc[warp * 32 * DPL + 32 * i + lane] = acc[i];
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < DECODE_WARPS; w++) M = fmaxf(M, s_m[w]);
    const long part = (long)h * splits + s;
    if (threadIdx.x == 0) {
        float L = 0.0f;
        if (M != -INFINITY)
            for (int w = 0; w < DECODE_WARPS; w++)
                if (s_m[w] != -INFINITY) L += s_l[w] * expf(s_m[w] - M);
        part_ml[2 * part] = M;
        part_ml[2 * part + 1] = L;
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        const int i = d >> 5, ln = d & 31;
        float o = 0.0f;
        if (M != -INFINITY)
            for (int w = 0; w < DECODE_WARPS; w++)
                if (s_m[w] != -INFINITY) o += s_acc[w * 32 * DPL + 32 * i + ln] * expf(s_m[w] - M);
        part_acc[part * hd + d] = o;
    }

    // The last of the head's split blocks to finish merges the partials
    // (done[h] counts them, and that block sets it back to 0 for the next
    // launch, so a replayed graph finds it zeroed too).
    __shared__ int last;
    __threadfence(); // this block's partial is visible before it is counted
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&done[h], 1) == splits - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    attn_decode_combine(out, part_acc, part_ml, h, hd, splits);
    if (threadIdx.x == 0) done[h] = 0;
}

// attn_prefill: block (tile, h) holds PREFILL_BQ query rows of head h, four
// per warp; the cache streams through shared memory PREFILL_BK keys at a time
// (converted to f32 once per block, not once per query), up to the causal
// limit of the tile's last row. Every thread runs every tile iteration, even
// for rows past n, because the tiles are loaded cooperatively behind barriers.
template <typename T, int DPL>
__device__ void attn_prefill(float* out, const float* q, const T* kc, const T* vc, int n, int heads, int kv_heads,
                             int hd, int start, const int* start_ptr, float scale) {
    extern __shared__ float smem[];
    float* ks = smem;
    float* vs = smem + PREFILL_BK * hd;
    const int h = blockIdx.y;
    const int q0 = blockIdx.x * PREFILL_BQ;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int st = start_of(start, start_ptr);
    const int kvh = h / (heads / kv_heads);
    const long kv_stride = (long)kv_heads * hd;
    const long q_stride = (long)heads * hd;

    float qr[PREFILL_ROWS][DPL], acc[PREFILL_ROWS][DPL], m[PREFILL_ROWS], l[PREFILL_ROWS];
#pragma unroll
    for (int r = 0; r < PREFILL_ROWS; r++) {
        const int row = q0 + warp * PREFILL_ROWS + r;
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            qr[r][i] = (row < n && d < hd) ? q[row * q_stride + (long)h * hd + d] : 0.0f;
            acc[r][i] = 0.0f;
        }
    }
    const int last_row = min(q0 + PREFILL_BQ, n) - 1;
    const int kv_end = st + last_row + 1;
    for (int t0 = 0; t0 < kv_end; t0 += PREFILL_BK) {
        const int tn = min(PREFILL_BK, kv_end - t0);
        for (int i = threadIdx.x; i < PREFILL_BK * hd; i += blockDim.x) {
            const int kk = i / hd, d = i - kk * hd;
            float kv = 0.0f, vv = 0.0f;
            if (kk < tn) {
                const long off = (long)(t0 + kk) * kv_stride + (long)kvh * hd + d;
                kv = ld(kc, off);
                vv = ld(vc, off);
            }
            ks[i] = kv;
            vs[i] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < PREFILL_ROWS; r++) {
            const int row = q0 + warp * PREFILL_ROWS + r;
            if (row >= n) continue; // uniform across the warp
            const int kmax = min(tn, st + row - t0 + 1); // causal: keys ≤ start+row
            for (int kk = 0; kk < kmax; kk++) {
                float dot = 0.0f;
#pragma unroll
                for (int i = 0; i < DPL; i++) {
                    const int d = lane + 32 * i;
                    if (d < hd) dot += qr[r][i] * ks[kk * hd + d];
                }
                const float sc = warp_sum(dot) * scale;
                const float mn = fmaxf(m[r], sc);
                const float corr = expf(m[r] - mn);
                const float p = expf(sc - mn);
                l[r] = l[r] * corr + p;
#pragma unroll
                for (int i = 0; i < DPL; i++) {
                    const int d = lane + 32 * i;
                    acc[r][i] = acc[r][i] * corr + (d < hd ? p * vs[kk * hd + d] : 0.0f);
                }
                m[r] = mn;
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < PREFILL_ROWS; r++) {
        const int row = q0 + warp * PREFILL_ROWS + r;
        if (row >= n) continue;
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            if (d < hd) out[row * q_stride + (long)h * hd + d] = acc[r][i] * inv;
        }
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go chooses the split count (attnSplits), launches
// DECODE_WARPS warps per (head, split) block and PREFILL_WARPS warps per
// (query tile, head) block with 2·PREFILL_BK·hd floats of shared memory.

#define ATTN_ENTRY(TN, T, D)                                                                                           \
    extern "C" __global__ void attn_decode_##TN##_d##D(float* out, float* part_acc, float* part_ml, int* done,        \
                                                       const float* q, const T* kc, const T* vc, int heads,           \
                                                       int kv_heads, int hd, int start, const int* start_ptr,         \
                                                       float scale) {                                                 \
        attn_decode<T, D>(out, part_acc, part_ml, done, q, kc, vc, heads, kv_heads, hd, start, start_ptr, scale);      \
    }                                                                                                                  \
    extern "C" __global__ void attn_prefill_##TN##_d##D(float* out, const float* q, const T* kc, const T* vc, int n,  \
                                                        int heads, int kv_heads, int hd, int start,                   \
                                                        const int* start_ptr, float scale) {                          \
        attn_prefill<T, D>(out, q, kc, vc, n, heads, kv_heads, hd, start, start_ptr, scale);                           \
    }

#define ATTN_ENTRIES(TN, T) ATTN_ENTRY(TN, T, 1) ATTN_ENTRY(TN, T, 2) ATTN_ENTRY(TN, T, 4) ATTN_ENTRY(TN, T, 8)

ATTN_ENTRIES(f32, float)
ATTN_ENTRIES(bf16, bf16)
ATTN_ENTRIES(f16, fp16)
