package gpucheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// Tolerances of the op checks, as max|cuda - cpu| / max|cpu| over the output,
// or exact (bit for bit) where the op does no arithmetic that may differ.
const (
	// tolNorm: RMSNorm and friends sum squares in f32 in another order than
	// the CPU's f64 sum; the scale differs by an f32 rounding or two.
	tolNorm = 1e-5
	// tolF32Dot: a matmul whose inputs stay f32 (the GEMV kernel, or f32
	// weights through cuBLAS) differs only in the order of its f32 sums.
	tolF32Dot = 1e-4
	// tolBF16In, tolF16In: cuBLAS takes x rounded to the weights' type, a
	// relative error of 2⁻⁹ (bf16) or 2⁻¹² (fp16) per product.
	tolBF16In = 1e-2
	tolF16In  = 2e-3
	// tolRoPE: cosine and sine in f32 of an angle reduced in f64, against the
	// CPU's f64 sincos rounded once.
	tolRoPE = 1e-5
	// tolAttention: softmax with expf and f32 sums in another order.
	tolAttention = 1e-4
	// tolSiLU: expf against the CPU's f64 exp.
	tolSiLU = 2e-6
)

var floatTypes = []device.DType{device.F32, device.BF16, device.F16}

// shapes are the sizes of the op checks that cost the most. The full set is
// Qwen3's (hidden 2560, intermediate 9728, a 151,936-token vocabulary, a
// 512-query prefill); the emulator's keeps every op, dtype, kernel variant
// and launch path (GEMV and cuBLAS, gemv16 and not, split decode attention,
// head_dim 32 to 256, odd sizes) at sizes a PTX interpreter runs in minutes.
type shapes struct {
	matmul      [][3]int // n, o, k
	autoMatMul  [3]int   // the automatic path on a decode shape
	batchMatMul [2]int   // o, k of the batched-step GEMV checks (batchops.go)
	attention   []att
	elementwise []int
	selectWidth []int // ArgMax and TopK row widths
	sampleVocab int
	sampleDraws int

	// mmaAttention: the tensor-core prefill's checks (prefill.go)
	mmaAttention []att
}

// att is one attention check: heads, KV heads, head_dim, queries, start.
type att struct{ heads, kv, hd, n, start int }

var fullShapes = shapes{
	matmul: [][3]int{
		{1, 2560, 2560}, {1, 1024, 9728}, {1, 151936, 1024}, {2, 300, 256}, {4, 77, 100},
		{7, 300, 256}, {64, 1024, 2560}, {3, 100, 100}, {512, 2560, 9728},
	},
	autoMatMul:  [3]int{1, 4096, 2560},
	batchMatMul: [2]int{2560, 2560},
	attention: []att{
		{4, 2, 32, 1, 0}, {4, 2, 32, 40, 0}, {4, 2, 32, 7, 100},
		{32, 8, 128, 1, 2047}, {32, 8, 128, 1, 5000}, {32, 8, 128, 33, 1000}, {32, 8, 128, 512, 0},
		{40, 8, 128, 1, 300}, {16, 8, 64, 17, 31}, {8, 8, 256, 9, 3},
	},
	elementwise: []int{1, 9728, 512 * 9728},
	selectWidth: []int{1000, 151936},
	sampleVocab: 151936,
	sampleDraws: 50,

	mmaAttention: mmaAttention.full,
}

var emulatorShapes = shapes{
	matmul: [][3]int{
		{1, 640, 2560}, {1, 256, 9728}, {1, 2053, 1024}, {2, 300, 256}, {4, 77, 100},
		{7, 300, 256}, {64, 256, 512}, {3, 100, 100}, {96, 320, 1024},
	},
	autoMatMul:  [3]int{1, 1024, 2560},
	batchMatMul: [2]int{256, 512},
	attention: []att{
		{4, 2, 32, 1, 0}, {4, 2, 32, 40, 0}, {4, 2, 32, 7, 100},
		{8, 2, 128, 1, 2047}, {8, 2, 128, 1, 1200}, {8, 4, 128, 33, 300}, {8, 4, 128, 48, 0},
		{10, 2, 128, 1, 300}, {16, 8, 64, 17, 31}, {8, 8, 256, 9, 3},
	},
	elementwise: []int{1, 9728, 70001},
	selectWidth: []int{1000, 5003},
	sampleVocab: 4099,
	sampleDraws: 12,

	mmaAttention: mmaAttention.emulator,
}

// opEnv runs an op on a CPU device and a CUDA device on the same inputs.
type opEnv struct {
	c   *cpu.Device
	g   *cuda.Device
	r   *rand.Rand
	rep *report
	own []device.Tensor
}

type pair struct{ c, g device.Tensor }

// tensors makes t on both devices holding data ([]float32 or []int32).
func (e *opEnv) tensors(dt device.DType, data any, shape ...int) (pair, error) {
	var p pair
	var err error
	if p.c, err = e.c.Alloc(dt, shape...); err != nil {
		return p, err
	}
	e.own = append(e.own, p.c)
	if p.g, err = e.g.Alloc(dt, shape...); err != nil {
		return p, err
	}
	e.own = append(e.own, p.g)
	if data != nil {
		if err := firstErr(e.c.Upload(p.c, data), e.g.Upload(p.g, data)); err != nil {
			return p, err
		}
	}
	return p, nil
}

// random makes a float tensor of uniform values in [-scale, scale) on both.
func (e *opEnv) random(dt device.DType, scale float32, shape ...int) (pair, []float32, error) {
	v := make([]float32, device.Elems(shape))
	for i := range v {
		v[i] = (e.r.Float32()*2 - 1) * scale
	}
	p, err := e.tensors(dt, v, shape...)
	return p, v, err
}

// floats downloads a float tensor from both devices: (cuda, cpu).
func (e *opEnv) floats(p pair) (got, want []float32, err error) {
	n := device.Elems(p.c.Shape())
	got, want = make([]float32, n), make([]float32, n)
	return got, want, firstErr(e.g.Download(got, p.g), e.c.Download(want, p.c))
}

func (e *opEnv) ints(p pair) (got, want []int32, err error) {
	n := device.Elems(p.c.Shape())
	got, want = make([]int32, n), make([]int32, n)
	return got, want, firstErr(e.g.Download(got, p.g), e.c.Download(want, p.c))
}

func (e *opEnv) release() {
	for _, t := range e.own {
		t.Device().Free(t)
	}
	e.own = nil
}

// within reports a float output against its tolerance.
func (e *opEnv) within(name string, p pair, tol float64) {
	got, want, err := e.floats(p)
	if err != nil {
		e.rep.fail(name, err)
		return
	}
	rel := relErr(got, want)
	e.rep.check(rel <= tol, "%-58s rel err %.2e ≤ %.0e", name, rel, tol)
}

// exact reports a float output that must match bit for bit.
func (e *opEnv) exact(name string, p pair) {
	got, want, err := e.floats(p)
	if err != nil {
		e.rep.fail(name, err)
		return
	}
	ok, at := sameBits(got, want)
	if ok {
		e.rep.check(true, "%-58s exact", name)
	} else {
		e.rep.check(false, "%-58s differs at %d: %v vs %v", name, at, got[at], want[at])
	}
}

func (e *opEnv) exactInts(name string, p pair) {
	got, want, err := e.ints(p)
	if err != nil {
		e.rep.fail(name, err)
		return
	}
	if !slices.Equal(got, want) {
		at := 0
		for at < len(want) && got[at] == want[at] {
			at++
		}
		e.rep.check(false, "%-58s differs at %d: %d vs %d", name, at, got[at], want[at])
		return
	}
	e.rep.check(true, "%-58s exact", name)
}

// run does one op check: build inputs, run op on both devices, compare.
func (e *opEnv) run(name string, fn func() error) {
	defer e.release()
	if err := fn(); err != nil {
		e.rep.fail(name, err)
	}
}

func both(c, g func() error) error { return firstErr(c(), g()) }

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkOps runs every CUDA op against the CPU op on random inputs at several
// shapes and dtypes.
//
// partners are other GPUs to check CopyFrom to: one with peer access and
// one without, where the machine has them.
func checkOps(rep *report, g *cuda.Device, seed uint64, sh shapes, partners []int) {
	e := &opEnv{c: cpu.New(cpu.Options{}), g: g, r: rand.New(rand.NewPCG(seed, 0x6770)), rep: rep}

	for _, dt := range []device.DType{device.F32, device.BF16, device.F16, device.I32} {
		name := fmt.Sprintf("Upload/Download %v [3 1000]", dt)
		e.run(name, func() error {
			if dt == device.I32 {
				ids := make([]int32, 3000)
				for i := range ids {
					ids[i] = e.r.Int32() - 1<<30
				}
				p, err := e.tensors(dt, ids, 3, 1000)
				if err == nil {
					e.exactInts(name, p)
				}
				return err
			}
			p, _, err := e.random(dt, 100, 3, 1000)
			if err == nil {
				e.exact(name, p)
			}
			return err
		})
	}

	for _, dt := range floatTypes {
		for _, sh := range [][2]int{{1, 64}, {7, 1024}} {
			name := fmt.Sprintf("Embedding %v table [1000 %d], %d ids", dt, sh[1], sh[0])
			e.run(name, func() error {
				table, _, err := e.random(dt, 1, 1000, sh[1])
				if err != nil {
					return err
				}
				ids := make([]int32, sh[0])
				for i := range ids {
					ids[i] = e.r.Int32N(1000)
				}
				idp, err := e.tensors(device.I32, ids, sh[0])
				if err != nil {
					return err
				}
				out, err := e.tensors(device.F32, nil, sh[0], sh[1])
				if err != nil {
					return err
				}
				if err := both(func() error { return e.c.Embedding(out.c, table.c, idp.c) }, func() error { return e.g.Embedding(out.g, table.g, idp.g) }); err != nil {
					return err
				}
				e.exact(name, out)
				return nil
			})
		}
	}

	for _, dt := range floatTypes {
		for _, sh := range [][2]int{{1, 128}, {5, 2560}, {3, 5120}} {
			name := fmt.Sprintf("RMSNorm w %v x [%d %d]", dt, sh[0], sh[1])
			e.run(name, func() error {
				x, _, err := e.random(device.F32, 4, sh[0], sh[1])
				if err != nil {
					return err
				}
				w, _, err := e.random(dt, 2, sh[1])
				if err != nil {
					return err
				}
				out, err := e.tensors(device.F32, nil, sh[0], sh[1])
				if err != nil {
					return err
				}
				if err := both(func() error { return e.c.RMSNorm(out.c, x.c, w.c, 1e-6) }, func() error { return e.g.RMSNorm(out.g, x.g, w.g, 1e-6) }); err != nil {
					return err
				}
				e.within(name, out, tolNorm)
				// in place, as the model's final norm may run
				if err := both(func() error { return e.c.RMSNorm(x.c, x.c, w.c, 1e-6) }, func() error { return e.g.RMSNorm(x.g, x.g, w.g, 1e-6) }); err != nil {
					return err
				}
				e.within(name+" in place", x, tolNorm)
				return nil
			})
			name = fmt.Sprintf("AddRMSNorm (fused) w %v x [%d %d]", dt, sh[0], sh[1])
			e.run(name, func() error {
				x, _, err := e.random(device.F32, 4, sh[0], sh[1])
				if err != nil {
					return err
				}
				r, _, err := e.random(device.F32, 4, sh[0], sh[1])
				if err != nil {
					return err
				}
				w, _, err := e.random(dt, 2, sh[1])
				if err != nil {
					return err
				}
				out, err := e.tensors(device.F32, nil, sh[0], sh[1])
				if err != nil {
					return err
				}
				err = both(func() error { return firstErr(e.c.Add(x.c, x.c, r.c), e.c.RMSNorm(out.c, x.c, w.c, 1e-6)) },
					func() error { return e.g.AddRMSNorm(out.g, x.g, r.g, w.g, 1e-6) })
				if err != nil {
					return err
				}
				e.exact(name+": x + r", x)
				e.within(name+": norm", out, tolNorm)
				return nil
			})
		}
	}

	for _, dt := range floatTypes {
		for _, sh := range [][3]int{{1, 4, 32}, {6, 32, 128}, {2, 8, 256}} {
			n, heads, hd := sh[0], sh[1], sh[2]
			name := fmt.Sprintf("HeadRMSNorm w %v x [%d %d×%d]", dt, n, heads, hd)
			e.run(name, func() error {
				x, _, err := e.random(device.F32, 3, n, heads*hd)
				if err != nil {
					return err
				}
				w, _, err := e.random(dt, 2, hd)
				if err != nil {
					return err
				}
				if err := both(func() error { return e.c.HeadRMSNorm(x.c, w.c, hd, 1e-6) }, func() error { return e.g.HeadRMSNorm(x.g, w.g, hd, 1e-6) }); err != nil {
					return err
				}
				e.within(name, x, tolNorm)
				return nil
			})
		}
	}

	checkMatMul(e, sh)
	checkBatchMatMul(e, sh)
	checkRoPE(e)
	checkQKRoPEAppend(e)
	checkKVAndAttention(e, sh)
	checkPrefillMMA(e, sh.mmaAttention)
	checkDecodeAttention(e)
	checkBatchAttention(e)
	checkElementwise(e, sh)
	checkSelect(e, sh)
	checkBatchSelect(e, sh)
	checkCopies(e, partners)
}

func checkMatMul(e *opEnv, shs shapes) {
	for _, dt := range floatTypes {
		for _, sh := range shs.matmul {
			n, o, k := sh[0], sh[1], sh[2]
			paths := []cuda.MatMulPath{cuda.PathCUBLAS}
			if n <= cuda.GEMVMaxRows {
				paths = append(paths, cuda.PathGEMV)
			}
			for _, path := range paths {
				tol, pname := tolF32Dot, "GEMV"
				if path == cuda.PathCUBLAS {
					pname = "cuBLAS"
					switch dt {
					case device.BF16:
						tol = tolBF16In
					case device.F16:
						tol = tolF16In
					}
				}
				name := fmt.Sprintf("MatMul %s w %v [%d %d] x [%d %d]", pname, dt, o, k, n, k)
				e.run(name, func() error {
					x, _, err := e.random(device.F32, 1, n, k)
					if err != nil {
						return err
					}
					w, _, err := e.random(dt, 0.05, o, k)
					if err != nil {
						return err
					}
					out, err := e.tensors(device.F32, nil, n, o)
					if err != nil {
						return err
					}
					if err := both(func() error { return e.c.MatMul(out.c, x.c, w.c) }, func() error { return e.g.MatMulWith(out.g, x.g, w.g, path) }); err != nil {
						return err
					}
					e.within(name, out, tol)
					return nil
				})
			}
		}
	}
	// The automatic choice (what the model uses) on a decode shape.
	n, o, k := shs.autoMatMul[0], shs.autoMatMul[1], shs.autoMatMul[2]
	name := fmt.Sprintf("MatMul auto w BF16 [%d %d] x [%d %d]", o, k, n, k)
	e.run(name, func() error {
		x, _, err := e.random(device.F32, 1, n, k)
		if err != nil {
			return err
		}
		w, _, err := e.random(device.BF16, 0.05, o, k)
		if err != nil {
			return err
		}
		out, err := e.tensors(device.F32, nil, n, o)
		if err != nil {
			return err
		}
		if err := both(func() error { return e.c.MatMul(out.c, x.c, w.c) }, func() error { return e.g.MatMul(out.g, x.g, w.g) }); err != nil {
			return err
		}
		e.within(name, out, tolBF16In)
		return nil
	})
}

func checkRoPE(e *opEnv) {
	for _, sh := range [][4]int{{1, 4, 32, 1}, {5, 32, 128, 1}, {3, 8, 64, 40000}} {
		n, heads, hd, maxPos := sh[0], sh[1], sh[2], sh[3]
		for _, theta := range []float64{10000, 1000000} {
			name := fmt.Sprintf("RoPE x [%d %d×%d] theta %g positions < %d", n, heads, hd, theta, max(maxPos, 4096))
			e.run(name, func() error {
				x, _, err := e.random(device.F32, 2, n, heads*hd)
				if err != nil {
					return err
				}
				pos := make([]int32, n)
				for i := range pos {
					pos[i] = e.r.Int32N(int32(max(maxPos, 4096)))
				}
				pp, err := e.tensors(device.I32, pos, n)
				if err != nil {
					return err
				}
				if err := both(func() error { return e.c.RoPE(x.c, hd, pp.c, theta) }, func() error { return e.g.RoPE(x.g, hd, pp.g, theta) }); err != nil {
					return err
				}
				e.within(name, x, tolRoPE)
				return nil
			})
		}
	}
}

// checkQKRoPEAppend checks the fused QKRoPEAppend against the CPU's five ops
// (HeadRMSNorm of q and k, RoPE of both, KVAppend) and, bit for bit, against
// the same five ops on the CUDA device with a Sync after each so that none
// folds into another: one row (a decode step's, one launch) and three rows
// (which run the five ops), in every cache dtype, at Qwen3's theta.
func checkQKRoPEAppend(e *opEnv) {
	const heads, kvHeads, hd, ctx, theta, eps = 4, 2, 64, 16, 1e6, 1e-6
	for _, dt := range floatTypes {
		for _, tc := range [][2]int{{1, 11}, {3, 2}} {
			n, start := tc[0], tc[1]
			name := fmt.Sprintf("QKRoPEAppend w %v cache %v, %d row(s) at %d", dt, dt, n, start)
			e.run(name, func() error { return e.qkRoPEAppend(name, dt, n, start, heads, kvHeads, hd, ctx, theta, eps) })
		}
	}
}

func (e *opEnv) qkRoPEAppend(name string, dt device.DType, n, start, heads, kvHeads, hd, ctx int, theta float64, eps float32) error {
	// Each input twice on the CUDA device: the fused op's and the five ops'.
	var ins [2][6]pair
	var host [6][]float32
	shapes := [6][]int{{n, heads * hd}, {n, kvHeads * hd}, {n, kvHeads * hd}, {hd}, {hd}, {ctx, kvHeads * hd}}
	dts := [6]device.DType{device.F32, device.F32, device.F32, dt, dt, dt}
	for i := range 6 {
		var err error
		if ins[0][i], host[i], err = e.random(dts[i], 2, shapes[i]...); err != nil {
			return err
		}
		if ins[1][i], err = e.tensors(dts[i], host[i], shapes[i]...); err != nil {
			return err
		}
	}
	vc, err := e.tensors(dt, host[5], ctx, kvHeads*hd)
	if err != nil {
		return err
	}
	vc2, err := e.tensors(dt, host[5], ctx, kvHeads*hd)
	if err != nil {
		return err
	}
	positions := make([]int32, n)
	for i := range positions {
		positions[i] = int32(start + i)
	}
	pos, err := e.tensors(device.I32, positions, n)
	if err != nil {
		return err
	}
	q, k, v, qw, kw, kc := ins[0][0], ins[0][1], ins[0][2], ins[0][3], ins[0][4], ins[0][5]
	err = firstErr(e.c.HeadRMSNorm(q.c, qw.c, hd, eps), e.c.HeadRMSNorm(k.c, kw.c, hd, eps),
		e.c.RoPE(q.c, hd, pos.c, theta), e.c.RoPE(k.c, hd, pos.c, theta), e.c.KVAppend(kc.c, vc.c, k.c, v.c, start))
	if err != nil {
		return err
	}
	kernels, err := e.launches(func() error {
		return firstErr(e.g.QKRoPEAppend(q.g, k.g, v.g, qw.g, kw.g, pos.g, kc.g, vc.g, hd, eps, theta, start), e.g.Sync())
	})
	if err != nil {
		return err
	}
	if n == 1 {
		e.rep.check(kernels == 1, "%-58s %d kernel launch(es), want 1", name, kernels)
	}
	q2, k2, v2, qw2, kw2, kc2 := ins[1][0], ins[1][1], ins[1][2], ins[1][3], ins[1][4], ins[1][5]
	g := e.g
	err = firstErr(g.HeadRMSNorm(q2.g, qw2.g, hd, eps), g.Sync(), g.HeadRMSNorm(k2.g, kw2.g, hd, eps), g.Sync(),
		g.RoPE(q2.g, hd, pos.g, theta), g.Sync(), g.RoPE(k2.g, hd, pos.g, theta), g.Sync(),
		g.KVAppend(kc2.g, vc2.g, k2.g, v2.g, start), g.Sync())
	if err != nil {
		return err
	}
	cacheTol := map[device.DType]float64{device.F32: tolNorm + tolRoPE, device.BF16: tolBF16In, device.F16: tolF16In}[dt]
	for _, o := range []struct {
		what       string
		fused, ops pair
		tol        float64
	}{{"q", q, q2, tolNorm + tolRoPE}, {"k", k, k2, tolNorm + tolRoPE}, {"k cache", kc, kc2, cacheTol}, {"v cache", vc, vc2, cacheTol}} {
		e.within(name+": "+o.what, o.fused, o.tol)
		fused, ops := make([]float32, device.Elems(o.fused.g.Shape())), make([]float32, device.Elems(o.ops.g.Shape()))
		if err := firstErr(g.Download(fused, o.fused.g), g.Download(ops, o.ops.g)); err != nil {
			return err
		}
		ok, at := sameBits(fused, ops)
		if ok {
			e.rep.check(true, "%-58s same bits as the five ops", name+": "+o.what)
		} else {
			e.rep.check(false, "%-58s differs from the five ops at %d: %v vs %v", name+": "+o.what, at, fused[at], ops[at])
		}
	}
	return nil
}

func checkKVAndAttention(e *opEnv, sh shapes) {
	for _, dt := range floatTypes {
		for _, tc := range [][3]int{{1, 0, 64}, {5, 17, 64}, {1, 63, 64}} {
			n, start, ctx := tc[0], tc[1], tc[2]
			name := fmt.Sprintf("KVAppend cache %v [%d 256], %d rows at %d", dt, ctx, n, start)
			e.run(name, func() error {
				kc, _, err := e.random(dt, 1, ctx, 256)
				if err != nil {
					return err
				}
				vc, _, err := e.random(dt, 1, ctx, 256)
				if err != nil {
					return err
				}
				k, _, err := e.random(device.F32, 1, n, 256)
				if err != nil {
					return err
				}
				v, _, err := e.random(device.F32, 1, n, 256)
				if err != nil {
					return err
				}
				if err := both(func() error { return e.c.KVAppend(kc.c, vc.c, k.c, v.c, start) }, func() error { return e.g.KVAppend(kc.g, vc.g, k.g, v.g, start) }); err != nil {
					return err
				}
				e.exact(name+": k", kc)
				e.exact(name+": v", vc)
				return nil
			})
		}
	}
	for _, dt := range floatTypes {
		for _, a := range sh.attention {
			kind := "prefill CUDA cores" // the tensor-core prefill: checkPrefillMMA
			if a.n == 1 {
				kind = "decode"
			}
			name := fmt.Sprintf("Attention %s cache %v %dq/%dkv×%d, %d queries at %d", kind, dt, a.heads, a.kv, a.hd, a.n, a.start)
			e.run(name, func() error {
				ctx := a.start + a.n
				kc, _, err := e.random(dt, 1, ctx, a.kv*a.hd)
				if err != nil {
					return err
				}
				vc, _, err := e.random(dt, 1, ctx, a.kv*a.hd)
				if err != nil {
					return err
				}
				q, _, err := e.random(device.F32, 3, a.n, a.heads*a.hd)
				if err != nil {
					return err
				}
				out, err := e.tensors(device.F32, nil, a.n, a.heads*a.hd)
				if err != nil {
					return err
				}
				err = both(func() error { return e.c.Attention(out.c, q.c, kc.c, vc.c, a.start, a.heads, a.kv, a.hd) },
					func() error {
						return e.g.AttentionWith(out.g, q.g, kc.g, vc.g, a.start, a.heads, a.kv, a.hd, cuda.PrefillCUDACores)
					})
				if err != nil {
					return err
				}
				e.within(name, out, tolAttention)
				return nil
			})
		}
	}
}

func checkElementwise(e *opEnv, sh shapes) {
	for _, n := range sh.elementwise {
		name := fmt.Sprintf("SiLUMul [%d] (out = gate)", n)
		e.run(name, func() error {
			g, _, err := e.random(device.F32, 8, n)
			if err != nil {
				return err
			}
			u, _, err := e.random(device.F32, 2, n)
			if err != nil {
				return err
			}
			if err := both(func() error { return e.c.SiLUMul(g.c, g.c, u.c) }, func() error { return e.g.SiLUMul(g.g, g.g, u.g) }); err != nil {
				return err
			}
			e.within(name, g, tolSiLU)
			return nil
		})
		name = fmt.Sprintf("Add [%d] (out = a)", n)
		e.run(name, func() error {
			a, _, err := e.random(device.F32, 8, n)
			if err != nil {
				return err
			}
			b, _, err := e.random(device.F32, 8, n)
			if err != nil {
				return err
			}
			if err := both(func() error { return e.c.Add(a.c, a.c, b.c) }, func() error { return e.g.Add(a.g, a.g, b.g) }); err != nil {
				return err
			}
			e.exact(name, a)
			return nil
		})
	}
}

// special rows: ties, NaNs, -Inf, for the selection ops.
func specialRows(d int, r *rand.Rand) []float32 {
	x := make([]float32, 4*d)
	for i := range x {
		x[i] = float32(r.IntN(50)) // many ties
	}
	for i := d; i < 2*d; i++ {
		x[i] = float32(math.NaN())
	}
	x[3*d/2] = float32(math.Inf(-1))
	for i := 2 * d; i < 3*d; i += 3 {
		x[i] = float32(math.NaN())
	}
	for i := 3 * d; i < 4*d; i++ {
		x[i] = r.Float32()
	}
	return x
}

func checkSelect(e *opEnv, sh shapes) {
	for _, d := range sh.selectWidth {
		name := fmt.Sprintf("ArgMax [4 %d] (ties, NaN rows, -Inf)", d)
		e.run(name, func() error {
			x, err := e.tensors(device.F32, specialRows(d, e.r), 4, d)
			if err != nil {
				return err
			}
			out, err := e.tensors(device.I32, nil, 4)
			if err != nil {
				return err
			}
			if err := both(func() error { return e.c.ArgMax(out.c, x.c) }, func() error { return e.g.ArgMax(out.g, x.g) }); err != nil {
				return err
			}
			e.exactInts(name, out)
			return nil
		})
		for _, k := range []int{1, 5, 50} {
			name := fmt.Sprintf("TopK k %d [4 %d] (ties, NaN rows, -Inf)", k, d)
			e.run(name, func() error {
				x, err := e.tensors(device.F32, specialRows(d, e.r), 4, d)
				if err != nil {
					return err
				}
				vals, err := e.tensors(device.F32, nil, 4, k)
				if err != nil {
					return err
				}
				idx, err := e.tensors(device.I32, nil, 4, k)
				if err != nil {
					return err
				}
				if err := both(func() error { return e.c.TopK(vals.c, idx.c, x.c, k) }, func() error { return e.g.TopK(vals.g, idx.g, x.g, k) }); err != nil {
					return err
				}
				e.exact(name+": values", vals)
				e.exactInts(name+": indices", idx)
				return nil
			})
		}
	}
	checkSampling(e, sh)
}

// checkSampling draws on the device from TopK's candidates and compares the
// token with sampleRef, the host sampler's arithmetic on the same candidates
// and the same uniform number.
func checkSampling(e *opEnv, sh shapes) {
	const k = 40
	vocab, draws := sh.sampleVocab, sh.sampleDraws
	for _, tc := range []struct {
		temp, topP, minP float32
		holes            bool // a quarter of the logits NaN or -Inf
	}{{1, 0, 0, false}, {0.7, 0.9, 0, false}, {1.3, 0.5, 0.05, false}, {0.2, 1, 0.1, false}, {0.8, 0.95, 0.02, true}} {
		name := fmt.Sprintf("TopK %d + SampleSorted temp %g top-p %g min-p %g", k, tc.temp, tc.topP, tc.minP)
		if tc.holes {
			name += ", NaN/-Inf"
		}
		e.run(name, func() error {
			logits := make([]float32, vocab)
			for i := range logits {
				logits[i] = float32(e.r.NormFloat64() * 3)
				if tc.holes && i%4 == 1 {
					logits[i] = [2]float32{float32(math.NaN()), float32(math.Inf(-1))}[e.r.IntN(2)]
				}
			}
			x, err := e.tensors(device.F32, logits, 1, vocab)
			if err != nil {
				return err
			}
			vals, err := e.g.Alloc(device.F32, 1, k)
			if err != nil {
				return err
			}
			idx, err := e.g.Alloc(device.I32, 1, k)
			if err != nil {
				return err
			}
			out, err := e.g.Alloc(device.I32, 1)
			if err != nil {
				return err
			}
			e.own = append(e.own, vals, idx, out)
			mismatches := 0
			for range draws {
				u := e.r.Float64()
				if err := firstErr(e.g.TopK(vals, idx, x.g, k), e.g.SampleSorted(out, vals, idx, tc.temp, tc.topP, tc.minP, u)); err != nil {
					return err
				}
				var got [1]int32
				if err := e.g.Download(got[:], out); err != nil {
					return err
				}
				if want := sampleRef(logits, k, tc.temp, tc.topP, tc.minP, u); got[0] != want {
					mismatches++
				}
			}
			e.rep.check(mismatches == 0, "%-58s %d/%d draws as the host's", name, draws-mismatches, draws)
			return nil
		})
	}
}

// checkCopies checks CopyFrom from the checked GPU to a second logical
// device on it (the `--devices 0,0` case) and to each partner GPU: peer to
// peer where the two have peer access, staged through host memory where not.
func checkCopies(e *opEnv, partners []int) {
	targets := append([]int{e.g.Ordinal()}, partners...)
	for _, to := range targets {
		e.run(fmt.Sprintf("CopyFrom to GPU %d", to), func() error {
			ordinals := []int{to}
			if to != e.g.Ordinal() {
				ordinals = []int{e.g.Ordinal(), to} // opened together, so peer access is enabled
			}
			devs, err := cuda.Open(ordinals, nil)
			if err != nil {
				return err
			}
			defer func() {
				for _, d := range devs {
					d.Close()
				}
			}()
			other := devs[len(devs)-1]
			kind := "one GPU"
			if to != e.g.Ordinal() {
				kind = "staged through host memory"
				if cuda.PeerAccess(e.g.Ordinal(), to) {
					kind = "peer to peer"
				}
			}
			name := fmt.Sprintf("CopyFrom %s → %s (%s)", e.g.Name(), other.Name(), kind)
			for _, sh := range []struct {
				dt   device.DType
				r, c int
			}{{device.F32, 512, 2560}, {device.BF16, 64, 1024}} {
				src, vals, err := e.random(sh.dt, 5, sh.r, sh.c)
				if err != nil {
					return err
				}
				dst, err := other.Alloc(sh.dt, sh.r, sh.c)
				if err != nil {
					return err
				}
				if err := other.CopyFrom(dst, src.g); err != nil {
					return err
				}
				got := make([]float32, len(vals))
				if err := other.Download(got, dst); err != nil {
					return err
				}
				want := make([]float32, len(vals))
				if err := e.c.Download(want, src.c); err != nil {
					return err
				}
				ok, at := sameBits(got, want)
				if ok {
					e.rep.check(true, "%-58s exact", fmt.Sprintf("%s %v [%d %d]", name, sh.dt, sh.r, sh.c))
				} else {
					e.rep.check(false, "%s %v: differs at %d", name, sh.dt, at)
				}
				other.Free(dst)
			}
			return nil
		})
	}
}
