package gpucheck

import (
	"fmt"
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/safetensors"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// Prefill attention on tensor cores (ember-cuda/kernels/attention_mma.cu):
// its op checks, and the benchmark's prefill attention and prefill total
// figures.

// mmaAttention are the tensor-core prefill checks, each run over an f16 and
// a bf16 cache: chunks of 16 (one warp's tile), 17 (a second warp with one
// row), 64 (one full block) and 100 (two blocks, the second partly empty), at
// start 0 and past it; starts that put the chunk's last keys just past a
// 64-key tile (63), on one (48 + 16 = 64) and on the next tile's first key
// (64); GQA ratios 1 and 4 (and Qwen3-4B's 32q/8kv on a GPU); head_dim 64
// and 128.
var mmaAttention = struct{ full, emulator []att }{
	full: []att{
		{8, 8, 64, 16, 0}, {8, 2, 128, 17, 0}, {8, 8, 128, 64, 0}, {8, 2, 64, 100, 0},
		{8, 8, 64, 16, 48}, {8, 2, 128, 17, 63}, {8, 2, 64, 64, 64}, {8, 8, 128, 100, 37},
		{16, 8, 128, 40, 130}, {32, 8, 128, 200, 300},
	},
	emulator: []att{
		{4, 4, 64, 16, 0}, {8, 2, 128, 17, 0}, {4, 4, 128, 64, 0}, {8, 2, 64, 100, 0},
		{4, 4, 64, 16, 48}, {8, 2, 128, 17, 63}, {8, 2, 64, 64, 64}, {4, 4, 128, 100, 37},
		{4, 2, 128, 40, 130},
	},
}

// mmaTolerance bounds |cuda − cpu| / max|v| for the tensor-core prefill,
// whose reference is the CPU's attention on q rounded to the cache's type (as
// the kernel rounds it; the products of two 16-bit values are then exact in
// f32 on both sides). What remains is P: each weight p is rounded to the
// cache's type for P·V while the row sum l keeps the unrounded f32 weights,
// so the output Σ p̃·v / l moves by at most u·max|v| (u, the unit roundoff:
// 2⁻⁸ bf16, 2⁻¹¹ f16). An f16 weight below 2⁻¹⁴ is subnormal and rounds to
// within 2⁻²⁵ absolute instead; l ≥ 1 (the row's largest weight is 1), so
// keys of them add at most keys·2⁻²⁵. 2⁻¹⁴ more covers f32 sums in another
// order and ex2.approx.
func mmaTolerance(dt device.DType, keys int) float64 {
	slack := math.Ldexp(1, -14)
	if dt == device.BF16 {
		return math.Ldexp(1, -8) + slack
	}
	return math.Ldexp(1, -11) + float64(keys)*math.Ldexp(1, -25) + slack
}

// roundTo returns v rounded to nearest even in dt (F16 or BF16), as f32.
func roundTo(dt device.DType, v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		if dt == device.BF16 {
			out[i] = safetensors.BF16ToF32(safetensors.F32ToBF16(x))
		} else {
			out[i] = safetensors.F16ToF32(safetensors.F32ToF16(x))
		}
	}
	return out
}

// checkPrefillMMA runs each mmaAttention case on the tensor-core path
// (AttentionWith refuses a case it would not take) against the CPU on q
// rounded to the cache's type, within mmaTolerance of max|v|.
func checkPrefillMMA(e *opEnv, cases []att) {
	for _, dt := range []device.DType{device.BF16, device.F16} {
		for _, a := range cases {
			ctx := a.start + a.n
			tol := mmaTolerance(dt, ctx)
			name := fmt.Sprintf("Attention prefill tensor cores %v %dq/%dkv×%d, %d queries at %d", dt, a.heads, a.kv, a.hd, a.n, a.start)
			e.run(name, func() error {
				kc, _, err := e.random(dt, 1, ctx, a.kv*a.hd)
				if err != nil {
					return err
				}
				vc, vs, err := e.random(dt, 1, ctx, a.kv*a.hd)
				if err != nil {
					return err
				}
				qv := make([]float32, a.n*a.heads*a.hd)
				for i := range qv {
					qv[i] = (e.r.Float32()*2 - 1) * 3
				}
				q, err := e.tensors(device.F32, nil, a.n, a.heads*a.hd)
				if err != nil {
					return err
				}
				if err := firstErr(e.g.Upload(q.g, qv), e.c.Upload(q.c, roundTo(dt, qv))); err != nil {
					return err
				}
				out, err := e.tensors(device.F32, nil, a.n, a.heads*a.hd)
				if err != nil {
					return err
				}
				err = both(func() error { return e.c.Attention(out.c, q.c, kc.c, vc.c, a.start, a.heads, a.kv, a.hd) },
					func() error {
						return e.g.AttentionWith(out.g, q.g, kc.g, vc.g, a.start, a.heads, a.kv, a.hd, cuda.PrefillTensorCores)
					})
				if err != nil {
					return err
				}
				got, want, err := e.floats(out)
				if err != nil {
					return err
				}
				vmax := 0.0
				for _, x := range roundTo(dt, vs) {
					vmax = max(vmax, math.Abs(float64(x)))
				}
				diff := 0.0
				for i := range want {
					d := math.Abs(float64(got[i]) - float64(want[i]))
					if d > diff || math.IsNaN(d) {
						diff = d
					}
				}
				rel := diff / vmax
				e.rep.check(rel <= tol, "%-58s err %.2e ≤ %.2e of max|v| (q, P rounded to %v)", name, rel, tol, dt)
				return nil
			})
		}
	}
}

// attentionFLOPs is the work of causal attention for chunk queries at
// positions start.. over the keys each sees: Q·Kᵀ and P·V, 2 flops per
// multiply-add each.
func attentionFLOPs(cfg *config.Config, start, chunk int) float64 {
	keys := float64(chunk)*float64(start) + float64(chunk)*float64(chunk+1)/2
	return 4 * keys * float64(cfg.HeadDim) * float64(cfg.NumAttentionHeads)
}

// prefillFLOPs is the work of a prefill of n tokens: the layers' matmuls (2
// flops per weight per token; the lm_head runs for the last token only) and
// attention.
func prefillFLOPs(cfg *config.Config, n int) float64 {
	h, q, kv, inter := float64(cfg.HiddenSize), float64(cfg.QDim()), float64(cfg.KVDim()), float64(cfg.IntermediateSize)
	perLayer := h*q + 2*h*kv + q*h + 3*h*inter
	layers := float64(cfg.NumHiddenLayers)
	return 2*perLayer*layers*float64(n) + 2*h*float64(cfg.VocabSize) + layers*attentionFLOPs(cfg, 0, n)
}

// benchPrefillAttention times one layer's prefill attention of a prompt of
// prompt tokens in chunks of chunk over a bf16 cache (the benchmark's
// benchPrompt and benchChunk) on tensor cores and on CUDA cores, then prints
// the whole prefill's rate (wall, measured by the caller) against gemmRate,
// plain cuBLAS's rate in the same run.
func benchPrefillAttention(rep *report, d *cuda.Device, cfg *config.Config, prompt, chunk int, wall time.Duration, gemmRate float64) {
	heads, kvh, hd := cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim
	kc, err1 := d.Alloc(device.BF16, prompt, kvh*hd)
	vc, err2 := d.Alloc(device.BF16, prompt, kvh*hd)
	q, err3 := d.Alloc(device.F32, chunk, heads*hd)
	out, err4 := d.Alloc(device.F32, chunk, heads*hd)
	defer func() {
		for _, t := range []device.Tensor{kc, vc, q, out} {
			if t != nil {
				d.Free(t)
			}
		}
	}()
	err := firstErr(err1, err2, err3, err4)
	if err == nil {
		err = firstErr(d.FillUniform(kc, 4, 0, 1), d.FillUniform(vc, 5, 0, 1), d.FillUniform(q, 6, 0, 1))
	}
	if err != nil {
		rep.fail("prefill attention", err)
		return
	}
	chunks := func(path cuda.PrefillPath) error {
		for start := 0; start < prompt; start += chunk {
			if err := d.AttentionWith(out, q, kc, vc, start, heads, kvh, hd, path); err != nil {
				return err
			}
		}
		return nil
	}
	flops := 0.0
	for start := 0; start < prompt; start += chunk {
		flops += attentionFLOPs(cfg, start, chunk)
	}
	tc, err := d.Time(benchReps, func() error { return chunks(cuda.PrefillTensorCores) })
	var cc time.Duration
	if err == nil {
		cc, err = d.Time(3, func() error { return chunks(cuda.PrefillCUDACores) })
	}
	if err != nil {
		rep.fail("prefill attention", err)
		return
	}
	rep.info("prefill attention (%dq/%dkv×%d, %d tokens in chunks of %d, one layer): tensor cores %.3f ms (%.1f TFLOP/s), CUDA cores %.3f ms (%.2f TFLOP/s): %.1f× faster",
		heads, kvh, hd, prompt, chunk, ms(tc), flops/tc.Seconds()/1e12, ms(cc), flops/cc.Seconds()/1e12, cc.Seconds()/tc.Seconds())
	total := prefillFLOPs(cfg, prompt) / wall.Seconds()
	frac := total / gemmRate
	rep.info("prefill total: %.1f TFLOP/s over %d tokens (matmuls and attention) = %.2f of plain cuBLAS's %.1f TFLOP/s in this run (target %.2f: %s)",
		total/1e12, prompt, frac, gemmRate/1e12, prefillTarget, verdict(frac >= prefillTarget))
}

// prefillTarget is the prefill's rate as a fraction of plain cuBLAS's.
const prefillTarget = 0.5
