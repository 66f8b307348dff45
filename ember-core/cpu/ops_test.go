package cpu

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// Every op is checked against a naive reference written here (plain loops,
// float64 accumulation) and run with 1 and 4 threads, whose results must be
// bitwise identical: the parallel split may not change any element's
// summation order.

var threadCounts = []int{1, 4}

// acrossThreads calls run on a fresh device per thread count, with the
// parallel grain lowered so that even small inputs fan out, and returns the
// result after checking that all thread counts agree bitwise.
func acrossThreads(t *testing.T, what string, run func(d *Device) []float32) []float32 {
	t.Helper()
	saved := grainElems
	grainElems = 64
	defer func() { grainElems = saved }()
	var first []float32
	for i, th := range threadCounts {
		got := run(New(Options{Name: "cpu:0", Threads: th}))
		if i == 0 {
			first = got
			continue
		}
		checkBitwise(t, fmt.Sprintf("%s: threads %d vs %d", what, threadCounts[0], th), first, got)
	}
	return first
}

func TestMatMul(t *testing.T) {
	shapes := []struct{ n, k, o int }{
		{1, 1, 1}, {1, 7, 5}, {2, 3, 9}, {3, 17, 13}, {5, 64, 33}, {8, 130, 67}, {1, 300, 129}, {4, 1031, 70},
	}
	for _, dt := range floatTypes {
		for _, s := range shapes {
			name := fmt.Sprintf("%v/n%d_k%d_o%d", dt, s.n, s.k, s.o)
			t.Run(name, func(t *testing.T) {
				var wq []float32
				xv := randVals(newRand(1), s.n*s.k, 1)
				got := acrossThreads(t, name, func(d *Device) []float32 {
					x := upload(t, d, device.F32, xv, s.n, s.k)
					var w device.Tensor
					w, wq = weight(t, d, "w", dt, randVals(newRand(2), s.o*s.k, 1), s.o, s.k)
					out := mustAlloc(t, d, device.F32, s.n, s.o)
					if err := d.MatMul(out, x, w); err != nil {
						t.Fatal(err)
					}
					return download(t, d, out)
				})
				// Reference: float64 sums; tolerance 1e-5 relative to Σ|x·w|.
				want := make([]float64, s.n*s.o)
				tol := make([]float64, s.n*s.o)
				for i := range s.n {
					for j := range s.o {
						var sum, mag float64
						for l := range s.k {
							p := float64(xv[i*s.k+l]) * float64(wq[j*s.k+l])
							sum += p
							mag += math.Abs(p)
						}
						want[i*s.o+j], tol[i*s.o+j] = sum, 1e-5*mag+1e-30
					}
				}
				checkClose(t, "out", got, want, tol)

				// One row at a time (decode) gives the same bits as the batch
				// (prefill), except where the VDPBF16PS decode kernel sums bf16
				// rows in its own order: then within the tolerance.
				sameBits := !(useDPBF16 && dt == device.BF16)
				d := New(Options{Threads: 3})
				w, _ := weight(t, d, "w", dt, randVals(newRand(2), s.o*s.k, 1), s.o, s.k)
				for i := range s.n {
					x := upload(t, d, device.F32, xv[i*s.k:(i+1)*s.k], 1, s.k)
					out := mustAlloc(t, d, device.F32, 1, s.o)
					if err := d.MatMul(out, x, w); err != nil {
						t.Fatal(err)
					}
					if sameBits {
						checkBitwise(t, fmt.Sprintf("row %d alone vs in the batch", i), download(t, d, out), got[i*s.o:(i+1)*s.o])
					} else {
						checkClose(t, fmt.Sprintf("row %d alone", i), download(t, d, out), want[i*s.o:(i+1)*s.o], tol[i*s.o:(i+1)*s.o])
					}
				}
			})
		}
	}
}

func refRMSNorm(x, w []float32, eps float32) (want, tol []float64) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	for i, v := range x {
		r := float64(v) * scale * float64(w[i])
		want = append(want, r)
		tol = append(tol, 1e-6*math.Abs(r)+1e-30)
	}
	return want, tol
}

func TestRMSNorm(t *testing.T) {
	shapes := []struct{ n, d int }{{1, 1}, {1, 7}, {3, 129}, {5, 1024}, {2, 33}}
	for _, dt := range floatTypes {
		for _, s := range shapes {
			for _, inPlace := range []bool{false, true} {
				name := fmt.Sprintf("%v/n%d_d%d/inplace=%v", dt, s.n, s.d, inPlace)
				t.Run(name, func(t *testing.T) {
					xv := randVals(newRand(3), s.n*s.d, 2)
					var wq []float32
					const eps = 1e-6
					got := acrossThreads(t, name, func(d *Device) []float32 {
						x := upload(t, d, device.F32, xv, s.n, s.d)
						var w device.Tensor
						w, wq = weight(t, d, "norm", dt, randVals(newRand(4), s.d, 1.5), s.d)
						out := x
						if !inPlace {
							out = mustAlloc(t, d, device.F32, s.n, s.d)
						}
						if err := d.RMSNorm(out, x, w, eps); err != nil {
							t.Fatal(err)
						}
						return download(t, d, out)
					})
					var want, tol []float64
					for i := range s.n {
						w, e := refRMSNorm(xv[i*s.d:(i+1)*s.d], wq, eps)
						want, tol = append(want, w...), append(tol, e...)
					}
					checkClose(t, "out", got, want, tol)
				})
			}
		}
	}
}

func TestHeadRMSNorm(t *testing.T) {
	cases := []struct{ n, heads, headDim int }{{1, 1, 4}, {3, 5, 8}, {2, 16, 128}, {4, 3, 7}}
	for _, dt := range floatTypes {
		for _, c := range cases {
			name := fmt.Sprintf("%v/n%d_h%d_hd%d", dt, c.n, c.heads, c.headDim)
			t.Run(name, func(t *testing.T) {
				cols := c.heads * c.headDim
				xv := randVals(newRand(5), c.n*cols, 3)
				var wq []float32
				got := acrossThreads(t, name, func(d *Device) []float32 {
					x := upload(t, d, device.F32, xv, c.n, cols)
					var w device.Tensor
					w, wq = weight(t, d, "q_norm", dt, randVals(newRand(6), c.headDim, 1), c.headDim)
					if err := d.HeadRMSNorm(x, w, c.headDim, 1e-6); err != nil {
						t.Fatal(err)
					}
					return download(t, d, x)
				})
				var want, tol []float64
				for h := 0; h < len(xv); h += c.headDim {
					w, e := refRMSNorm(xv[h:h+c.headDim], wq, 1e-6)
					want, tol = append(want, w...), append(tol, e...)
				}
				checkClose(t, "x", got, want, tol)
			})
		}
	}
}

func TestRoPE(t *testing.T) {
	cases := []struct {
		heads, headDim int
		theta          float64
		pos            []int32
	}{
		{1, 2, 10000, []int32{0, 1}},
		{3, 8, 10000, []int32{0, 7, 100, 4095}},
		{2, 128, 1e6, []int32{5, 0, 32768, 40959, 262143}},
		{5, 6, 500, []int32{3, 2, 1}},
	}
	for _, c := range cases {
		name := fmt.Sprintf("h%d_hd%d_theta%g", c.heads, c.headDim, c.theta)
		t.Run(name, func(t *testing.T) {
			n, cols, half := len(c.pos), c.heads*c.headDim, c.headDim/2
			xv := randVals(newRand(7), n*cols, 2)
			got := acrossThreads(t, name, func(d *Device) []float32 {
				x := upload(t, d, device.F32, xv, n, cols)
				pos := uploadI32(t, d, c.pos, n)
				if err := d.RoPE(x, c.headDim, pos, c.theta); err != nil {
					t.Fatal(err)
				}
				return download(t, d, x)
			})
			want := make([]float64, len(xv))
			tol := make([]float64, len(xv))
			for i, p := range c.pos {
				for h := 0; h < cols; h += c.headDim {
					for j := range half {
						a := float64(p) * math.Pow(c.theta, -2*float64(j)/float64(c.headDim))
						b := i*cols + h
						x1, x2 := float64(xv[b+j]), float64(xv[b+j+half])
						want[b+j] = x1*math.Cos(a) - x2*math.Sin(a)
						want[b+j+half] = x2*math.Cos(a) + x1*math.Sin(a)
						// cos and sin are rounded to float32, then two products and a sum.
						tol[b+j] = 3e-7 * (math.Abs(x1) + math.Abs(x2))
						tol[b+j+half] = tol[b+j]
					}
				}
				if p == 0 { // position 0 is the identity, exactly
					checkBitwise(t, fmt.Sprintf("row %d at position 0", i), got[i*cols:(i+1)*cols], xv[i*cols:(i+1)*cols])
				}
			}
			checkClose(t, "x", got, want, tol)
		})
	}
}

// refAttention is causal GQA attention in float64 over the cache values kq, vq.
func refAttention(q, kq, vq []float32, n, start, heads, kvHeads, headDim int) (want, tol []float64) {
	qDim, kvDim := heads*headDim, kvHeads*headDim
	want = make([]float64, n*qDim)
	tol = make([]float64, n*qDim)
	for i := range n {
		for h := range heads {
			kvh := h / (heads / kvHeads)
			ctx := start + i + 1
			s := make([]float64, ctx)
			m := math.Inf(-1)
			for t := range ctx {
				for j := range headDim {
					s[t] += float64(q[i*qDim+h*headDim+j]) * float64(kq[t*kvDim+kvh*headDim+j])
				}
				s[t] /= math.Sqrt(float64(headDim))
				m = max(m, s[t])
			}
			var sum float64
			for t := range s {
				s[t] = math.Exp(s[t] - m)
				sum += s[t]
			}
			for j := range headDim {
				var o, mag float64
				for t := range ctx {
					v := float64(vq[t*kvDim+kvh*headDim+j])
					o += s[t] / sum * v
					mag += s[t] / sum * math.Abs(v)
				}
				want[i*qDim+h*headDim+j] = o
				// float32 scores and weights (relative 1e-6 each, scores of
				// magnitude up to ~10 here) and a float32 weighted sum.
				tol[i*qDim+h*headDim+j] = 2e-5*mag + 1e-7
			}
		}
	}
	return want, tol
}

type attnCase struct {
	n, start, heads, kvHeads, headDim, ctx int
	dt                                     device.DType
}

// runAttention fills a cache of c.dt with seeded random rows via KVAppend and
// returns the attention output, the query values and the cache values.
func runAttention(t *testing.T, d *Device, c attnCase, perturbRow int) (out, qv, kq, vq []float32) {
	t.Helper()
	qDim, kvDim := c.heads*c.headDim, c.kvHeads*c.headDim
	qv = randVals(newRand(8), c.n*qDim, 2)
	kv := randVals(newRand(9), c.ctx*kvDim, 2)
	vv := randVals(newRand(10), c.ctx*kvDim, 1)
	if perturbRow >= 0 {
		for j := range kvDim {
			kv[perturbRow*kvDim+j] += 1
			vv[perturbRow*kvDim+j] -= 3
		}
	}
	kc := mustAlloc(t, d, c.dt, c.ctx, kvDim)
	vc := mustAlloc(t, d, c.dt, c.ctx, kvDim)
	// Fill in two appends to exercise start > 0 on KVAppend too.
	split := c.ctx / 2
	for _, r := range [][2]int{{0, split}, {split, c.ctx}} {
		k := upload(t, d, device.F32, kv[r[0]*kvDim:r[1]*kvDim], r[1]-r[0], kvDim)
		v := upload(t, d, device.F32, vv[r[0]*kvDim:r[1]*kvDim], r[1]-r[0], kvDim)
		if err := d.KVAppend(kc, vc, k, v, r[0]); err != nil {
			t.Fatal(err)
		}
	}
	q := upload(t, d, device.F32, qv, c.n, qDim)
	o := mustAlloc(t, d, device.F32, c.n, qDim)
	if err := d.Attention(o, q, kc, vc, c.start, c.heads, c.kvHeads, c.headDim); err != nil {
		t.Fatal(err)
	}
	return download(t, d, o), qv, download(t, d, kc), download(t, d, vc)
}

var attnCases = []attnCase{
	{1, 0, 1, 1, 4, 1, device.F32},
	{3, 0, 4, 2, 8, 3, device.F32},
	{5, 7, 8, 2, 16, 16, device.BF16},
	{4, 3, 6, 3, 10, 9, device.F16},
	{1, 20, 4, 4, 8, 32, device.F32},
	{7, 9, 16, 8, 128, 17, device.BF16},
	{2, 0, 3, 1, 5, 2, device.F16},
	{37, 5, 4, 2, 16, 48, device.BF16}, // several query blocks
	{20, 0, 2, 1, 9, 20, device.F32},
	{18, 3, 2, 2, 13, 21, device.F16},
}

func TestAttention(t *testing.T) {
	for _, c := range attnCases {
		name := fmt.Sprintf("%v/n%d_start%d_h%d_kv%d_hd%d_ctx%d", c.dt, c.n, c.start, c.heads, c.kvHeads, c.headDim, c.ctx)
		t.Run(name, func(t *testing.T) {
			var qv, kq, vq []float32
			got := acrossThreads(t, name, func(d *Device) []float32 {
				var out []float32
				out, qv, kq, vq = runAttention(t, d, c, -1)
				return out
			})
			want, tol := refAttention(qv, kq, vq, c.n, c.start, c.heads, c.kvHeads, c.headDim)
			checkClose(t, "out", got, want, tol)
		})
	}
}

// TestAttentionCausal perturbs one cache row and checks that exactly the
// queries at or after its position see it.
func TestAttentionCausal(t *testing.T) {
	c := attnCase{6, 4, 4, 2, 8, 12, device.BF16}
	d := New(Options{Threads: 4})
	base, _, _, _ := runAttention(t, d, c, -1)
	qDim := c.heads * c.headDim
	for _, r := range []int{0, 3, 4, 6, 9} {
		got, _, _, _ := runAttention(t, d, c, r)
		for i := range c.n {
			a, b := base[i*qDim:(i+1)*qDim], got[i*qDim:(i+1)*qDim]
			if c.start+i < r {
				checkBitwise(t, fmt.Sprintf("query at %d after changing row %d", c.start+i, r), a, b)
			} else if slices.Equal(a, b) {
				t.Errorf("query at %d does not see the change to row %d", c.start+i, r)
			}
		}
	}
}

// TestAttentionChunk checks that a chunk in the middle of the cache gives the
// same bits as the same rows of one whole-prefix call.
func TestAttentionChunk(t *testing.T) {
	whole := attnCase{10, 0, 4, 2, 8, 10, device.F16}
	d := New(Options{Threads: 4})
	all, _, _, _ := runAttention(t, d, whole, -1)
	qDim := whole.heads * whole.headDim
	// Recompute rows 3..7 as a chunk at start 3 over the same cache.
	q := upload(t, d, device.F32, randVals(newRand(8), whole.n*qDim, 2)[3*qDim:8*qDim], 5, qDim)
	kvDim := whole.kvHeads * whole.headDim
	kc := upload(t, d, whole.dt, randVals(newRand(9), whole.ctx*kvDim, 2), whole.ctx, kvDim)
	vc := upload(t, d, whole.dt, randVals(newRand(10), whole.ctx*kvDim, 1), whole.ctx, kvDim)
	out := mustAlloc(t, d, device.F32, 5, qDim)
	if err := d.Attention(out, q, kc, vc, 3, whole.heads, whole.kvHeads, whole.headDim); err != nil {
		t.Fatal(err)
	}
	checkBitwise(t, "chunk at start 3", download(t, d, out), all[3*qDim:8*qDim])
}

// TestAttentionBlocksMatchDecode: a prefill whose queries span several
// blocks, the same queries as two chunks split inside a block, and one query
// at a time (decode, reading the cache in place) give the same bits.
func TestAttentionBlocksMatchDecode(t *testing.T) {
	// hd 128 takes the four-query weighted sum of AVX-512, 24 the one-query one.
	for _, c := range []struct {
		dt device.DType
		hd int
	}{{device.F32, 24}, {device.F16, 24}, {device.BF16, 24}, {device.F16, 128}, {device.BF16, 128}, {device.F32, 128}} {
		dt, hd := c.dt, c.hd
		const n, heads, kvHeads = 40, 4, 2
		qDim, kvDim := heads*hd, kvHeads*hd
		d := New(Options{Threads: 3})
		kc := upload(t, d, dt, randVals(newRand(30), n*kvDim, 2), n, kvDim)
		vc := upload(t, d, dt, randVals(newRand(31), n*kvDim, 1), n, kvDim)
		qv := randVals(newRand(32), n*qDim, 2)
		run := func(start, rows int) []float32 {
			q := upload(t, d, device.F32, qv[start*qDim:(start+rows)*qDim], rows, qDim)
			out := mustAlloc(t, d, device.F32, rows, qDim)
			if err := d.Attention(out, q, kc, vc, start, heads, kvHeads, hd); err != nil {
				t.Fatal(err)
			}
			return download(t, d, out)
		}
		whole := run(0, n)
		chunks := append(run(0, 21), run(21, n-21)...)
		checkBitwise(t, fmt.Sprintf("%v hd %d chunks 21+19 vs whole", dt, hd), chunks, whole)
		for i := range n {
			checkBitwise(t, fmt.Sprintf("%v hd %d query %d alone vs whole", dt, hd, i), run(i, 1), whole[i*qDim:(i+1)*qDim])
		}
	}
}

// TestAttentionGQA gives every kv head a constant value row equal to its
// index, so each query head's output names the kv head it read.
func TestAttentionGQA(t *testing.T) {
	const heads, kvHeads, headDim, ctx = 12, 3, 4, 5
	d := New(Options{Threads: 4})
	kvDim := kvHeads * headDim
	vv := make([]float32, ctx*kvDim)
	for r := range ctx {
		for j := range kvDim {
			vv[r*kvDim+j] = float32(j / headDim)
		}
	}
	kc := upload(t, d, device.F32, randVals(newRand(11), ctx*kvDim, 1), ctx, kvDim)
	vc := upload(t, d, device.F32, vv, ctx, kvDim)
	// Two queries (the prefill path) and one (decode, a task per kv head).
	for _, n := range []int{2, 1} {
		q := upload(t, d, device.F32, randVals(newRand(12), n*heads*headDim, 1), n, heads*headDim)
		out := mustAlloc(t, d, device.F32, n, heads*headDim)
		if err := d.Attention(out, q, kc, vc, 4-n+1, heads, kvHeads, headDim); err != nil {
			t.Fatal(err)
		}
		got := download(t, d, out)
		for i, v := range got {
			h := (i % (heads * headDim)) / headDim
			if want := float32(h / (heads / kvHeads)); math.Abs(float64(v-want)) > 1e-6 {
				t.Fatalf("%d queries: query head %d reads value %v, want kv head %v", n, h, v, want)
			}
		}
	}
}

func TestKVAppend(t *testing.T) {
	const ctx, kvDim = 9, 6
	for _, dt := range floatTypes {
		t.Run(dt.String(), func(t *testing.T) {
			d := New(Options{Threads: 4})
			kc := mustAlloc(t, d, dt, ctx, kvDim)
			vc := mustAlloc(t, d, dt, ctx, kvDim)
			kv, vv := randVals(newRand(13), 3*kvDim, 4), randVals(newRand(14), 3*kvDim, 4)
			k := upload(t, d, device.F32, kv, 3, kvDim)
			v := upload(t, d, device.F32, vv, 3, kvDim)
			if err := d.KVAppend(kc, vc, k, v, 4); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				cache device.Tensor
				vals  []float32
			}{{kc, kv}, {vc, vv}} {
				got := download(t, d, c.cache)
				want := make([]float32, ctx*kvDim)
				copy(want[4*kvDim:], quantize(dt, c.vals))
				checkBitwise(t, "cache", got, want)
			}
			wantErr(t, d.KVAppend(kc, vc, k, v, 7), "KVAppend", "cpu", "7…9")
			wantErr(t, d.KVAppend(kc, vc, k, v, -1), "KVAppend")
		})
	}
}

func TestEmbedding(t *testing.T) {
	const vocab, hidden = 11, 7
	ids := []int32{3, 0, 10, 3, 5}
	for _, dt := range floatTypes {
		t.Run(dt.String(), func(t *testing.T) {
			var tq []float32
			got := acrossThreads(t, dt.String(), func(d *Device) []float32 {
				var table device.Tensor
				table, tq = weight(t, d, "embed_tokens", dt, randVals(newRand(15), vocab*hidden, 1), vocab, hidden)
				out := mustAlloc(t, d, device.F32, len(ids), hidden)
				if err := d.Embedding(out, table, uploadI32(t, d, ids, len(ids))); err != nil {
					t.Fatal(err)
				}
				return download(t, d, out)
			})
			var want []float32
			for _, id := range ids {
				want = append(want, tq[int(id)*hidden:int(id+1)*hidden]...)
			}
			checkBitwise(t, "out", got, want)
		})
	}
	d := New(Options{})
	table, _ := weight(t, d, "embed_tokens", device.BF16, make([]float32, vocab*hidden), vocab, hidden)
	out := mustAlloc(t, d, device.F32, 1, hidden)
	wantErr(t, d.Embedding(out, table, uploadI32(t, d, []int32{vocab}, 1)), "Embedding", "ids[0] = 11")
	wantErr(t, d.Embedding(out, table, uploadI32(t, d, []int32{-1}, 1)), "Embedding", "ids[0] = -1")
}

func TestSiLUMulAdd(t *testing.T) {
	for _, n := range []int{1, 7, 1000, 4099} {
		for _, alias := range []string{"none", "first", "second"} {
			name := fmt.Sprintf("n%d/alias=%s", n, alias)
			av, bv := randVals(newRand(16), n, 8), randVals(newRand(17), n, 3)
			pick := func(d *Device, a, b device.Tensor) device.Tensor {
				switch alias {
				case "first":
					return a
				case "second":
					return b
				}
				return mustAlloc(t, d, device.F32, n)
			}
			t.Run("SiLUMul/"+name, func(t *testing.T) {
				got := acrossThreads(t, name, func(d *Device) []float32 {
					a, b := upload(t, d, device.F32, av, n), upload(t, d, device.F32, bv, n)
					out := pick(d, a, b)
					if err := d.SiLUMul(out, a, b); err != nil {
						t.Fatal(err)
					}
					return download(t, d, out)
				})
				want, tol := make([]float64, n), make([]float64, n)
				for i := range n {
					x := float64(av[i])
					want[i] = x / (1 + math.Exp(-x)) * float64(bv[i])
					tol[i] = 2e-7*math.Abs(want[i]) + 1e-30 // two float32 roundings
				}
				checkClose(t, "out", got, want, tol)
			})
			t.Run("Add/"+name, func(t *testing.T) {
				got := acrossThreads(t, name, func(d *Device) []float32 {
					a, b := upload(t, d, device.F32, av, n), upload(t, d, device.F32, bv, n)
					out := pick(d, a, b)
					if err := d.Add(out, a, b); err != nil {
						t.Fatal(err)
					}
					return download(t, d, out)
				})
				want := make([]float32, n)
				for i := range want {
					want[i] = av[i] + bv[i]
				}
				checkBitwise(t, "out", got, want)
			})
		}
	}
}

func TestArgMaxTopK(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	rows := [][]float32{
		{1, 3, 2, 3, -1},
		{nan, -inf, nan, -inf, -5},
		{nan, nan, nan, nan, nan},
		{0, 0, 0, 0, 0},
		{inf, nan, 7, inf, 2},
		{-1, -2, -3, -4, -0.5},
	}
	r := newRand(18)
	for range 4 {
		row := randVals(r, 5, 1)
		row[r.IntN(5)] = row[r.IntN(5)] // some ties
		rows = append(rows, row)
	}
	const d = 5
	n := len(rows)
	x := slices.Concat(rows...)
	// Reference ranking: a stable sort on value descending, NaN last.
	ranked := func(row []float32) []int32 {
		idx := []int32{0, 1, 2, 3, 4}
		sort.SliceStable(idx, func(a, b int) bool {
			va, vb := row[idx[a]], row[idx[b]]
			if va != va || vb != vb {
				return vb != vb && va == va
			}
			return va > vb
		})
		return idx
	}
	t.Run("ArgMax", func(t *testing.T) {
		for _, th := range threadCounts {
			dev := New(Options{Threads: th})
			out := mustAlloc(t, dev, device.I32, n)
			if err := dev.ArgMax(out, upload(t, dev, device.F32, x, n, d)); err != nil {
				t.Fatal(err)
			}
			got := downloadI32(t, dev, out)
			for i, row := range rows {
				want := ranked(row)[0]
				if row[want] != row[want] {
					want = -1 // all NaN
				}
				if got[i] != want {
					t.Errorf("threads %d: row %d %v: argmax %d, want %d", th, i, row, got[i], want)
				}
			}
		}
	})
	for _, k := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("TopK/k%d", k), func(t *testing.T) {
			for _, th := range threadCounts {
				dev := New(Options{Threads: th})
				vals, idx := mustAlloc(t, dev, device.F32, n, k), mustAlloc(t, dev, device.I32, n, k)
				if err := dev.TopK(vals, idx, upload(t, dev, device.F32, x, n, d), k); err != nil {
					t.Fatal(err)
				}
				gv, gi := download(t, dev, vals), downloadI32(t, dev, idx)
				for i, row := range rows {
					want := ranked(row)[:k]
					if !slices.Equal(gi[i*k:(i+1)*k], want) {
						t.Errorf("threads %d: row %d %v: top %d %v, want %v", th, i, row, k, gi[i*k:(i+1)*k], want)
					}
					for j, ix := range want {
						if math.Float32bits(gv[i*k+j]) != math.Float32bits(row[ix]) {
							t.Errorf("row %d: value %d is %v, want %v", i, j, gv[i*k+j], row[ix])
						}
					}
				}
			}
		})
	}
	t.Run("TopK/random", func(t *testing.T) {
		const n, d, k = 3, 1000, 40
		xv := randVals(newRand(19), n*d, 1)
		for i := range xv {
			xv[i] = float32(math.Round(float64(xv[i]) * 20)) // many ties
		}
		dev := New(Options{Threads: 4})
		vals, idx := mustAlloc(t, dev, device.F32, n, k), mustAlloc(t, dev, device.I32, n, k)
		if err := dev.TopK(vals, idx, upload(t, dev, device.F32, xv, n, d), k); err != nil {
			t.Fatal(err)
		}
		gi := downloadI32(t, dev, idx)
		for i := range n {
			row := xv[i*d : (i+1)*d]
			all := make([]int32, d)
			for j := range all {
				all[j] = int32(j)
			}
			sort.SliceStable(all, func(a, b int) bool { return row[all[a]] > row[all[b]] })
			if !slices.Equal(gi[i*k:(i+1)*k], all[:k]) {
				t.Errorf("row %d: top %d %v, want %v", i, k, gi[i*k:(i+1)*k], all[:k])
			}
		}
	})
}

// TestOpErrors checks that bad shapes, dtypes, devices and aliasing give one
// error naming the op and the device instead of a panic.
func TestOpErrors(t *testing.T) {
	d := New(Options{Name: "cpu:7", Threads: 2})
	other := New(Options{Name: "cpu:8"})
	f := func(shape ...int) device.Tensor { return mustAlloc(t, d, device.F32, shape...) }
	i32 := func(shape ...int) device.Tensor { return mustAlloc(t, d, device.I32, shape...) }
	w, _ := weight(t, d, "w", device.BF16, make([]float32, 12), 4, 3)
	x23, x24 := f(2, 3), f(2, 4)
	freed := f(2, 3)
	d.Free(freed)
	x34 := f(3, 4)
	view := func(row, n int) device.Tensor {
		v, err := d.View(x34, row, n)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	wf32, _ := weight(t, d, "wf32", device.F32, make([]float32, 6), 2, 3)
	cases := []struct {
		op    string
		err   error
		parts []string
	}{
		{"MatMul", d.MatMul(x23, x23, w), []string{"out", "[2 3]"}},
		{"MatMul", d.MatMul(f(2, 4), f(2, 5), w), []string{"inner", "[2 5]", "[4 3]"}},
		{"MatMul", d.MatMul(x24, w, w), []string{"x is BF16 [4 3]"}},
		{"MatMul", d.MatMul(w, x23, w), []string{"out"}},
		{"MatMul", d.MatMul(x24, x23, mustAlloc(t, other, device.F32, 4, 3)), []string{"cpu:8"}},
		{"MatMul", d.MatMul(x24, freed, w), []string{"freed"}},
		{"MatMul", d.MatMul(view(0, 1), view(0, 1), f(4, 4)), []string{"alias"}},
		{"RMSNorm", d.RMSNorm(x23, x23, f(4), 1e-6), []string{"w is F32 [4]"}},
		{"RMSNorm", d.RMSNorm(x24, x23, f(3), 1e-6), []string{"[2 4]", "[2 3]"}},
		{"RMSNorm", d.RMSNorm(view(0, 2), view(1, 2), f(4), 1e-6), []string{"overlaps"}},
		{"HeadRMSNorm", d.HeadRMSNorm(x23, f(2), 2, 1e-6), []string{"heads of 2"}},
		{"HeadRMSNorm", d.HeadRMSNorm(wf32, f(3), 3, 1e-6), []string{"read-only", "wf32"}},
		{"RoPE", d.RoPE(x24, 4, i32(3), 1e4), []string{"pos", "rows"}},
		{"RoPE", d.RoPE(x23, 3, i32(2), 1e4), []string{"even"}},
		{"RoPE", d.RoPE(x24, 4, i32(2), 0), []string{"theta"}},
		{"RoPE", d.RoPE(x24, 4, f(2), 1e4), []string{"pos is F32"}},
		{"KVAppend", d.KVAppend(f(4, 4), f(4, 4), x23, x23, 0), []string{"[2 3]", "[4 4]"}},
		{"KVAppend", d.KVAppend(x24, x24, x24, x24, 0), []string{"same"}},
		{"Attention", d.Attention(f(1, 8), f(1, 8), f(4, 4), f(4, 4), 0, 3, 2, 4), []string{"multiple"}},
		{"Attention", d.Attention(f(1, 8), f(1, 8), f(4, 4), f(4, 4), 4, 2, 1, 4), []string{"positions 4…4"}},
		{"Attention", d.Attention(f(1, 8), f(1, 8), f(4, 8), f(4, 4), 0, 2, 2, 4), []string{"kc is F32 [4 8]"}},
		{"Embedding", d.Embedding(x23, w, i32(3)), []string{"3 ids"}},
		{"Embedding", d.Embedding(x23, w, f(2)), []string{"ids is F32"}},
		{"SiLUMul", d.SiLUMul(x23, x23, x24), []string{"elements"}},
		{"Add", d.Add(f(5), f(5), i32(5)), []string{"b is I32"}},
		{"ArgMax", d.ArgMax(i32(3), x23), []string{"2 rows"}},
		{"ArgMax", d.ArgMax(x23, x23), []string{"out is F32"}},
		{"TopK", d.TopK(f(2, 4), i32(2, 4), x23, 4), []string{"k = 4"}},
		{"TopK", d.TopK(f(2, 2), i32(2, 3), x23, 2), []string{"idx is I32 [2 3]"}},
		{"View", func() error { _, err := d.View(x23, 1, 2); return err }(), []string{"[1, 3)"}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			t.Helper()
			wantErr(t, c.err, append([]string{c.op + " on cpu:7:"}, c.parts...)...)
		})
	}
}
