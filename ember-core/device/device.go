// Package device is the small interface the Qwen3 model is written against.
//
// A Device owns memory with a byte budget, moves bytes to and from the host and
// other devices, and runs the dozen ops Qwen3 needs. Backends (the pure-Go CPU
// reference in ember-core/cpu, CUDA in ember-cuda) implement it; the model, the
// layer split, the chunked pipeline and the profiling are written once over it.
// The operand checks every backend makes before an op runs (CheckOperand and
// the per-op Check functions) are written once here too, so that a bad call
// gets the same message on every device.
//
// Conventions every backend follows:
//   - Activations are F32. Weights may be F32, F16 or BF16; a KV cache may be F32,
//     F16 or BF16. Token ids and positions are I32.
//   - Matrices are row-major; a weight w of shape [out, in] is applied as
//     out = x · wᵀ, as Hugging Face stores nn.Linear weights.
//   - Ops may run asynchronously in issue order on the device; Download and Sync
//     wait for everything issued before them.
//   - Every op adds its time to the stage last set with SetStage, except the
//     transfers, which always count as memcpy_h2d, memcpy_d2h or p2p.
package device

import (
	"errors"
	"fmt"
	"time"
)

// DType is the element type of a tensor in device memory.
type DType uint8

// The element types devices store.
const (
	F32 DType = iota
	F16
	BF16
	I32
)

// Size returns the bytes per element.
func (d DType) Size() int {
	switch d {
	case F16, BF16:
		return 2
	default:
		return 4
	}
}

// String returns the safetensors-style name (F32, F16, BF16, I32).
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	case I32:
		return "I32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ParseDType maps F32/F16/BF16/I32 (any case; also float32/float16/bfloat16) to a DType.
func ParseDType(s string) (DType, error) {
	switch s {
	case "F32", "f32", "float32":
		return F32, nil
	case "F16", "f16", "float16", "fp16":
		return F16, nil
	case "BF16", "bf16", "bfloat16":
		return BF16, nil
	case "I32", "i32", "int32":
		return I32, nil
	}
	return 0, fmt.Errorf("unknown dtype %q, want F32, F16 or BF16", s)
}

// Tensor is a handle to memory on one device. Backends return their own types;
// ops of a backend accept only that backend's tensors.
type Tensor interface {
	DType() DType
	// Shape is the logical shape; the last dimension is contiguous. Callers
	// must not modify the returned slice.
	Shape() []int
	// Bytes is the memory the tensor holds against its device's budget (0 for a view).
	Bytes() int64
	// Device is the device the memory lives on.
	Device() Device
}

// Elems returns the number of elements of shape.
func Elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Rows returns the product of all but the last dimension of t, and the last dimension.
func Rows(t Tensor) (rows, cols int) {
	s := t.Shape()
	if len(s) == 0 {
		return 1, 1
	}
	return Elems(s[:len(s)-1]), s[len(s)-1]
}

// Device is one compute device with its own memory: a GPU, or a logical CPU device.
type Device interface {
	// Name identifies the device in messages, e.g. "cpu:0" or "cuda:1".
	Name() string
	// MemInfo returns the device's budget and what is still free of it. A
	// device without a budget reports total = math.MaxInt64.
	MemInfo() (total, free int64)

	// Alloc reserves a zeroed tensor; it fails with *OutOfMemoryError when the
	// budget cannot hold it.
	Alloc(dt DType, shape ...int) (Tensor, error)
	// LoadWeight places a read-only weight on the device from host bytes in dt's
	// little-endian layout. The CPU backend keeps a view of data (the mmap), so
	// data must outlive the tensor; other backends copy. It counts against the
	// budget like Alloc. Weights are read-only: ops refuse to write them.
	LoadWeight(name string, dt DType, data []byte, shape ...int) (Tensor, error)
	// Free returns t's memory to the budget. Freeing twice is a no-op. Freeing a
	// view is a no-op.
	Free(t Tensor)
	// View returns rows [row, row+n) of t's first dimension as a tensor sharing
	// t's memory (no budget is used). Chunks of a workspace sized for the
	// largest chunk, and decode steps, run on views.
	View(t Tensor, row, n int) (Tensor, error)

	// Upload copies host values into t: []float32 for F32, F16 and BF16 tensors
	// (converted to t's dtype), []int32 for I32.
	Upload(dst Tensor, src any) error
	// Download copies t into dst ([]float32 for F32/F16/BF16 tensors, []int32 for I32),
	// waiting for all work issued before it.
	Download(dst any, src Tensor) error
	// CopyFrom copies src, which may live on another device, into dst (same dtype
	// and element count), counted as p2p. The copy happens after all work issued
	// earlier on both devices; asynchronous backends order it with events.
	CopyFrom(dst, src Tensor) error
	// Sync waits until all work issued on the device is done.
	Sync() error

	// SetStage names the stage that the following ops' time counts towards.
	SetStage(s Stage)
	// Timings returns the time spent per stage since the last ResetTimings.
	Timings() Timings
	// ResetTimings zeroes the stage timers.
	ResetTimings()

	Ops
}

// Ops are the compute ops the Qwen3 forward pass needs. Shapes use n for rows
// (tokens of a chunk). Outputs may not alias inputs unless the op says so.
type Ops interface {
	// Embedding gathers rows: out[i] = table[ids[i]]. table [vocab, hidden] any
	// float dtype, ids I32 [n], out F32 [n, hidden].
	Embedding(out, table, ids Tensor) error
	// RMSNorm: out[i] = x[i] / sqrt(mean(x[i]²) + eps) * w. x, out F32 [n, d]; w [d].
	// out may alias x.
	RMSNorm(out, x, w Tensor, eps float32) error
	// HeadRMSNorm applies RMSNorm with weight w [headDim] to every headDim-wide
	// slice of each row of x, in place (Qwen3's q_norm and k_norm).
	HeadRMSNorm(x, w Tensor, headDim int, eps float32) error
	// MatMul: out [n, o] = x [n, k] · wᵀ with w [o, k].
	MatMul(out, x, w Tensor) error
	// RoPE rotates each headDim-wide slice of each row of x in place, NeoX style
	// (pairs (j, j+headDim/2)), row i at position pos[i] (I32 [n]), with
	// frequencies theta^(-2j/headDim).
	RoPE(x Tensor, headDim int, pos Tensor, theta float64) error
	// KVAppend writes k and v (F32 [n, kvDim]) into rows start..start+n-1 of the
	// caches kc and vc ([ctx, kvDim], F32/F16/BF16).
	KVAppend(kc, vc, k, v Tensor, start int) error
	// Attention is causal grouped-query attention of a chunk of n queries
	// (q F32 [n, heads*headDim]) at positions start..start+n-1 over cache rows
	// 0..start+n-1 of kc, vc ([ctx, kvHeads*headDim]); query head h reads kv head
	// h/(heads/kvHeads); scores are scaled by 1/sqrt(headDim). out F32 [n, heads*headDim].
	Attention(out, q, kc, vc Tensor, start, heads, kvHeads, headDim int) error
	// SiLUMul: out = silu(gate) * up, elementwise. out may alias gate or up.
	SiLUMul(out, gate, up Tensor) error
	// Add: out = a + b, elementwise. out may alias a or b.
	Add(out, a, b Tensor) error
	// ArgMax writes, for each row of x (F32 [n, d]), the index of its largest
	// value (first on ties; NaN never wins; -1 for a row of NaNs) into out (I32 [n]).
	ArgMax(out, x Tensor) error
	// TopK writes the k largest values of each row of x, descending (ties by lower
	// index), into vals (F32 [n, k]) and their indices into idx (I32 [n, k]).
	TopK(vals, idx, x Tensor, k int) error
}

// OutOfMemoryError is returned when a device's budget cannot hold an allocation.
type OutOfMemoryError struct {
	Device    string
	Requested int64
	Free      int64
	Total     int64
	What      string // what was being allocated, if known
}

func (e *OutOfMemoryError) Error() string {
	what := ""
	if e.What != "" {
		what = " for " + e.What
	}
	return fmt.Sprintf("out of memory on %s: requested %d bytes%s but only %d of %d are free",
		e.Device, e.Requested, what, e.Free, e.Total)
}

// Is makes errors.Is(err, ErrOutOfMemory) true for any *OutOfMemoryError.
func (e *OutOfMemoryError) Is(target error) bool { return target == ErrOutOfMemory }

// ErrOutOfMemory matches every *OutOfMemoryError with errors.Is.
var ErrOutOfMemory = errors.New("out of memory")

// ErrUnavailable is wrapped when a backend cannot be used on this machine (no
// driver, no device). Sweeps retry runs that fail with it.
var ErrUnavailable = errors.New("runtime unavailable")

// Stage is one of the buckets that time is attributed to.
type Stage uint8

// The stages of the report rows (docs/design.md), in column order.
const (
	StageEmbedding Stage = iota
	StageRMSNorm
	StageAttention
	StageFFN
	StageP2P
	StageMemcpyH2D
	StageMemcpyD2H
	StageSampling
	StageLMHead
	NumStages
)

var stageNames = [NumStages]string{"embedding", "rmsnorm", "attention", "ffn", "p2p", "memcpy_h2d", "memcpy_d2h", "sampling", "lm_head"}

// String returns the stage's report name, e.g. "memcpy_h2d".
func (s Stage) String() string {
	if s < NumStages {
		return stageNames[s]
	}
	return fmt.Sprintf("Stage(%d)", uint8(s))
}

// Timings holds time per stage.
type Timings [NumStages]time.Duration

// Add adds o into t.
func (t *Timings) Add(o Timings) {
	for i := range t {
		t[i] += o[i]
	}
}

// Total is the sum over all stages.
func (t Timings) Total() time.Duration {
	var d time.Duration
	for _, v := range t {
		d += v
	}
	return d
}

// Compute is embedding + rmsnorm + attention + ffn + lm_head (+ sampling is not compute).
func (t Timings) Compute() time.Duration {
	return t[StageEmbedding] + t[StageRMSNorm] + t[StageAttention] + t[StageFFN] + t[StageLMHead]
}

// Transfer is p2p + memcpy_h2d + memcpy_d2h.
func (t Timings) Transfer() time.Duration {
	return t[StageP2P] + t[StageMemcpyH2D] + t[StageMemcpyD2H]
}

// ResidualNormer is offered by devices that fuse a residual add with the
// RMSNorm that follows it: x += r, then out = RMSNorm(x) · w, in one pass. x
// and r are F32 [n, d]; out may alias r but not x. The model uses it where a
// device offers it and falls back to Add then RMSNorm elsewhere.
type ResidualNormer interface {
	AddRMSNorm(out, x, r, w Tensor, eps float32) error
}

// TokenSampler is offered by devices that can draw a token on the device from
// the k best candidates TopK left in vals (F32 [1, k]) and idx (I32 [1, k]):
// logits divided by temp, then top-p (0 or 1: off) and min-p (0: off), then
// the draw with u, uniform in [0, 1) from the host's seeded generator. The
// token id goes to out (I32 [1]), so sampled decode copies back 4 bytes, not
// the logits.
type TokenSampler interface {
	SampleSorted(out, vals, idx Tensor, temp, topP, minP float32, u float64) error
}

// LogSumExper is offered by devices that reduce rows of logits on the device:
// out[i] = log Σ_j exp(x[i][j]) for x F32 [n, d] and out F32 [n]. NaN entries
// weigh nothing (as in sampling); a row with no number above -Inf gives -Inf.
// With TopK it gives token log-probabilities (x[i][j] − out[i]) while only k
// values and one normalizer per row cross back to the host. The model falls
// back to downloading the logits where a device lacks it.
type LogSumExper interface {
	LogSumExp(out, x Tensor) error
}

// QKVProjector is offered by devices that multiply one input by three weights
// in one op: a = x·waᵀ, b = x·wbᵀ, c = x·wcᵀ (each as MatMul), so that
// attention's Q, K and V projections cost one hand-out to the device's
// threads, not three. The outputs may not overlap each other or the inputs.
// Each output has exactly the bits MatMul gives it.
type QKVProjector interface {
	MatMulQKV(a, b, c, x, wa, wb, wc Tensor) error
}

// SwiGLUProjector is offered by devices that compute the MLP's gated
// activation in one op: out = silu(x·gateᵀ) ⊙ (x·upᵀ), gate and up of one
// shape, with exactly the bits of MatMul, MatMul and SiLUMul in turn. out may
// not alias the inputs. scratch is F32 shaped as out and apart from every
// other operand, or nil: a device may overwrite it (ember-cuda puts x·upᵀ
// there when the op runs unfused, a prefill's) and refuses a nil one where it
// needs it; the CPU backend never does.
type SwiGLUProjector interface {
	MatMulSwiGLU(out, x, gate, up, scratch Tensor) error
}

// QKRoPEAppender is offered by devices that finish attention's inputs in one
// op: HeadRMSNorm(q, qw, headDim, eps), HeadRMSNorm(k, kw, headDim, eps),
// RoPE(q, headDim, pos, theta), RoPE(k, headDim, pos, theta), then
// KVAppend(kc, vc, k, v, start), each operand checked as that op checks it,
// with exactly those ops' results in q, k and the caches. A decode step's
// host then issues one op for what takes five elsewhere. The model uses it
// on one-sequence chunks where a device offers it.
type QKRoPEAppender interface {
	QKRoPEAppend(q, k, v, qw, kw, pos, kc, vc Tensor, headDim int, eps float32, theta float64, start int) error
}

// BatchAttender is offered by devices that run decode attention for several
// sequences in one op, as a batched decode step needs: row i of q (F32
// [B, heads·headDim]) is one query at position starts[i] over rows
// 0 … starts[i] of its own caches kc[i] and vc[i], and its result goes to row
// i of out (F32, shaped as q, apart from every input). pos (I32 [B], on the
// device) must hold starts: a device may read the positions there, so that a
// replayed graph sees each step's. Row i gets exactly the bits Attention(out
// row i, q row i, kc[i], vc[i], starts[i], …) gives it. The model uses it on
// batched steps where a device offers it and falls back to one Attention per
// row elsewhere.
type BatchAttender interface {
	BatchAttention(out, q, pos Tensor, kc, vc []Tensor, starts []int, heads, kvHeads, headDim int) error
}
