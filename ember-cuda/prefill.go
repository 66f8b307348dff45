package cuda

import (
	"fmt"

	"github.com/ember-infer/ember/ember-core/device"
)

// Prefill attention on tensor cores (kernels/attention_mma.cu). Attention
// takes it for chunks that fill a tile over f16 and bf16 caches at the head
// sizes it is built for; smaller chunks, f32 caches and other head sizes run
// attn_prefill on CUDA cores.

// mmaHeadDims are the head_dim instantiations of attn_prefill_mma.
var mmaHeadDims = [...]int{64, 128}

const (
	mmaWarps = 4             // MMA_WARPS
	mmaBQ    = 16 * mmaWarps // MMA_BQ: query rows per block
	// mmaMinQueries is the smallest chunk that goes to the tensor cores: one
	// warp's 16 rows. Below it most of an m16 tile would be padding.
	mmaMinQueries = 16
)

func mmaPrefillName(dt device.DType, hd int) string {
	return fmt.Sprintf("attn_prefill_mma_%s_h%d", storage[dt], hd)
}

func mmaPrefillNames() []string {
	var out []string
	for _, dt := range []device.DType{device.BF16, device.F16} {
		for _, hd := range mmaHeadDims {
			out = append(out, mmaPrefillName(dt, hd))
		}
	}
	return out
}

// mmaHeadIndex returns the index of headDim in mmaHeadDims, -1 if none.
func mmaHeadIndex(headDim int) int {
	for i, hd := range mmaHeadDims {
		if hd == headDim {
			return i
		}
	}
	return -1
}

// mmaPrefillOK reports whether attn_prefill_mma can take a prefill: n ≥
// mmaMinQueries queries, a 16-bit cache, a head size it is built for, caches
// 16-byte aligned (cp.async copies 16 bytes) and q and out 8-byte aligned
// (pairs of f32).
func mmaPrefillOK(n, headDim int, dt device.DType, q, out, kc, vc uint64) bool {
	return n >= mmaMinQueries && (dt == device.BF16 || dt == device.F16) && mmaHeadIndex(headDim) >= 0 &&
		kc%16 == 0 && vc%16 == 0 && q%8 == 0 && out%8 == 0
}

// mmaPrefillGrid returns the grid of attn_prefill_mma: one block per (tile of
// mmaBQ queries, head).
func mmaPrefillGrid(n, heads int) dim3 {
	return dim3{uint32((n + mmaBQ - 1) / mmaBQ), uint32(heads), 1}
}

// PrefillPath picks the kernel AttentionWith runs a chunk of several queries
// with.
type PrefillPath int

// The prefill attention paths.
const (
	prefillAuto PrefillPath = iota
	// PrefillCUDACores is attn_prefill, on CUDA cores, for every cache type
	// and head size.
	PrefillCUDACores
	// PrefillTensorCores is attn_prefill_mma (mmaPrefillOK says when).
	PrefillTensorCores
)

// AttentionWith is Attention with the prefill kernel chosen, for benchmarks
// and checks; a single query always runs the decode kernel.
func (d *Device) AttentionWith(out, q, kc, vc device.Tensor, start, heads, kvHeads, headDim int, path PrefillPath) error {
	return d.attention("AttentionWith", out, q, kc, vc, start, heads, kvHeads, headDim, path)
}

// prefillMMA issues attn_prefill_mma when path allows it and the operands
// suit it; ok is false when the CUDA-core kernel should run instead.
func (d *Device) prefillMMA(op string, ot, qt, kct, vct *tensor, start, heads, kvHeads, headDim int, scale float32, path PrefillPath) (ok bool, err error) {
	n := qt.rows
	fits := mmaPrefillOK(n, headDim, kct.dt, qt.ptr, ot.ptr, kct.ptr, vct.ptr)
	switch {
	case path == PrefillCUDACores || path == prefillAuto && !fits:
		return false, nil
	case !fits:
		return true, d.errorf(op, "the tensor-core prefill takes at least %d queries over an f16 or bf16 cache with head_dim %v and aligned operands, not %d queries over %v with head_dim %d",
			mmaMinQueries, mmaHeadDims, n, kct.dt, headDim)
	}
	fn := d.phys.mods.mma[kct.dt][mmaHeadIndex(headDim)]
	return true, d.issue(false, func(s *segment) {
		k := s.launch(fn, mmaPrefillGrid(n, heads), dim3{32 * mmaWarps, 1, 1}, 0)
		k.tensor(ot).tensor(qt).tensor(kct).tensor(vct).i32(n).i32(heads).i32(kvHeads).start(start).f32(scale).done()
	})
}
