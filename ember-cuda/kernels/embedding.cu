// embedding.cu: the token embedding gather, out[i] = table[ids[i]], widening
// the table's storage type to f32.

#include "common.cuh"

// ----------------------------------------------------------------------------
// kernels

// One block per token. An id outside the table leaves its row unchanged and
// raises a flag the host reports, since the ids live on the device and the
// host cannot check them without a sync.
template <typename T>
__device__ void embedding(float* out, const T* table, const int* ids, int hidden, int vocab, int* err) {
    const int row = blockIdx.x;
    const int id = ids[row];
    if (id < 0 || id >= vocab) {
        if (threadIdx.x == 0) atomicOr(err, EMBER_ERR_EMBEDDING_ID);
        return;
    }
    const T* src = table + (long)id * hidden;
    float* dst = out + (long)row * hidden;
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) dst[j] = ld(src, j);
}

// ----------------------------------------------------------------------------
// entry points; geometry.go launches one block of 256 threads per token.

extern "C" __global__ void embedding_f32(float* out, const float* table, const int* ids, int hidden, int vocab, int* err) { embedding(out, table, ids, hidden, vocab, err); }
extern "C" __global__ void embedding_bf16(float* out, const bf16* table, const int* ids, int hidden, int vocab, int* err) { embedding(out, table, ids, hidden, vocab, err); }
extern "C" __global__ void embedding_f16(float* out, const fp16* table, const int* ids, int hidden, int vocab, int* err) { embedding(out, table, ids, hidden, vocab, err); }
