package cuda

import "github.com/ember-infer/ember/ember-core/device"

// cuBLAS enums Ember passes (cublas_api.h, library_types.h).
const (
	blasOpN = 0 // CUBLAS_OP_N
	blasOpT = 1 // CUBLAS_OP_T

	cudaR32F  = 0  // CUDA_R_32F
	cudaR16F  = 2  // CUDA_R_16F
	cudaR16BF = 14 // CUDA_R_16BF

	blasCompute32F = 68 // CUBLAS_COMPUTE_32F: f32 accumulation, no TF32 down-conversion
)

// cudaType maps a storage type to cuBLAS's data type.
func cudaType(dt device.DType) int32 {
	switch dt {
	case device.F16:
		return cudaR16F
	case device.BF16:
		return cudaR16BF
	}
	return cudaR32F
}

// gemmCall is a cublasGemmEx call's shape in cuBLAS's column-major terms:
// C (m×n, ldc) = op(A) (m×k) · op(B) (k×n).
type gemmCall struct {
	transa, transb int32
	m, n, k        int32
	lda, ldb, ldc  int32
}

// rowMajorXWt maps Ember's out [n, o] = x [n, k] · wᵀ, with w [o, k], all
// row-major, onto cuBLAS. A row-major matrix is its transpose in column-major
// terms, so with W = wᵀ (k×o, ld k), X = xᵀ (k×n, ld k) and C = outᵀ (o×n,
// ld o) the product is outᵀ = w · xᵀ, i.e. C = Wᵀ · X: A = w transposed, B = x
// as is, m = o, n = n. No copy or transpose of either operand is needed.
func rowMajorXWt(n, o, k int) gemmCall {
	return gemmCall{transa: blasOpT, transb: blasOpN, m: int32(o), n: int32(n), k: int32(k),
		lda: int32(k), ldb: int32(k), ldc: int32(o)}
}

// gemmOp builds the batch op for out = x · wᵀ. The operands' pointers are A =
// w (src), B = x (src2, already in w's storage type) and C = out (dst, f32).
func gemmOp(handle uint64, c gemmCall, w, x, out uint64, wt device.DType) op {
	t := cudaType(wt)
	return op{kind: opGemm, handle: handle, gemm: c, src: w, src2: x, dst: out,
		atype: t, btype: t, ctype: cudaR32F, compute: blasCompute32F, alpha: 1, beta: 0}
}
