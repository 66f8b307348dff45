package gpucheck

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/memplan"
	"github.com/ember-infer/ember/ember-core/qwen3"
	"github.com/ember-infer/ember/ember-core/snapshot"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// The benchmark's workload: Qwen3-4B shapes, a 2048-token prompt, decode at
// context 2048.
const (
	benchModel  = "Qwen3-4B-Instruct-2507"
	benchPrompt = 2048
	benchChunk  = 512
	benchDecode = 64 // measured decode steps, after benchWarmup
	benchWarmup = 4  // the first steps run plain, then get captured
	benchReps   = 20
	// benchStageSteps decode steps run with stage timing on, for the stage breakdown
	benchStageSteps = 8
	launchTarget    = 300  // kernel launches per Qwen3-4B decode token
	decodeTarget    = 0.85 // of the bandwidth bound
	gemmTarget      = 0.5  // of plain cuBLAS
)

// genDevice loads weights by generating them on the device instead of
// copying them: 8 GB of Qwen3-4B weights need no file and no upload.
type genDevice struct{ *cuda.Device }

func (g genDevice) LoadWeight(name string, dt device.DType, _ []byte, shape ...int) (device.Tensor, error) {
	t, err := g.NewWeight(name, dt, shape...)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	offset, scale := float32(0), float32(0.02)
	if strings.HasSuffix(name, "norm.weight") {
		offset, scale = 1, 0.05
	}
	if err := g.FillUniform(t, h.Sum64(), offset, scale); err != nil {
		g.Free(t)
		return nil, err
	}
	return t, nil
}

// shapeSource serves every tensor of a config by shape only; genDevice makes the data.
type shapeSource map[string][]int

func newShapeSource(c *config.Config) shapeSource {
	s := shapeSource{}
	for _, sp := range append(snapshot.Expected(c), snapshot.LMHeadSpec(c)) {
		sh := make([]int, len(sp.Shape))
		for i, d := range sp.Shape {
			sh[i] = int(d)
		}
		s[sp.Name] = sh
	}
	return s
}

func (s shapeSource) Weight(name string) (device.DType, []int, []byte, error) {
	sh, ok := s[name]
	if !ok {
		return 0, nil, nil, fmt.Errorf("no tensor %q", name)
	}
	return device.BF16, sh, nil, nil
}

func benchmark(rep *report, ordinal int) {
	p, _ := memplan.LookupPreset(benchModel)
	cfg := &p.Config
	devs, err := cuda.Open([]int{ordinal}, nil)
	if err != nil {
		rep.fail("benchmark", err)
		return
	}
	d := devs[0]
	defer d.Close()
	need := p.Model().ResidentBytes(1) + int64(cfg.NumHiddenLayers)*int64(benchPrompt+benchDecode+benchWarmup+benchStageSteps+1)*int64(cfg.KVDim())*2*2 + 2<<30
	if _, free := d.MemInfo(); free < need {
		rep.info("benchmark skipped: %s needs about %s on the GPU, %s is free", benchModel, memplan.FormatSize(need), memplan.FormatSize(free))
		return
	}
	rep.info("model: %s shapes, bf16 weights generated on the device, bf16 KV cache", benchModel)

	bw, err := copyBandwidth(d)
	if err != nil {
		rep.fail("D2D bandwidth", err)
		return
	}
	rep.info("D2D copy bandwidth: %.1f GB/s (read + write, 1 GiB copies)", bw/1e9)

	m, err := qwen3.Load(cfg, newShapeSource(cfg), []device.Device{genDevice{d}}, []int{cfg.NumHiddenLayers})
	if err != nil {
		rep.fail("benchmark: loading weights", err)
		return
	}
	defer m.Close()
	s, err := m.NewSession(qwen3.SessionOptions{Ctx: benchPrompt + benchWarmup + benchDecode + benchStageSteps + 1, Chunk: benchChunk, KVDType: device.BF16})
	if err != nil {
		rep.fail("benchmark: session", err)
		return
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(7, 7))
	prompt := make([]int32, benchPrompt)
	for i := range prompt {
		prompt[i] = r.Int32N(int32(cfg.VocabSize))
	}
	// Warm-up prefill (JIT, cuBLAS heuristics), then the measured one.
	if _, err := s.Prefill(prompt[:benchChunk]); err != nil {
		rep.fail("benchmark: prefill", err)
		return
	}
	s.Reset()
	st, err := s.Prefill(prompt)
	if err != nil {
		rep.fail("benchmark: prefill", err)
		return
	}
	rep.info("prefill: %.1f tok/s (%d tokens in chunks of %d, %.1f ms)", float64(benchPrompt)/st.Wall.Seconds(), benchPrompt, benchChunk, ms(st.Wall))
	next := int32(0)
	for range benchWarmup {
		if next, _, err = s.DecodeGreedy(next); err != nil {
			rep.fail("benchmark: decode", err)
			return
		}
	}
	var wall time.Duration
	steps0, kernels0, events0, host0 := d.DecodeStepStats()
	for range benchDecode {
		var ds qwen3.Stats
		if next, ds, err = s.DecodeGreedy(next); err != nil {
			rep.fail("benchmark: decode", err)
			return
		}
		wall += ds.Wall
	}
	steps, kernels, events, host := d.DecodeStepStats()
	steps, kernels, events, host = steps-steps0, kernels-kernels0, events-events0, host-host0
	// The stage breakdown comes from a few more steps with stage timing on:
	// its events are graph nodes of their own, left out of the timed steps.
	var stages device.Timings
	d.SetStageTiming(true)
	for range benchStageSteps {
		var ds qwen3.Stats
		if next, ds, err = s.DecodeGreedy(next); err != nil {
			d.SetStageTiming(false)
			rep.fail("benchmark: decode", err)
			return
		}
		stages.Add(ds.Stages)
	}
	d.SetStageTiming(false)
	perTok := wall / benchDecode
	weights := int64(0)
	for _, l := range m.Layers {
		for _, t := range []device.Tensor{l.InputNorm, l.Q, l.K, l.V, l.QNorm, l.KNorm, l.O, l.PostNorm, l.Gate, l.Up, l.Down} {
			weights += t.Bytes()
		}
	}
	weights += m.Norm.Bytes() + m.LMHead.Bytes()
	ctx := int64(benchPrompt + benchWarmup + benchDecode/2)
	kv := int64(cfg.NumHiddenLayers) * ctx * int64(cfg.KVDim()) * 2 * 2
	bound := time.Duration(float64(weights+kv) / bw * float64(time.Second))
	frac := bound.Seconds() / perTok.Seconds()
	rep.info("decode at context %d: %.1f tok/s (%.2f ms/token; stages per token, %d more steps timed by stage: %s)",
		benchPrompt, 1/perTok.Seconds(), ms(perTok), benchStageSteps, stageLine(stages, benchStageSteps))
	perTokKernels := kernels / benchDecode
	rep.info("decode work per token: %d kernel launches (target ≤ %d: %s) and %d timing events in %d step(s); host time %.1f µs per step, first op to launch",
		perTokKernels, launchTarget, verdict(perTokKernels <= launchTarget), events/benchDecode, steps/benchDecode,
		float64(host)/1e3/float64(max(steps, 1)))
	rep.info("decode bandwidth bound: %s weights + %s KV per token at %.1f GB/s = %.2f ms/token; decode reaches %.2f of it (target %.2f: %s)",
		memplan.FormatSize(weights), memplan.FormatSize(kv), bw/1e9, ms(bound), frac, decodeTarget, verdict(frac >= decodeTarget))
	plain, captured, replays, failures := d.GraphStats()
	rep.info("decode graphs: %d plain steps, %d captured, %d replays, %d failed captures", plain, captured, replays, failures)
	rep.check(replays > 0 || failures > 0, "decode steps replay CUDA graphs (or fall back when capture fails)")

	gemvVsCUBLAS(rep, d, m, cfg)
	if rate := prefillGEMMs(rep, d, cfg); rate > 0 {
		benchPrefillAttention(rep, d, cfg, benchPrompt, benchChunk, st.Wall, rate)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "below target"
}

func stageLine(t device.Timings, n int) string {
	var parts []string
	for s := device.Stage(0); s < device.NumStages; s++ {
		if t[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.3f ms", s, ms(t[s])/float64(n)))
		}
	}
	return strings.Join(parts, ", ")
}

// copyBandwidth measures device-to-device copies of 1 GiB: bytes read plus
// bytes written per second, the DRAM traffic decode is bound by.
func copyBandwidth(d *cuda.Device) (float64, error) {
	const n = 1 << 28 // floats: 1 GiB
	a, err := d.Alloc(device.F32, n)
	if err != nil {
		return 0, err
	}
	defer d.Free(a)
	b, err := d.Alloc(device.F32, n)
	if err != nil {
		return 0, err
	}
	defer d.Free(b)
	if err := d.CopyFrom(b, a); err != nil { // warm-up
		return 0, err
	}
	t, err := d.Time(10, func() error { return d.CopyFrom(b, a) })
	if err != nil {
		return 0, err
	}
	return 2 * 4 * n / t.Seconds(), nil
}

// gemvVsCUBLAS times the decode matmuls of the model both ways.
func gemvVsCUBLAS(rep *report, d *cuda.Device, m *qwen3.Model, cfg *config.Config) {
	l := m.Layers[0]
	shapes := []struct {
		name string
		w    device.Tensor
	}{{"q_proj", l.Q}, {"k_proj", l.K}, {"o_proj", l.O}, {"gate_proj", l.Gate}, {"down_proj", l.Down}, {"lm_head", m.LMHead}}
	for _, sh := range shapes {
		o, k := sh.w.Shape()[0], sh.w.Shape()[1]
		x, err := d.Alloc(device.F32, 1, k)
		if err != nil {
			rep.fail("GEMV vs cuBLAS", err)
			return
		}
		out, err := d.Alloc(device.F32, 1, o)
		if err != nil {
			d.Free(x)
			rep.fail("GEMV vs cuBLAS", err)
			return
		}
		tg, err1 := d.Time(benchReps, func() error { return d.MatMulWith(out, x, sh.w, cuda.PathGEMV) })
		tc, err2 := d.Time(benchReps, func() error { return d.MatMulWith(out, x, sh.w, cuda.PathCUBLAS) })
		d.Free(x)
		d.Free(out)
		if err := firstErr(err1, err2); err != nil {
			rep.fail("GEMV vs cuBLAS "+sh.name, err)
			return
		}
		gbs := float64(sh.w.Bytes()) / tg.Seconds() / 1e9
		rep.info("decode %-9s [%6d %5d]: GEMV %.1f µs (%.0f GB/s), cuBLAS %.1f µs: cuBLAS/GEMV %.2f", sh.name, o, k,
			float64(tg)/1e3, gbs, float64(tc)/1e3, tc.Seconds()/tg.Seconds())
	}
	for shape, gemv := range d.DecodeChoices() {
		pick := "cuBLAS"
		if gemv {
			pick = "GEMV"
		}
		rep.info("decode matmul %s: the device picked %s", shape, pick)
	}
}

// prefillGEMMs compares the prefill matmul path (f32 activations converted to
// bf16, then cublasGemmEx) with a plain cublasGemmEx on bf16 inputs of the
// same shapes. It returns plain cuBLAS's rate over the four shapes (flop/s),
// 0 when a shape failed.
func prefillGEMMs(rep *report, d *cuda.Device, cfg *config.Config) float64 {
	n := benchPrompt
	var flops, plainTime float64
	h, q, inter := cfg.HiddenSize, cfg.QDim(), cfg.IntermediateSize
	for _, sh := range []struct {
		name string
		o, k int
	}{{"q_proj", q, h}, {"o_proj", h, q}, {"gate_proj", inter, h}, {"down_proj", h, inter}} {
		w, err1 := d.NewWeight("bench", device.BF16, sh.o, sh.k)
		x, err2 := d.Alloc(device.F32, n, sh.k)
		xb, err3 := d.Alloc(device.BF16, n, sh.k)
		out, err4 := d.Alloc(device.F32, n, sh.o)
		free := func() {
			for _, t := range []device.Tensor{w, x, xb, out} {
				if t != nil {
					d.Free(t)
				}
			}
		}
		if err := firstErr(err1, err2, err3, err4); err != nil {
			free()
			rep.fail("prefill GEMM "+sh.name, err)
			return 0
		}
		err := firstErr(d.FillUniform(w, 1, 0, 0.02), d.FillUniform(x, 2, 0, 1), d.FillUniform(xb, 3, 0, 1))
		var ours, plain time.Duration
		if err == nil {
			ours, err = d.Time(benchReps, func() error { return d.MatMulWith(out, x, w, cuda.PathCUBLAS) })
		}
		if err == nil {
			plain, err = d.Time(benchReps, func() error { return d.GemmPlain(out, xb, w) })
		}
		free()
		if err != nil {
			rep.fail("prefill GEMM "+sh.name, err)
			return 0
		}
		ratio := plain.Seconds() / ours.Seconds()
		tflops := 2 * float64(n) * float64(sh.o) * float64(sh.k) / ours.Seconds() / 1e12
		flops += 2 * float64(n) * float64(sh.o) * float64(sh.k)
		plainTime += plain.Seconds()
		rep.info("prefill %-9s [%d×%d]·[%d×%d]ᵀ: %.3f ms (%.1f TFLOP/s), plain cuBLAS %.3f ms: %.2f of plain (target %.1f: %s)",
			sh.name, n, sh.k, sh.o, sh.k, ms(ours), tflops, ms(plain), ratio, gemmTarget, verdict(ratio >= gemmTarget))
	}
	return flops / plainTime
}
