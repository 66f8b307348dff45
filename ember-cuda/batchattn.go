package cuda

import (
	"encoding/binary"
	"math"

	"github.com/ember-infer/ember/ember-core/device"
)

// maxRowTables bounds the cache-pointer tables BatchAttention keeps; past it
// they are all dropped (and the graphs that read them) and made again.
const maxRowTables = 512

// BatchAttention is decode attention for B sequences in one attn_decode_rows
// launch (device.BatchAttender): row b of q at position starts[b] over its own
// caches kc[b], vc[b], all of one dtype. The kernel reads the positions from
// pos and the caches' addresses from a small device table, one per distinct
// list of caches (a batch's per-layer caches stay put from step to step), so
// the launch's arguments do not change with the step and a captured graph
// replays it. Each row runs exactly as Attention runs one query.
func (d *Device) BatchAttention(out, q, pos device.Tensor, kc, vc []device.Tensor, starts []int, heads, kvHeads, headDim int) error {
	const op = "BatchAttention"
	if err := d.begin(op); err != nil {
		return err
	}
	defer d.mu.Unlock()
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
	if err := device.CheckBatchAttention(qt.Operand(), pt.Operand(), len(kc), len(vc), len(starts)); err != nil {
		return d.fail(op, err)
	}
	n := qt.rows
	if n == 0 {
		return nil
	}
	if ot.rows != n {
		return d.errorf(op, "out has %d rows but q has %d", ot.rows, n)
	}
	oo, qo := ot.Operand(), qt.Operand()
	table := make([]byte, 16*n)
	var dt device.DType
	maxStart := 0
	for b := range n {
		kt, err := d.operand(op, "kc", kc[b], device.AnyFloat, false)
		if err != nil {
			return err
		}
		vt, err := d.operand(op, "vc", vc[b], device.AnyFloat, false)
		if err != nil {
			return err
		}
		if err := device.CheckAttention(oo.Row(b), qo.Row(b), kt.Operand(), vt.Operand(), starts[b], heads, kvHeads, headDim, true); err != nil {
			return d.fail(op, err)
		}
		if b == 0 {
			dt = kt.dt
		} else if kt.dt != dt {
			return d.errorf(op, "row %d's cache is %v but row 0's is %v; one launch reads one cache type", b, kt.dt, dt)
		}
		binary.LittleEndian.PutUint64(table[16*b:], kt.ptr)
		binary.LittleEndian.PutUint64(table[16*b+8:], vt.ptr)
		maxStart = max(maxStart, starts[b])
	}
	dpl, err := dimsPerLane(headDim)
	if err != nil {
		return d.errorf(op, "%v", err)
	}
	g := heads / kvHeads
	if g > maxGroup {
		return d.errorf(op, "%d query heads per KV head is more than the %d decode attention packs in a block", g, maxGroup)
	}
	warps := decodeBlock(g)
	bkt := bucket(maxStart + 1)
	splits := attnSplits(bkt, n*kvHeads, d.phys.sms)
	if err := d.scratch(&d.attnPart, int64(n)*int64(heads)*maxSplits*int64(headDim+2)*4, "attention partials"); err != nil {
		return err
	}
	// The split counts start at 0 and the kernel sets them back (see Attention).
	need := int64(max(heads, n*kvHeads)) * 4
	fresh := d.attnDone.bytes < need
	if err := d.scratch(&d.attnDone, need, "attention split counts"); err != nil {
		return err
	}
	if fresh {
		if err := d.zero(d.attnDone.ptr, uint64(d.attnDone.bytes)); err != nil {
			return err
		}
	}
	tbl, err := d.rowTable(table)
	if err != nil {
		return err
	}
	acc, done := d.attnPart.ptr, d.attnDone.ptr
	ml := acc + uint64(n)*uint64(heads)*maxSplits*uint64(headDim)*4
	scale := float32(1 / math.Sqrt(float64(headDim)))
	return d.issue(true, func(s *segment) {
		s.bucket = max(s.bucket, bkt)
		k := s.launch(d.phys.mods.attn[2][dt][dplIndex(dpl)], dim3{uint32(kvHeads), uint32(splits), uint32(n)}, dim3{uint32(32 * warps), 1, 1}, decodeShmem(headDim, warps, dpl))
		k.tensor(ot).ptr(acc).ptr(ml).ptr(done).tensor(qt).ptr(tbl).tensor(pt).i32(heads).i32(kvHeads).i32(headDim).f32(scale).done()
	})
}

// rowTable returns the device copy of a table of cache addresses, uploading
// it the first time it is seen.
func (d *Device) rowTable(table []byte) (uint64, error) {
	key := string(table)
	if b, ok := d.rowTables[key]; ok {
		return b.ptr, nil
	}
	if len(d.rowTables) >= maxRowTables {
		// Work already issued, and graphs, may read the tables.
		if err := d.syncLocked(); err != nil {
			return 0, err
		}
		d.graphs.clear(d)
		for _, b := range d.rowTables {
			d.freeInternal(b)
		}
		clear(d.rowTables)
	}
	b, err := d.internalAlloc(int64(len(table)), "batched attention's cache table")
	if err != nil {
		return 0, err
	}
	if err := d.upload(b.ptr, len(table), func(dst []byte, off int) { copy(dst, table[off:]) }, false); err != nil {
		d.freeInternal(b)
		return 0, err
	}
	if d.rowTables == nil {
		d.rowTables = map[string]devBuf{}
	}
	d.rowTables[key] = b
	return b.ptr, nil
}

// freeInternal frees a buffer internalAlloc made before Close.
func (d *Device) freeInternal(b devBuf) {
	for i, c := range d.internal {
		if c == b {
			d.internal = append(d.internal[:i], d.internal[i+1:]...)
			break
		}
	}
	d.devFree(b.ptr, b.bytes)
}

// Device offers BatchAttention to the model.
var _ device.BatchAttender = (*Device)(nil)
