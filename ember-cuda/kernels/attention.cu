// attention.cu: causal grouped-query attention over a layer's KV cache.
//
// Decode (one query) is flash-decoding: the cache is cut into splits, one
// block per (KV head, split) runs an online softmax for each query head of
// the group over its keys and leaves a partial (max, sum, unnormalised
// output) per head, and the last of a group's blocks to finish merges the
// splits. A long context thus spreads over the whole GPU instead of one block
// per head, in one launch, and a K/V row is read once per group (GQA packing)
// with 16-byte loads.
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

#define DECODE_VEC 4 // 16-byte chunks of K (and of V) each thread loads at once
#define PREFILL_WARPS 4
#define PREFILL_ROWS 4 // query rows per warp
#define PREFILL_BQ (PREFILL_WARPS * PREFILL_ROWS)
#define PREFILL_BK 16 // keys per shared-memory tile

// ----------------------------------------------------------------------------
// kernels

// attn_decode_combine: merges the split partials of query heads h0 … h0+g-1
// into out[h·hd .. h·hd+hd). The partials come from other blocks of the same
// launch, so they are read from L2 (ld.global.cg), past this SM's L1.
__device__ void attn_decode_combine(float* out, const float* part_acc, const float* part_ml, int h0, int g, int hd,
                                    int splits) {
    for (int i = threadIdx.x; i < g * hd; i += blockDim.x) {
        const int h = h0 + i / hd, d = i - (i / hd) * hd;
        const float* ml = part_ml + 2L * h * splits;
        float M = -INFINITY;
        for (int s = 0; s < splits; s++) M = fmaxf(M, __ldcg(ml + 2 * s));
        float L = 0.0f, o = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float m = __ldcg(ml + 2 * s);
            if (m == -INFINITY) continue;
            const float w = expf(m - M);
            L += __ldcg(ml + 2 * s + 1) * w;
            o += __ldcg(part_acc + ((long)h * splits + s) * hd + d) * w;
        }
        out[(long)h * hd + d] = L > 0.0f ? o / L : 0.0f;
    }
}

// ldg reads one cache element through the read-only path as a global load:
// batched decode takes its cache pointers from a table in memory, which the
// compiler cannot prove global, and would otherwise emit generic loads.
__device__ __forceinline__ float ldg(const float* p, long i) { return __ldg(p + i); }
__device__ __forceinline__ float ldg(const bf16* p, long i) { return __bfloat162float(__ldg(p + i)); }
__device__ __forceinline__ float ldg(const fp16* p, long i) { return __half2float(__ldg(p + i)); }

// decode_tile_keys is how many keys one shared-memory tile of decode attention
// holds: 32 up to head_dim 128, fewer beyond, so a K and a V tile of f32 stay
// within 32 KiB. geometry.go's decodeTileKeys mirrors it.
__device__ __forceinline__ int decode_tile_keys(int hd) { return hd > 128 ? 4096 / hd : 32; }

// decode_load_tile converts keys [t, t+tn) of one KV head into the f32 tiles
// ks and vs ([tn, hd] each). With 16-byte rows and 16-byte aligned caches
// every thread loads DECODE_VEC chunks of K and as many of V before it stores
// any, so each thread has 2·DECODE_VEC independent 16-byte loads in flight
// and V never waits on a K reduction; otherwise it falls back to element loads.
template <typename T>
__device__ __forceinline__ void decode_load_tile(float* ks, float* vs, const T* kb, const T* vb, long kv_stride,
                                                 int t, int tn, int hd, bool vec) {
    if (vec) {
        constexpr int E = 16 / sizeof(T);
        const int cpr = hd / E; // chunks per row
        const int total = tn * cpr;
        for (int c0 = threadIdx.x; c0 < total; c0 += DECODE_VEC * blockDim.x) {
            uint4 ku[DECODE_VEC], vu[DECODE_VEC];
#pragma unroll
            for (int j = 0; j < DECODE_VEC; j++) {
                const int c = c0 + j * blockDim.x;
                if (c < total) {
                    const int r = c / cpr, e = (c - r * cpr) * E;
                    const long off = (long)(t + r) * kv_stride + e;
                    ku[j] = __ldg(reinterpret_cast<const uint4*>(kb + off));
                    vu[j] = __ldg(reinterpret_cast<const uint4*>(vb + off));
                }
            }
#pragma unroll
            for (int j = 0; j < DECODE_VEC; j++) {
                const int c = c0 + j * blockDim.x;
                if (c < total) {
                    float f[8];
                    widen16(ku[j], kb, f);
#pragma unroll
                    for (int i = 0; i < E; i++) ks[c * E + i] = f[i];
                    widen16(vu[j], vb, f);
#pragma unroll
                    for (int i = 0; i < E; i++) vs[c * E + i] = f[i];
                }
            }
        }
        return;
    }
    for (int i = threadIdx.x; i < tn * hd; i += blockDim.x) {
        const int r = i / hd, d = i - r * hd;
        const long off = (long)(t + r) * kv_stride + d;
        ks[i] = ldg(kb, off);
        vs[i] = ldg(vb, off);
    }
}

// attn_decode: block (g, s) serves all G = heads/kv_heads query heads of KV
// head g over keys [⌊s·kv_len/splits⌋, ⌊(s+1)·kv_len/splits⌋) of the kv_len
// visible ones, so each K and V row is read from global memory once
// per group, not once per query head. The keys stream through shared memory
// a tile at a time; warp w runs the online softmax of head w mod G over the
// tile's keys ≡ w/G mod R, with R = warps/G warps per head. The grid's split
// count comes from the context bucket, so a captured graph replays for every
// position of its bucket, while the keys per split come from the length read
// at run time. Only when kv_len < splits are some splits empty; they leave an
// empty partial (max -inf, sum 0).
template <typename T, int DPL>
__device__ void attn_decode(float* out, float* part_acc, float* part_ml, int* done, const float* q, const T* kc,
                            const T* vc, int heads, int kv_heads, int hd, int kv_len, float scale) {
    extern __shared__ float smem[];
    const int kvh = blockIdx.x, s = blockIdx.y, splits = gridDim.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int G = heads / kv_heads, W = blockDim.x >> 5, R = W / G;
    const int g = warp % G, r = warp / G;
    const int h = kvh * G + g;
    const int t0 = (int)((long)s * kv_len / splits);
    const int t1 = (int)((long)(s + 1) * kv_len / splits);
    const long kv_stride = (long)kv_heads * hd;
    const T* kb = kc + (long)kvh * hd;
    const T* vb = vc + (long)kvh * hd;
    const int bk = decode_tile_keys(hd);
    float* ks = smem;
    float* vs = smem + bk * hd;
    const bool vec = (hd * (int)sizeof(T)) % 16 == 0 && ((reinterpret_cast<unsigned long>(kc) | reinterpret_cast<unsigned long>(vc)) & 15) == 0;

    float qr[DPL], acc[DPL];
#pragma unroll
    for (int i = 0; i < DPL; i++) {
        const int d = lane + 32 * i;
        qr[i] = d < hd ? q[(long)h * hd + d] * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int t = t0; t < t1; t += bk) {
        const int tn = min(bk, t1 - t);
        decode_load_tile(ks, vs, kb, vb, kv_stride, t, tn, hd, vec);
        __syncthreads();
        // Two keys per step: their dot products and reductions are
        // independent, so the shuffles of one hide those of the other.
        int kk = r;
        for (; kk + R < tn; kk += 2 * R) {
            const float* k0 = ks + kk * hd;
            const float* k1 = k0 + R * hd;
            float d0 = 0.0f, d1 = 0.0f;
#pragma unroll
            for (int i = 0; i < DPL; i++) {
                const int d = lane + 32 * i;
                if (d < hd) {
                    d0 += qr[i] * k0[d];
                    d1 += qr[i] * k1[d];
                }
            }
            for (int o = 16; o > 0; o >>= 1) {
                d0 += __shfl_xor_sync(0xffffffffu, d0, o);
                d1 += __shfl_xor_sync(0xffffffffu, d1, o);
            }
            const float mn = fmaxf(m, fmaxf(d0, d1));
            const float corr = expf(m - mn);
            const float p0 = expf(d0 - mn), p1 = expf(d1 - mn);
            l = l * corr + p0 + p1;
            const float* v0 = vs + kk * hd;
            const float* v1 = v0 + R * hd;
#pragma unroll
            for (int i = 0; i < DPL; i++) {
                const int d = lane + 32 * i;
                acc[i] = acc[i] * corr + (d < hd ? p0 * v0[d] + p1 * v1[d] : 0.0f);
            }
            m = mn;
        }
        if (kk < tn) {
            const float* k0 = ks + kk * hd;
            float d0 = 0.0f;
#pragma unroll
            for (int i = 0; i < DPL; i++) {
                const int d = lane + 32 * i;
                if (d < hd) d0 += qr[i] * k0[d];
            }
            d0 = warp_sum(d0);
            const float mn = fmaxf(m, d0);
            const float corr = expf(m - mn);
            const float p0 = expf(d0 - mn);
            l = l * corr + p0;
            const float* v0 = vs + kk * hd;
#pragma unroll
            for (int i = 0; i < DPL; i++) {
                const int d = lane + 32 * i;
                acc[i] = acc[i] * corr + (d < hd ? p0 * v0[d] : 0.0f);
            }
            m = mn;
        }
        __syncthreads(); // the tile is read before the next one overwrites it
    }

    // Merge the R warps of each head: weights exp(m_w - M); a warp that saw
    // no key has m = -inf and weighs nothing. The tiles' shared memory is
    // free again (the loop ends on a barrier).
    float* s_ml = smem;          // [W][2]
    float* s_acc = smem + 2 * W; // [W][32·DPL]
    if (lane == 0) {
        s_ml[2 * warp] = m;
        s_ml[2 * warp + 1] = l;
    }
#pragma unroll
    for (int i = 0; i < DPL; i++) s_acc[warp * 32 * DPL + 32 * i + lane] = acc[i];
    __syncthreads();
    for (int i = threadIdx.x; i < G * hd; i += blockDim.x) {
        const int gg = i / hd, d = i - gg * hd;
        float M = -INFINITY;
        for (int rr = 0; rr < R; rr++) M = fmaxf(M, s_ml[2 * (rr * G + gg)]);
        float L = 0.0f, o = 0.0f;
        if (M != -INFINITY)
            for (int rr = 0; rr < R; rr++) {
                const int w = rr * G + gg;
                const float mw = s_ml[2 * w];
                if (mw == -INFINITY) continue;
                const float e = expf(mw - M);
                L += s_ml[2 * w + 1] * e;
                o += s_acc[w * 32 * DPL + d] * e;
            }
        const long part = (long)(kvh * G + gg) * splits + s;
        part_acc[part * hd + d] = o;
        if (d == 0) {
            part_ml[2 * part] = M;
            part_ml[2 * part + 1] = L;
        }
    }

    // The last of the group's split blocks to finish merges the partials
    // (done[kvh] counts them, and that block sets it back to 0 for the next
    // launch, so a replayed graph finds it zeroed too).
    __shared__ int last;
    __threadfence(); // this block's partial is visible before it is counted
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&done[kvh], 1) == splits - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    attn_decode_combine(out, part_acc, part_ml, kvh * G, G, hd, splits);
    if (threadIdx.x == 0) done[kvh] = 0;
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
// entry points. attn_decode_rows is decode for B sequences at once (batched
// decode): grid z is the row b, whose query is row b of q at position pos[b]
// over its own caches caches[2b] (K) and caches[2b+1] (V); its partials and
// split counts are row b's slices of the scratch. Positions and cache
// pointers are read from device memory, so a replayed graph sees each step's.
// geometry.go chooses the split count (attnSplits), launches
// G·R warps per (KV head, split) block (decodeBlock) with decodeShmem bytes of
// shared memory, and PREFILL_WARPS warps per
// (query tile, head) block with 2·PREFILL_BK·hd floats of shared memory.

#define ATTN_ENTRY(TN, T, D)                                                                                           \
    extern "C" __global__ void attn_decode_##TN##_d##D(float* out, float* part_acc, float* part_ml, int* done,        \
                                                       const float* q, const T* kc, const T* vc, int heads,           \
                                                       int kv_heads, int hd, int start, const int* start_ptr,         \
                                                       float scale) {                                                 \
        attn_decode<T, D>(out, part_acc, part_ml, done, q, kc, vc, heads, kv_heads, hd, start_of(start, start_ptr) + 1, \
                          scale);                                                                                      \
    }                                                                                                                  \
    extern "C" __global__ void attn_decode_rows_##TN##_d##D(float* out, float* part_acc, float* part_ml, int* done,   \
                                                            const float* q, const unsigned long long* caches,         \
                                                            const int* pos, int heads, int kv_heads, int hd,          \
                                                            float scale) {                                            \
        const int b = blockIdx.z, splits = gridDim.y;                                                                  \
        const long qd = (long)heads * hd, pa = (long)b * heads * splits;                                               \
        attn_decode<T, D>(out + b * qd, part_acc + pa * hd, part_ml + 2 * pa, done + (long)b * kv_heads, q + b * qd,    \
                          reinterpret_cast<const T*>(caches[2 * b]), reinterpret_cast<const T*>(caches[2 * b + 1]),    \
                          heads, kv_heads, hd, pos[b] + 1, scale);                                                     \
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
