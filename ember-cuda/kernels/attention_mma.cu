// attention_mma.cu: causal grouped-query prefill attention on tensor cores
// (flash-attention 2 style), for f16 and bf16 KV caches and head_dim 64 or 128.
//
// The op is attention.cu's attn_prefill: a chunk of n queries at positions
// start..start+n-1 over cache rows 0..start+n-1, query head h reading kv head
// h / (heads / kv_heads). Here a block holds MMA_BQ queries of one head, 16 per
// warp; the cache streams through shared memory MMA_BK keys at a time with
// cp.async, the K tile of the next step loading while this step's softmax and
// P·V run, the V tile while the next S = Q·Kᵀ runs. Both products are
// mma.sync m16n8k16 with f32 accumulation, fed by ldmatrix from rows whose
// 16-byte chunks are XOR-swizzled so that eight rows read at one column hit
// eight different bank groups.
//
// Numerics: Q is rounded once to the cache's type (the A operand must be),
// scores accumulate in f32 and the softmax runs online in f32 (exp2 of scores
// prescaled by scale·log2 e). P is rounded to the cache's type for P·V while
// its row sum l stays in f32, so each weight carries a relative error of at
// most the type's unit roundoff (2⁻⁸ bf16, 2⁻¹¹ f16) and the output at most
// that times max|v| (gpu-check states the bound it checks).

#include "common.cuh"

#include <stdint.h>

#define MMA_WARPS 4
#define MMA_BQ (MMA_WARPS * 16) // query rows per block
#define MMA_BK 64               // keys per shared-memory tile

// ----------------------------------------------------------------------------
// tensor-core primitives

// pack2 rounds two f32 to the storage type, lo into the low half (the lower
// column of an mma fragment).
__device__ __forceinline__ uint32_t pack2(bf16, float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ uint32_t pack2(fp16, float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

// mma16816 accumulates c += a·b for one 16×8×16 tile.
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1, bf16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1, fp16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// cp_async16 copies 16 bytes, or writes 16 zero bytes when !valid (the source
// is then not read, but must still be a valid address).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait1() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait0() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// swz is the element offset of 16-byte chunk c of tile row r: the chunk index
// XORed with r mod 8.
template <int HD>
__device__ __forceinline__ int swz(int r, int c) {
    return r * HD + ((c ^ (r & 7)) << 3);
}

// load_tile starts the copy of cache rows t0..t0+MMA_BK-1 of one kv head into
// a swizzled tile; rows at or past kv_end are zero-filled, so that a masked
// weight of 0 never meets an unwritten (possibly NaN) value.
template <typename T, int HD>
__device__ __forceinline__ void load_tile(T* tile, const T* base, long stride, int t0, int kv_end) {
    constexpr int CH = HD / 8;
    for (int i = threadIdx.x; i < MMA_BK * CH; i += MMA_WARPS * 32) {
        const int r = i / CH, c = i % CH;
        const bool valid = t0 + r < kv_end;
        const T* src = base + (valid ? (long)(t0 + r) * stride : 0) + c * 8;
        cp_async16(smem_addr(tile + swz<HD>(r, c)), src, valid);
    }
}

// ----------------------------------------------------------------------------
// kernels

// attn_prefill_mma: block (tile, h) holds queries [q0, q0+MMA_BQ) of head h,
// the tiles with the most keys (the last) first. Warp w owns rows
// q0+16w..q0+16w+15 and lane (g = lane/4, c = lane%4) rows g and g+8 of the
// mma fragments. A warp skips the work of key tiles past its last row and of
// rows past n, but still loads tiles and meets every barrier.
template <typename T, int HD>
__device__ void attn_prefill_mma(float* out, const float* q, const T* kc, const T* vc, int n, int heads, int kv_heads,
                                 int start, const int* start_ptr, float scale) {
    constexpr int KC = HD / 16; // k-steps of Q·Kᵀ
    constexpr int DN = HD / 8;  // n-tiles of the output
    constexpr int SN = MMA_BK / 8;
    __shared__ __align__(128) T ks[MMA_BK * HD];
    __shared__ __align__(128) T vs[MMA_BK * HD];

    const int h = blockIdx.y;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * MMA_BQ;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3;
    const int st = start_of(start, start_ptr);
    const int kvh = h / (heads / kv_heads);
    const long kv_stride = (long)kv_heads * HD;
    const long q_stride = (long)heads * HD;
    const T* kb = kc + (long)kvh * HD;
    const T* vb = vc + (long)kvh * HD;
    const int kv_end = st + min(q0 + MMA_BQ, n);
    const int tiles = (kv_end + MMA_BK - 1) / MMA_BK;

    const int w0 = q0 + warp * 16;      // the warp's first query
    const int pos0 = st + w0 + g;       // position of fragment row g (row g+8 is pos0+8)
    const bool active = w0 < n;         // uniform across the warp
    const int last_pos = st + min(w0 + 15, n - 1);
    const float sl2 = scale * 1.4426950408889634f;

    load_tile<T, HD>(ks, kb, kv_stride, 0, kv_end);
    cp_async_commit();
    load_tile<T, HD>(vs, vb, kv_stride, 0, kv_end);
    cp_async_commit();

    // Q as A fragments, rounded to T; rows past n are zero.
    uint32_t qa[KC][4];
    {
        const int r0 = w0 + g, r1 = r0 + 8;
        const float* qr0 = q + (long)r0 * q_stride + (long)h * HD + tq * 2;
        const float* qr1 = q + (long)r1 * q_stride + (long)h * HD + tq * 2;
#pragma unroll
        for (int k = 0; k < KC; k++) {
            float2 a = make_float2(0.f, 0.f), b = a, c = a, d = a;
            if (r0 < n) {
                a = *reinterpret_cast<const float2*>(qr0 + k * 16);
                c = *reinterpret_cast<const float2*>(qr0 + k * 16 + 8);
            }
            if (r1 < n) {
                b = *reinterpret_cast<const float2*>(qr1 + k * 16);
                d = *reinterpret_cast<const float2*>(qr1 + k * 16 + 8);
            }
            qa[k][0] = pack2(T(), a.x, a.y);
            qa[k][1] = pack2(T(), b.x, b.y);
            qa[k][2] = pack2(T(), c.x, c.y);
            qa[k][3] = pack2(T(), d.x, d.y);
        }
    }

    float o[DN][4];
#pragma unroll
    for (int d = 0; d < DN; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; // rows g, g+8 (l: this lane's part)

    // ldmatrix lane roles: lane supplies row (lane & 7) of matrix (lane >> 3).
    const int mi = lane >> 3, mr = lane & 7;
    const uint32_t ks_base = smem_addr(ks), vs_base = smem_addr(vs);

    for (int j = 0; j < tiles; j++) {
        const int t0 = j * MMA_BK;
        const bool work = active && t0 <= last_pos;

        cp_async_wait1(); // K(j) has landed (V(j) may still be in flight)
        __syncthreads();
        float s[SN][4];
        if (work) {
#pragma unroll
            for (int i = 0; i < SN; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
            for (int k = 0; k < KC; k++) {
#pragma unroll
                for (int i = 0; i < SN; i += 2) {
                    // matrices: keys 8i.. dims 16k.., keys 8i.. dims 16k+8.., then keys 8(i+1)..
                    uint32_t b[4];
                    const int r = (i + (mi >> 1)) * 8 + mr;
                    ldmatrix_x4(b, ks_base + 2 * swz<HD>(r, 2 * k + (mi & 1)));
                    mma16816(s[i], qa[k], b[0], b[1], T());
                    mma16816(s[i + 1], qa[k], b[2], b[3], T());
                }
            }
        }
        __syncthreads(); // every warp is done with K(j)
        if (j + 1 < tiles) {
            load_tile<T, HD>(ks, kb, kv_stride, t0 + MMA_BK, kv_end);
            cp_async_commit();
        }

        if (work) {
            // Scale, mask keys past each row's position, and fold the tile
            // into the running max and sum.
            const bool edge = t0 + MMA_BK - 1 > st + w0;
            float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
            for (int i = 0; i < SN; i++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float x = s[i][e] * sl2;
                    if (edge) {
                        const int key = t0 + i * 8 + tq * 2 + (e & 1);
                        if (key > pos0 + (e >> 1) * 8) x = -INFINITY;
                    }
                    s[i][e] = x;
                }
                mx0 = fmaxf(mx0, fmaxf(s[i][0], s[i][1]));
                mx1 = fmaxf(mx1, fmaxf(s[i][2], s[i][3]));
            }
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
            // Key 0 is in every row's first tile, so the maxima are finite
            // from tile 0 on (a later, fully masked tile leaves them as they are).
            const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
            const float c0 = exp2f(m0 - n0), c1 = exp2f(m1 - n1);
            m0 = n0;
            m1 = n1;
            float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
            for (int i = 0; i < SN; i++) {
                s[i][0] = exp2f(s[i][0] - n0);
                s[i][1] = exp2f(s[i][1] - n0);
                s[i][2] = exp2f(s[i][2] - n1);
                s[i][3] = exp2f(s[i][3] - n1);
                sum0 += s[i][0] + s[i][1];
                sum1 += s[i][2] + s[i][3];
            }
            l0 = l0 * c0 + sum0;
            l1 = l1 * c1 + sum1;
#pragma unroll
            for (int d = 0; d < DN; d++) {
                o[d][0] *= c0;
                o[d][1] *= c0;
                o[d][2] *= c1;
                o[d][3] *= c1;
            }
        }

        // V(j) has landed; K(j+1) may still be in flight (none after the last tile).
        if (j + 1 < tiles)
            cp_async_wait1();
        else
            cp_async_wait0();
        __syncthreads();
        if (work) {
#pragma unroll
            for (int kk = 0; kk < MMA_BK / 16; kk++) {
                // The S accumulators of key tiles 2kk and 2kk+1 are the A
                // fragment of P for keys 16kk..16kk+15.
                uint32_t pa[4];
                pa[0] = pack2(T(), s[2 * kk][0], s[2 * kk][1]);
                pa[1] = pack2(T(), s[2 * kk][2], s[2 * kk][3]);
                pa[2] = pack2(T(), s[2 * kk + 1][0], s[2 * kk + 1][1]);
                pa[3] = pack2(T(), s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
                for (int d = 0; d < DN; d += 2) {
                    // matrices (transposed): keys 16kk.. dims 8d.., keys 16kk+8.. dims 8d..,
                    // then dims 8(d+1)..
                    uint32_t b[4];
                    const int r = kk * 16 + (mi & 1) * 8 + mr;
                    ldmatrix_x4_trans(b, vs_base + 2 * swz<HD>(r, d + (mi >> 1)));
                    mma16816(o[d], pa, b[0], b[1], T());
                    mma16816(o[d + 1], pa, b[2], b[3], T());
                }
            }
        }
        __syncthreads(); // every warp is done with V(j)
        if (j + 1 < tiles) {
            load_tile<T, HD>(vs, vb, kv_stride, t0 + MMA_BK, kv_end);
            cp_async_commit();
        }
    }

    if (!active) return;
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
    const int r0 = w0 + g, r1 = r0 + 8;
    float* o0 = out + (long)r0 * q_stride + (long)h * HD + tq * 2;
    float* o1 = out + (long)r1 * q_stride + (long)h * HD + tq * 2;
#pragma unroll
    for (int d = 0; d < DN; d++) {
        if (r0 < n) *reinterpret_cast<float2*>(o0 + d * 8) = make_float2(o[d][0] * inv0, o[d][1] * inv0);
        if (r1 < n) *reinterpret_cast<float2*>(o1 + d * 8) = make_float2(o[d][2] * inv1, o[d][3] * inv1);
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go (mmaPrefillGrid) launches MMA_WARPS warps per
// (query tile, head) block, grid (⌈n / MMA_BQ⌉, heads), no dynamic shared
// memory. ops.go takes this path for n ≥ 16 with a 16-bit cache, head_dim 64
// or 128 and 16-byte aligned caches (8-byte aligned q and out).

#define MMA_ENTRY(TN, T, D)                                                                                            \
    extern "C" __global__ void __launch_bounds__(MMA_WARPS * 32)                                                       \
        attn_prefill_mma_##TN##_h##D(float* out, const float* q, const T* kc, const T* vc, int n, int heads,           \
                                     int kv_heads, int start, const int* start_ptr, float scale) {                     \
        attn_prefill_mma<T, D>(out, q, kc, vc, n, heads, kv_heads, start, start_ptr, scale);                           \
    }

MMA_ENTRY(bf16, bf16, 64)
MMA_ENTRY(bf16, bf16, 128)
MMA_ENTRY(f16, fp16, 64)
MMA_ENTRY(f16, fp16, 128)
