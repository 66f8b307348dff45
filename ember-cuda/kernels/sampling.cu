// sampling.cu: choosing tokens on the device so that decode copies back a
// token id instead of a row of logits: argmax (greedy), top-k, the draw
// from the top-k candidates after temperature, top-p and min-p, and each
// row's log-sum-exp (the normalizer of token log-probabilities).
//
// Ranking follows the CPU reference: larger value first, NaN below every
// number (-Inf included), lower index first among equals.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// better reports whether (va, ia) ranks above (vb, ib). An index of -1 is "no
// candidate" and ranks below everything.
__device__ __forceinline__ bool better(float va, int ia, float vb, int ib) {
    if (ib < 0) return ia >= 0;
    if (ia < 0) return false;
    const bool an = va != va, bn = vb != vb;
    if (an != bn) return bn;
    if (!an && va != vb) return va > vb;
    return ia < ib;
}

// block_best reduces each thread's candidate to the block's best, returned to
// every thread. shared must hold 64 words.
__device__ __forceinline__ void block_best(float& v, int& i, float* sv, int* si) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) { v = ov; i = oi; }
    }
    if (lane == 0) { sv[warp] = v; si[warp] = i; }
    __syncthreads();
    v = lane < warps ? sv[lane] : 0.0f;
    i = lane < warps ? si[lane] : -1;
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) { v = ov; i = oi; }
    }
    __syncthreads();
}

// argmax_rows: one block per row. NaN never wins; a row of NaNs gives -1.
__device__ void argmax_rows(int* out, const float* x, int d) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = x + (long)blockIdx.x * d;
    float v = 0.0f;
    int i = -1;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const float xv = row[j];
        if (xv == xv && better(xv, j, v, i)) { v = xv; i = j; }
    }
    block_best(v, i, sv, si);
    if (threadIdx.x == 0) out[blockIdx.x] = i;
}

// topk_rows: one block per row, k rounds of "best element ranked strictly
// below the previous pick". It needs no workspace and is exact for any k; it
// costs k passes over the row, so it serves only k > TOPK_LOCAL.
__device__ void topk_rows(float* vals, int* idx, const float* x, int d, int k) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = x + (long)blockIdx.x * d;
    float pv = 0.0f;
    int pi = -1; // previous pick; -1 before the first
    for (int r = 0; r < k; r++) {
        float v = 0.0f;
        int i = -1;
        for (int j = threadIdx.x; j < d; j += blockDim.x) {
            const float xv = row[j];
            if ((pi < 0 || better(pv, pi, xv, j)) && better(xv, j, v, i)) { v = xv; i = j; }
        }
        block_best(v, i, sv, si);
        if (threadIdx.x == 0) {
            vals[(long)blockIdx.x * k + r] = v;
            idx[(long)blockIdx.x * k + r] = i;
        }
        pv = v;
        pi = i;
    }
}

// topk_rows_local: the same result for k ≤ TOPK_LOCAL in one pass over the
// row. Each thread keeps its own best k, sorted, as it reads its elements;
// then k block-wide rounds each take the best of the threads' list heads and
// advance the list it came from. better() is a strict total order, so the k
// picks and their order are exactly those of topk_rows.
#define TOPK_LOCAL 32
__device__ void topk_rows_local(float* vals, int* idx, const float* x, int d, int k) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = x + (long)blockIdx.x * d;
    float lv[TOPK_LOCAL];
    int li[TOPK_LOCAL];
    int n = 0; // entries in the list, at most k
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const float xv = row[j];
        if (n == k && !better(xv, j, lv[k - 1], li[k - 1])) continue;
        int p = n < k ? n++ : k - 1; // a free slot, or the worst entry's
        while (p > 0 && better(xv, j, lv[p - 1], li[p - 1])) {
            lv[p] = lv[p - 1];
            li[p] = li[p - 1];
            p--;
        }
        lv[p] = xv;
        li[p] = j;
    }
    int head = 0;
    for (int r = 0; r < k; r++) {
        float v = head < n ? lv[head] : 0.0f;
        int i = head < n ? li[head] : -1;
        block_best(v, i, sv, si);
        if (threadIdx.x == 0) {
            vals[(long)blockIdx.x * k + r] = v;
            idx[(long)blockIdx.x * k + r] = i;
        }
        if (head < n && li[head] == i) head++; // indices are unique: only the owner advances
    }
}

// weight is a candidate's softmax weight relative to the best scaled logit
// m: 1 at the maximum (+Inf included), 0 for NaN, which the host sampler
// turns into -Inf (exp would make it NaN and poison every sum).
__device__ __forceinline__ double weight(float s, double m) {
    if ((double)s == m) return 1.0;
    if (s != s) return 0.0;
    return exp((double)s - m);
}

// sample_sorted draws one token from k candidates sorted best first (the
// output of topk_rows): logits divided by temp, then top-p (the smallest prefix
// whose mass reaches top_p; off at 0 or 1), then min-p (drop weights below
// min_p times the largest; off at 0), then a draw with the host's uniform u in
// [0, 1). It runs on one thread: k is small and the sums want one order (f64,
// best first) to match the host sampler. When the best candidate is -Inf or
// NaN, so is every logit of the row, and the host sampler answers its argmax
// with NaN read as -Inf: index 0.
__device__ void sample_sorted(int* out, const float* vals, const int* idx, int k, float temp, float top_p, float min_p, double u) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const double m = (double)(vals[0] / temp);
    if (!(m > -INFINITY)) {
        out[0] = 0;
        return;
    }
    double z = 0.0;
    for (int j = 0; j < k; j++) z += weight(vals[j] / temp, m);
    int kept = k;
    if (top_p > 0.0f && top_p < 1.0f) {
        const double target = (double)top_p * z;
        double cum = 0.0;
        for (int j = 0; j < k; j++) {
            cum += weight(vals[j] / temp, m);
            if (cum >= target) { kept = j + 1; break; }
        }
    }
    if (min_p > 0.0f) {
        const double floor = m + log((double)min_p);
        int j = 1;
        while (j < kept && (double)(vals[j] / temp) >= floor) j++;
        kept = j;
    }
    double zk = 0.0;
    for (int j = 0; j < kept; j++) zk += weight(vals[j] / temp, m);
    const double target = u * zk;
    double cum = 0.0;
    int pick = idx[0];
    for (int j = 0; j < kept; j++) {
        const double w = weight(vals[j] / temp, m);
        if (w == 0.0) continue;
        cum += w;
        pick = idx[j];
        if (target < cum) break;
    }
    out[0] = pick;
}

// logsumexp_rows: one block per row, out = log Σ exp(x) in two passes over
// the row: the largest number m (NaN never compares greater), then Σ
// exp(x - m) with the exponentials in f32 and the sum in f64, as the CPU
// backend computes it, so the result is within a few f32 ulps of the exact
// value. NaN entries weigh nothing; a row with nothing above -Inf gives -Inf
// and a row holding +Inf gives +Inf (m itself, uniform over the block).
__device__ void logsumexp_rows(float* out, const float* x, int d) {
    __shared__ float sm[32];
    __shared__ double sd[32];
    const float* row = x + (long)blockIdx.x * d;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const float v = row[j];
        if (v > m) m = v;
    }
    m = warp_max(m);
    if (lane == 0) sm[warp] = m;
    __syncthreads();
    m = warp_max(lane < warps ? sm[lane] : -INFINITY);
    if (!(m > -INFINITY) || m == INFINITY) {
        if (threadIdx.x == 0) out[blockIdx.x] = m;
        return;
    }
    double s = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        const float v = row[j];
        if (v == v) s += (double)expf(v - m); // -Inf gives 0
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) sd[warp] = s;
    __syncthreads();
    s = lane < warps ? sd[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (threadIdx.x == 0) out[blockIdx.x] = (float)((double)m + log(s));
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches one 1024-thread block per row (argmax,
// topk, logsumexp) and a single thread for the draw.

extern "C" __global__ void argmax_rows_f32(int* out, const float* x, int d) { argmax_rows(out, x, d); }
extern "C" __global__ void topk_rows_f32(float* vals, int* idx, const float* x, int d, int k) {
    if (k <= TOPK_LOCAL)
        topk_rows_local(vals, idx, x, d, k);
    else
        topk_rows(vals, idx, x, d, k);
}
extern "C" __global__ void sample_sorted_f32(int* out, const float* vals, const int* idx, int k, float temp, float top_p, float min_p, double u) {
    sample_sorted(out, vals, idx, k, temp, top_p, min_p, u);
}
extern "C" __global__ void logsumexp_rows_f32(float* out, const float* x, int d) { logsumexp_rows(out, x, d); }
