package cpu

import (
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
	kct, err := d.operand(op, "kc", kc, anyFloat, true)
	if err != nil {
		return err
	}
	vct, err := d.operand(op, "vc", vc, anyFloat, true)
	if err != nil {
		return err
	}
	kt, err := d.operand(op, "k", k, onlyF32, false)
	if err != nil {
		return err
	}
	vt, err := d.operand(op, "v", v, onlyF32, false)
	if err != nil {
		return err
	}
	if overlaps(kct, vct) {
		return d.errorf(op, "kc and vc are the same tensor %v", kct)
	}
	if kct.rows != vct.rows || kct.cols != vct.cols {
		return d.errorf(op, "kc is %v but vc is %v; the caches must have the same shape", kct, vct)
	}
	n, kvDim := kt.rows, kt.cols
	if vt.rows != n || vt.cols != kvDim || kvDim != kct.cols {
		return d.errorf(op, "k is %v and v is %v but the caches are %v; want k and v [n %d]", kt, vt, kct, kct.cols)
	}
	if start < 0 || start+n > kct.rows {
		return d.errorf(op, "rows %d…%d of k %v do not fit cache %v", start, start+n-1, kt, kct)
	}
	if overlaps(kct, kt) || overlaps(kct, vt) || overlaps(vct, kt) || overlaps(vct, vt) {
		return d.errorf(op, "the caches %v may not alias k %v or v %v", kct, kt, vt)
	}
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
// Each (query, head) pair is one task, so a decode step's heads run in
// parallel. Scores are float32 dot products (the same kernel as MatMul's,
// striding down the cache rows) scaled by 1/sqrt(headDim); the softmax
// subtracts the row maximum before exp (float64), sums the weights in float64,
// accumulates the weighted values in float32 in cache order and divides once
// at the end.
func (d *Device) Attention(out, q, kc, vc device.Tensor, start, heads, kvHeads, headDim int) error {
	const op = "Attention"
	s := d.begin()
	defer d.end(s, time.Now())
	ot, err := d.operand(op, "out", out, onlyF32, true)
	if err != nil {
		return err
	}
	qt, err := d.operand(op, "q", q, onlyF32, false)
	if err != nil {
		return err
	}
	kct, err := d.operand(op, "kc", kc, anyFloat, false)
	if err != nil {
		return err
	}
	vct, err := d.operand(op, "vc", vc, anyFloat, false)
	if err != nil {
		return err
	}
	if heads <= 0 || kvHeads <= 0 || headDim <= 0 || heads%kvHeads != 0 {
		return d.errorf(op, "heads %d, kvHeads %d and headDim %d for q %v must be positive with heads a multiple of kvHeads", heads, kvHeads, headDim, qt)
	}
	n, qDim, kvDim := qt.rows, heads*headDim, kvHeads*headDim
	if qt.cols != qDim {
		return d.errorf(op, "q is %v but %d heads of %d need rows of %d", qt, heads, headDim, qDim)
	}
	if ot.rows != n || ot.cols != qDim {
		return d.errorf(op, "out is %v but q is %v; they must have the same rows and columns", ot, qt)
	}
	if overlaps(ot, qt) || overlaps(ot, kct) || overlaps(ot, vct) {
		return d.errorf(op, "out %v may not alias its inputs", ot)
	}
	if kct.cols != kvDim || vct.cols != kvDim || kct.rows != vct.rows {
		return d.errorf(op, "kc is %v and vc is %v but %d kv heads of %d need [ctx %d] for both", kct, vct, kvHeads, headDim, kvDim)
	}
	if start < 0 || start+n > kct.rows {
		return d.errorf(op, "queries at positions %d…%d of q %v do not fit cache %v", start, start+n-1, qt, kct)
	}
	if n == 0 {
		return nil
	}
	d.jobs.attn = attnJob{
		d: d, q: qt.f32, out: ot.f32, kc: kct, vc: vct,
		start: start, heads: heads, group: heads / kvHeads, headDim: headDim,
		scale: float32(1 / math.Sqrt(float64(headDim))),
	}
	d.pool.run(n*heads, &d.jobs.attn)
	d.jobs.attn = attnJob{}
	return nil
}

// attnJob is Attention's parallel part: task i*heads+h is query i, head h.
type attnJob struct {
	d                            *Device
	q, out                       []float32
	kc, vc                       *tensor
	start, heads, group, headDim int
	scale                        float32
}

func (j *attnJob) run(worker, task int) {
	hd := j.headDim
	i, h := task/j.heads, task%j.heads
	qDim, kvDim := j.heads*hd, j.kc.cols
	ctx := j.start + i + 1 // causal: rows 0 … start+i
	kvOff := (h / j.group) * hd
	qh := j.q[i*qDim+h*hd : i*qDim+h*hd+hd]
	oh := j.out[i*qDim+h*hd : i*qDim+h*hd+hd]
	// Scratch for the whole cache, so decode steps never grow it.
	w := j.d.scratch[worker].floats(j.kc.rows)[:ctx]

	switch j.kc.dt {
	case device.F32:
		dotRowsF32(w, qh, j.kc.f32[kvOff:], kvDim)
	default:
		dotRows16(w, qh, j.kc.u16[kvOff:], kvDim, j.kc.dt == device.BF16)
	}
	m := float32(math.Inf(-1))
	for t, sc := range w {
		sc *= j.scale
		w[t] = sc
		if sc > m {
			m = sc
		}
	}
	var sum float64
	for t, sc := range w {
		e := float32(math.Exp(float64(sc - m)))
		w[t] = e
		sum += float64(e)
	}
	switch j.vc.dt {
	case device.F32:
		wsumRowsF32(oh, w, j.vc.f32[kvOff:], kvDim)
	default:
		wsumRows16(oh, w, j.vc.u16[kvOff:], kvDim, j.vc.dt == device.BF16)
	}
	inv := float32(1 / sum)
	for c := range oh {
		oh[c] *= inv
	}
}
