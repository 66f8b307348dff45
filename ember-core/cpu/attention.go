package cpu

import (
	"fmt"
	"math"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
)

// KVAppend writes k and v (F32 [n, kvDim]) into rows start … start+n-1 of the
// caches kc and vc ([ctx, kvDim], F32, F16 or BF16; narrowing rounds to
// nearest even).
func (d *Device) KVAppend(kc, vc, k, v device.Tensor, start int) error {
	const op = "KVAppend"
	s := d.begin()
	defer d.end(s, time.Now())
	kct, err := d.operand(op, "kc", kc, device.AnyFloat, true)
	if err != nil {
		return err
	}
	vct, err := d.operand(op, "vc", vc, device.AnyFloat, true)
	if err != nil {
		return err
	}
	kt, err := d.operand(op, "k", k, device.OnlyF32, false)
	if err != nil {
		return err
	}
	vt, err := d.operand(op, "v", v, device.OnlyF32, false)
	if err != nil {
		return err
	}
	// The CPU widens each cache on its own, so kc and vc may differ in dtype.
	if err := device.CheckKVAppend(kct.Operand(), vct.Operand(), kt.Operand(), vt.Operand(), start, false); err != nil {
		return d.fail(op, err)
	}
	n, kvDim := kt.rows, kt.cols
	for _, p := range [2]struct{ dst, src *tensor }{{kct, kt}, {vct, vt}} {
		src := p.src.f32
		off := start * kvDim
		switch p.dst.dt {
		case device.F32:
			copy(p.dst.f32[off:off+n*kvDim], src)
		default:
			d.jobs.encode = encodeJob{dst: p.dst.u16[off : off+n*kvDim], src: src, cols: kvDim, bf: p.dst.dt == device.BF16}
			d.forRanges(n, kvDim, &d.jobs.encode)
			d.jobs.encode = encodeJob{}
		}
	}
	return nil
}

// encodeJob narrows rows of cols F32 values into F16 or BF16 bits.
type encodeJob struct {
	dst  []uint16
	src  []float32
	cols int
	bf   bool
}

func (j *encodeJob) ranges(_, lo, hi int) {
	encode16(j.dst[lo*j.cols:hi*j.cols], j.src[lo*j.cols:hi*j.cols], j.bf)
}

// Attention is causal grouped-query attention of the n queries in q (F32
// [n, heads*headDim]) at positions start … start+n-1 over cache rows
// 0 … start+n-1 of kc and vc ([ctx, kvHeads*headDim], F32, F16 or BF16).
// Query head h reads kv head h/(heads/kvHeads). out is F32 [n, heads*headDim].
//
// Work is split across kv heads (a decode step's kv heads run in parallel,
// each with its query heads) and, in prefill, blocks of queries. Scores are
// float32 dot products (MatMul's kernels: a 4-row dot down the cache for one
// query, the GEMM tile for a block) scaled by 1/sqrt(headDim); the softmax
// subtracts the row maximum before exp (float64), sums the weights in float64,
// accumulates the weighted values in float32 in cache order and divides once
// at the end.
func (d *Device) Attention(out, q, kc, vc device.Tensor, start, heads, kvHeads, headDim int) error {
	const op = "Attention"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	qt, err := d.operand(op, "q", q, device.OnlyF32, false)
	if err != nil {
		return err
	}
	kct, err := d.operand(op, "kc", kc, device.AnyFloat, false)
	if err != nil {
		return err
	}
	vct, err := d.operand(op, "vc", vc, device.AnyFloat, false)
	if err != nil {
		return err
	}
	if err := device.CheckAttention(ot.Operand(), qt.Operand(), kct.Operand(), vct.Operand(), start, heads, kvHeads, headDim, false); err != nil {
		return d.fail(op, err)
	}
	d.attend(ot.f32, qt.f32, kct, vct, qt.rows, start, heads, kvHeads, headDim)
	return nil
}

// attend runs Attention's job on checked operands: out and q hold n rows.
func (d *Device) attend(out, q []float32, kct, vct *tensor, n, start, heads, kvHeads, headDim int) {
	if n == 0 {
		return
	}
	tasks := kvHeads // decode: one task per kv head and its query heads
	if n > 1 {
		tasks = (n + attnBlock - 1) / attnBlock * kvHeads
	}
	d.sizeScores(kct.rows)
	d.jobs.attn = d.attnBase(heads, kvHeads, headDim)
	d.jobs.attn.q, d.jobs.attn.out, d.jobs.attn.kc, d.jobs.attn.vc = q, out, kct, vct
	d.jobs.attn.n, d.jobs.attn.start = n, start
	d.pool.run(tasks, &d.jobs.attn)
	d.jobs.attn = attnJob{}
}

// sizeScores grows every worker's decode score scratch to rows keys: done by
// the prefill that comes first (and a batched step), so that no decode task
// grows it (each worker's first would, an allocation ember bench counts).
func (d *Device) sizeScores(rows int) {
	for w := range d.scratch {
		d.scratch[w].floats(rows)
	}
}

// attnBase is an attnJob's shape for one call: everything but the rows'
// queries, outputs, caches and positions, the same for Attention and for
// every row of a BatchAttention (so both scale the scores alike).
func (d *Device) attnBase(heads, kvHeads, headDim int) attnJob {
	return attnJob{
		d: d, heads: heads, group: heads / kvHeads, headDim: headDim,
		scale: float32(1 / math.Sqrt(float64(headDim))),
	}
}

// attnBlock is the most queries that a prefill task takes: for each query
// head of one kv head, their scores come from one GEMM against the kv head's
// cache rows, widened once into an f32 panel, instead of one pass over the
// cache per query and head.
const attnBlock = 64

// attnJob is Attention's parallel part. With one query (decode) task g is kv
// head g and its query heads one after another, reading the cache in place.
// With more, task b*kvHeads+g is kv head g and the query heads that read it,
// for queries [b*attnBlock, (b+1)*attnBlock), through panels. Both paths give
// the same bits: scores sum as dotRows does whatever the tile, and widening is
// exact.
type attnJob struct {
	d                               *Device
	q, out                          []float32
	kc, vc                          *tensor
	n, start, heads, group, headDim int
	scale                           float32
}

func (j *attnJob) run(worker, task int) {
	hd := j.headDim
	qDim := j.heads * hd
	sc := &j.d.scratch[worker]
	if j.n == 1 {
		j.decodeKV(sc, task)
		return
	}

	kvHeads := j.heads / j.group
	b, g := task/kvHeads, task%kvHeads
	kvOff := g * hd
	i0 := b * attnBlock
	i1 := min(i0+attnBlock, j.n)
	rows := j.start + i1 // cache rows the block's last query reads
	kp, vp := sc.floats(rows*hd), sc.floats2(rows*hd)
	panel(kp, j.kc, kvOff, rows, hd)
	panel(vp, j.vc, kvOff, rows, hd)
	S := sc.floats3((i1 - i0) * rows)
	var inv [attnBlock]float32
	for h := g * j.group; h < (g+1)*j.group; h++ {
		gemmF32(S, rows, j.q[i0*qDim+h*hd:], qDim, i1-i0, kp, rows, hd)
		for i := i0; i < i1; i++ {
			w := S[(i-i0)*rows : (i-i0)*rows+j.start+i+1] // causal: rows 0 … start+i
			inv[i-i0] = float32(1 / softmax(w, j.scale))
		}
		// The weighted values four queries at a time, so that a value row is
		// read once for the four; each query's sum has the one-query bits.
		out := j.out[h*hd:]
		i := i0
		for ; i+4 <= i1; i += 4 {
			wsum4RowsF32(out[i*qDim:], qDim, S[(i-i0)*rows:], rows, vp, hd, j.start+i+1, hd)
		}
		for ; i < i1; i++ {
			wsumRowsF32(out[i*qDim:i*qDim+hd], S[(i-i0)*rows:(i-i0)*rows+j.start+i+1], vp, hd)
		}
		for i := i0; i < i1; i++ {
			oh := out[i*qDim : i*qDim+hd]
			for c := range oh {
				oh[c] *= inv[i-i0]
			}
		}
	}
}

// decodeKV is decode task g: kv head g's query heads one after another, so
// that the second and later read the kv head's rows from this core's cache.
func (j *attnJob) decodeKV(sc *scratch, g int) {
	ctx := j.start + 1
	w := sc.floats(j.kc.rows)[:ctx]
	for h := g * j.group; h < (g+1)*j.group; h++ {
		j.decodeHead(w, h, ctx)
	}
}

// decodeHead is one query head h of a decode step over ctx cache rows, with
// w (ctx floats) as its scores' scratch.
func (j *attnJob) decodeHead(w []float32, h, ctx int) {
	hd := j.headDim
	kvDim := j.kc.cols
	kvOff := (h / j.group) * hd
	qh, oh := j.q[h*hd:h*hd+hd], j.out[h*hd:h*hd+hd]
	switch j.kc.dt {
	case device.F32:
		dotRowsF32(w, qh, j.kc.f32[kvOff:], kvDim)
	default:
		dotRows16(w, qh, j.kc.u16[kvOff:], kvDim, j.kc.dt == device.BF16)
	}
	inv := float32(1 / softmax(w, j.scale))
	switch j.vc.dt {
	case device.F32:
		wsumRowsF32(oh, w, j.vc.f32[kvOff:], kvDim)
	default:
		wsumRows16(oh, w, j.vc.u16[kvOff:], kvDim, j.vc.dt == device.BF16)
	}
	for c := range oh {
		oh[c] *= inv
	}
}

// softmax turns scores w into exp(w·scale − max) in place and returns their
// sum: the scaled scores are float32, exp float64, and the sum float64 in
// four chains (sum4), not one add's latency per key.
func softmax(w []float32, scale float32) float64 {
	m := float32(math.Inf(-1))
	for t, s := range w {
		s *= scale
		w[t] = s
		if s > m {
			m = s
		}
	}
	expShiftF32(w, m)
	return sum4(w)
}

// panel copies the hd columns at off of c's first rows rows into dst, packed
// and widened to f32 (exactly).
func panel(dst []float32, c *tensor, off, rows, hd int) {
	cols := c.cols
	for t := range rows {
		src := t*cols + off
		if c.dt == device.F32 {
			copy(dst[t*hd:t*hd+hd], c.f32[src:src+hd])
		} else {
			decode16(dst[t*hd:t*hd+hd], c.u16[src:src+hd], c.dt == device.BF16)
		}
	}
}

// BatchAttention runs Attention for each row of q over its own caches (see
// device.BatchAttender): row by row, each row checked as Attention checks its
// one query and run through Attention's job on the row's slices, so each row
// has Attention's bits and a step makes no views. The CPU reads the positions
// from starts, not pos.
func (d *Device) BatchAttention(out, q, pos device.Tensor, kc, vc []device.Tensor, starts []int, heads, kvHeads, headDim int) error {
	const op = "BatchAttention"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, err := d.operand(op, "out", out, device.OnlyF32, true)
	if err != nil {
		return err
	}
	qt, err := d.operand(op, "q", q, device.OnlyF32, false)
	if err != nil {
		return err
	}
	pt, err := d.operand(op, "pos", pos, device.OnlyI32, false)
	if err != nil {
		return err
	}
	qo, oo := qt.Operand(), ot.Operand()
	if err := device.CheckBatchAttention(qo, pt.Operand(), len(kc), len(vc), len(starts)); err != nil {
		return d.fail(op, err)
	}
	if oo.Rows != qo.Rows || oo.Cols != qo.Cols {
		return d.fail(op, fmt.Errorf("out is %v but q is %v; they must be the same shape", oo, qo))
	}
	// Each row is Attention of its one query over its own caches (same
	// checks, same decode tasks), without making row views; the tasks of
	// every row and kv head are one hand-out to the threads.
	cols, n := qt.cols, qt.rows
	if cap(d.batchRows) < n {
		d.batchRows = make([]batchAttnRow, n)
	}
	rows := d.batchRows[:n]
	maxCtx := 0
	for i := range n {
		kct, err := d.operand(op, "kc", kc[i], device.AnyFloat, false)
		if err != nil {
			return err
		}
		vct, err := d.operand(op, "vc", vc[i], device.AnyFloat, false)
		if err != nil {
			return err
		}
		if err := device.CheckAttention(oo.RowIn(i, d.rowShape[:0]), qo.RowIn(i, d.rowShape[:0]), kct.Operand(), vct.Operand(), starts[i], heads, kvHeads, headDim, false); err != nil {
			return d.fail(op, fmt.Errorf("row %d: %w", i, err))
		}
		rows[i] = batchAttnRow{q: qt.f32[i*cols : (i+1)*cols], out: ot.f32[i*cols : (i+1)*cols], kc: kct, vc: vct, start: starts[i]}
		maxCtx = max(maxCtx, kct.rows)
	}
	if n == 0 {
		return nil
	}
	d.sizeScores(maxCtx)
	d.jobs.batchAttn = batchAttnJob{base: d.attnBase(heads, kvHeads, headDim), rows: rows}
	d.jobs.batchAttn.base.n = 1
	d.pool.run(n*kvHeads, &d.jobs.batchAttn)
	d.jobs.batchAttn = batchAttnJob{}
	clear(rows) // no references to the tensors kept past the op
	return nil
}

// batchAttnRow is one row of a BatchAttention: its query and output and its
// caches.
type batchAttnRow struct {
	q, out []float32
	kc, vc *tensor
	start  int
}

// batchAttnJob is BatchAttention's parallel part: task r*kvHeads+g is
// Attention's decode task g on row r (base with the row's operands).
type batchAttnJob struct {
	base attnJob
	rows []batchAttnRow
}

func (j *batchAttnJob) run(worker, task int) {
	kvHeads := j.base.heads / j.base.group
	r := &j.rows[task/kvHeads]
	a := j.base
	a.q, a.out, a.kc, a.vc, a.start = r.q, r.out, r.kc, r.vc, r.start
	a.decodeKV(&a.d.scratch[worker], task%kvHeads)
}
