// gemv.cu: out [n, o] = x [n, k] · wᵀ for the few rows of a decode step, with
// w [o, k] row-major in f32, bf16 or fp16 and x, out in f32.
//
// Decode is bound by reading w once, so the kernel is built around that read:
// one warp per output row, each lane loading 16 bytes of w at a time (8 bf16 or
// fp16 values, 4 f32), four loads in flight before any arithmetic so the memory
// system sees enough requests, and the x rows (a few KiB) coming from L1/L2.
// x stays f32: unlike the cuBLAS path it is not rounded to the weight's type.
//
// A batched decode step multiplies up to GEMV_MAX_ROWS rows of x by the same
// weights: each warp reads its weight row once and keeps one accumulator per
// row of x in registers, so the weight bytes read do not grow with the rows.

#include "common.cuh"

#define GEMV_WARPS 4
#define GEMV_MAX_ROWS 16
#define GEMV_UNROLL 4

// ----------------------------------------------------------------------------
// kernels

// gemv16_row: the dot products of weight row wr with the n ≤ NR ≤
// GEMV_MAX_ROWS rows of x, one warp's partial sums per lane in acc (summed by
// the caller). NR is a template parameter, not a run-time bound: a
// data-dependent exit in the row loop kept ptxas from issuing the unrolled
// 16-byte weight loads together. The kernels pick the instantiation for n
// with one uniform switch: exact for n ≤ 4, NR = 8 or 16 above, where rows
// r ≥ n are skipped by a uniform test after the weight loads were issued.
// For bf16/fp16 weights with k a multiple of 8 (16-byte row chunks;
// cudaMalloc'd rows then start 16-byte aligned). A tail shorter than a full
// unrolled group is handled one 16-byte load at a time.
template <typename T, int NR>
__device__ __forceinline__ void gemv16_row(float* acc, const float* x, const T* w, const uint4* wr, int n, int k, int lane) {
    const int chunks = k >> 3; // 16-byte chunks per row
    int c = lane;
    for (; c + 32 * (GEMV_UNROLL - 1) < chunks; c += 32 * GEMV_UNROLL) {
        uint4 u[GEMV_UNROLL];
#pragma unroll
        for (int j = 0; j < GEMV_UNROLL; j++) u[j] = __ldg(wr + c + 32 * j);
#pragma unroll
        for (int j = 0; j < GEMV_UNROLL; j++) {
            float f[8];
            widen16(u[j], w, f);
            const int base = (c + 32 * j) << 3;
#pragma unroll
            for (int r = 0; r < NR; r++) {
                if (NR > 4 && r >= n) break;
                const float4* xv = reinterpret_cast<const float4*>(x + (long)r * k + base);
                const float4 a = xv[0], b = xv[1];
                acc[r] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
            }
        }
    }
    for (; c < chunks; c += 32) {
        float f[8];
        widen16(__ldg(wr + c), w, f);
        const int base = c << 3;
#pragma unroll
        for (int r = 0; r < NR; r++) {
            if (NR > 4 && r >= n) break;
            const float4* xv = reinterpret_cast<const float4*>(x + (long)r * k + base);
            const float4 a = xv[0], b = xv[1];
            acc[r] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
        }
    }
}

// gemv16: one warp per output row.
template <typename T, int NR>
__device__ void gemv16_n(float* out, const float* x, const T* w, int n, int o, int k) {
    const int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (row >= o) return; // whole warps leave together
    const int lane = threadIdx.x & 31;
    float acc[NR] = {};
    gemv16_row<T, NR>(acc, x, w, reinterpret_cast<const uint4*>(w + (long)row * k), n, k, lane);
#pragma unroll
    for (int r = 0; r < NR; r++) {
        if (NR > 4 && r >= n) break;
        const float s = warp_sum(acc[r]);
        if (lane == 0) out[(long)r * o + row] = s;
    }
}

// gemv16x3: up to three GEMVs of the same x in one launch, out_i = x · w_iᵀ
// (q, k and v of a layer): blocks [0, b0) compute w0's rows, the next
// ⌈o1/GEMV_WARPS⌉ w1's, the rest w2's (o2 may be 0). Each row is summed
// exactly as gemv16 sums it.
template <typename T, int NR>
__device__ void gemv16x3_n(float* out0, const T* w0, int o0, float* out1, const T* w1, int o1, float* out2, const T* w2,
                           int o2, const float* x, int n, int k) {
    const int b0 = (o0 + GEMV_WARPS - 1) / GEMV_WARPS, b1 = (o1 + GEMV_WARPS - 1) / GEMV_WARPS;
    int blk = blockIdx.x;
    float* out = out0;
    const T* w = w0;
    int o = o0;
    if (blk >= b0 + b1) {
        blk -= b0 + b1, out = out2, w = w2, o = o2;
    } else if (blk >= b0) {
        blk -= b0, out = out1, w = w1, o = o1;
    }
    const int row = blk * GEMV_WARPS + (threadIdx.x >> 5);
    if (row >= o) return;
    const int lane = threadIdx.x & 31;
    float acc[NR] = {};
    gemv16_row<T, NR>(acc, x, w, reinterpret_cast<const uint4*>(w + (long)row * k), n, k, lane);
#pragma unroll
    for (int r = 0; r < NR; r++) {
        if (NR > 4 && r >= n) break;
        const float s = warp_sum(acc[r]);
        if (lane == 0) out[(long)r * o + row] = s;
    }
}

// gemv16_glu: SwiGLU's gate and up GEMVs and silu(gate)·up in one launch:
// each warp computes row `row` of g = x · wgᵀ and u = x · wuᵀ (summed as
// gemv16 sums them) and writes g, u and then silu(g)·u (as silu_mul computes
// it) to gate, up and out; out may be gate or up, whose value it then ends with.
template <typename T, int NR>
__device__ void gemv16_glu_n(float* out, float* gate, float* up, const T* wg, const T* wu, const float* x, int n, int o, int k) {
    const int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (row >= o) return;
    const int lane = threadIdx.x & 31;
    float ag[NR] = {}, au[NR] = {};
    gemv16_row<T, NR>(ag, x, wg, reinterpret_cast<const uint4*>(wg + (long)row * k), n, k, lane);
    gemv16_row<T, NR>(au, x, wu, reinterpret_cast<const uint4*>(wu + (long)row * k), n, k, lane);
#pragma unroll
    for (int r = 0; r < NR; r++) {
        if (NR > 4 && r >= n) break;
        const float g = warp_sum(ag[r]), u = warp_sum(au[r]);
        if (lane == 0) {
            const long i = (long)r * o + row;
            gate[i] = g;
            up[i] = u;
            out[i] = (g / (1.0f + expf(-g))) * u;
        }
    }
}

// The run-time row count n picks the instantiation (uniform over the grid).
// The narrow entry points take n ≤ 4 and the wide ones 4 < n ≤ 16: one
// kernel holding every instantiation would be given the registers of the
// widest (over 128 for gemv16_glu at 16 rows), and the one-row decode GEMVs
// would lose the occupancy their loads in flight need.
#define GEMV_BY_ROWS(CALL)           \
    if (WIDE) {                      \
        if (n <= 8) CALL(8);         \
        else CALL(16);               \
    } else {                         \
        switch (n) {                 \
        case 1: CALL(1); break;      \
        case 2: CALL(2); break;      \
        case 3: CALL(3); break;      \
        default: CALL(4); break;     \
        }                            \
    }

template <typename T, bool WIDE>
__device__ void gemv16(float* out, const float* x, const T* w, int n, int o, int k) {
#define GEMV16(N) gemv16_n<T, N>(out, x, w, n, o, k)
    GEMV_BY_ROWS(GEMV16)
#undef GEMV16
}

template <typename T, bool WIDE>
__device__ void gemv16x3(float* out0, const T* w0, int o0, float* out1, const T* w1, int o1, float* out2, const T* w2,
                         int o2, const float* x, int n, int k) {
#define GEMV16X3(N) gemv16x3_n<T, N>(out0, w0, o0, out1, w1, o1, out2, w2, o2, x, n, k)
    GEMV_BY_ROWS(GEMV16X3)
#undef GEMV16X3
}

template <typename T, bool WIDE>
__device__ void gemv16_glu(float* out, float* gate, float* up, const T* wg, const T* wu, const float* x, int n, int o, int k) {
#define GEMV16GLU(N) gemv16_glu_n<T, N>(out, gate, up, wg, wu, x, n, o, k)
    GEMV_BY_ROWS(GEMV16GLU)
#undef GEMV16GLU
}

// gemv_any: any k and storage type, one element per lane at a time; the path
// for f32 weights and for shapes the 16-byte kernel cannot take.
template <typename T>
__device__ void gemv_any(float* out, const float* x, const T* w, int n, int o, int k) {
    const int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (row >= o) return;
    const int lane = threadIdx.x & 31;
    const T* wr = w + (long)row * k;
    float acc[GEMV_MAX_ROWS] = {};
    for (int j = lane; j < k; j += 32) {
        const float wv = ld(wr, j);
#pragma unroll
        for (int r = 0; r < GEMV_MAX_ROWS; r++)
            if (r < n) acc[r] += wv * x[(long)r * k + j];
    }
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r >= n) break;
        const float s = warp_sum(acc[r]);
        if (lane == 0) out[(long)r * o + row] = s;
    }
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches GEMV_WARPS output rows per block (for
// gemv16x3, ⌈o_i/GEMV_WARPS⌉ blocks per matrix) and takes n ≤ GEMV_MAX_ROWS:
// the 16-byte kernels' narrow forms n ≤ 4, their wide forms (…w) 4 < n ≤ 16.

#define GEMV16_ENTRIES(SUF, WIDE)                                                                                            \
    extern "C" __global__ void gemv16##SUF##_bf16(float* out, const float* x, const bf16* w, int n, int o, int k) {           \
        gemv16<bf16, WIDE>(out, x, w, n, o, k);                                                                              \
    }                                                                                                                        \
    extern "C" __global__ void gemv16##SUF##_f16(float* out, const float* x, const fp16* w, int n, int o, int k) {            \
        gemv16<fp16, WIDE>(out, x, w, n, o, k);                                                                              \
    }                                                                                                                        \
    extern "C" __global__ void gemv16x3##SUF##_bf16(float* out0, const bf16* w0, int o0, float* out1, const bf16* w1, int o1, \
                                                    float* out2, const bf16* w2, int o2, const float* x, int n, int k) {    \
        gemv16x3<bf16, WIDE>(out0, w0, o0, out1, w1, o1, out2, w2, o2, x, n, k);                                             \
    }                                                                                                                        \
    extern "C" __global__ void gemv16x3##SUF##_f16(float* out0, const fp16* w0, int o0, float* out1, const fp16* w1, int o1, \
                                                   float* out2, const fp16* w2, int o2, const float* x, int n, int k) {     \
        gemv16x3<fp16, WIDE>(out0, w0, o0, out1, w1, o1, out2, w2, o2, x, n, k);                                             \
    }                                                                                                                        \
    extern "C" __global__ void gemv16_glu##SUF##_bf16(float* out, float* gate, float* up, const bf16* wg, const bf16* wu,     \
                                                      const float* x, int n, int o, int k) {                                 \
        gemv16_glu<bf16, WIDE>(out, gate, up, wg, wu, x, n, o, k);                                                           \
    }                                                                                                                        \
    extern "C" __global__ void gemv16_glu##SUF##_f16(float* out, float* gate, float* up, const fp16* wg, const fp16* wu,      \
                                                     const float* x, int n, int o, int k) {                                  \
        gemv16_glu<fp16, WIDE>(out, gate, up, wg, wu, x, n, o, k);                                                           \
    }

GEMV16_ENTRIES(, false)
GEMV16_ENTRIES(w, true)

extern "C" __global__ void gemv_f32(float* out, const float* x, const float* w, int n, int o, int k) { gemv_any(out, x, w, n, o, k); }
extern "C" __global__ void gemv_bf16(float* out, const float* x, const bf16* w, int n, int o, int k) { gemv_any(out, x, w, n, o, k); }
extern "C" __global__ void gemv_f16(float* out, const float* x, const fp16* w, int n, int o, int k) { gemv_any(out, x, w, n, o, k); }
