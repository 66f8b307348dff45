package gpucheck

import (
	"fmt"

	"github.com/ember-infer/ember/ember-core/device"
)

// decodeShapes are decode attention's launch paths the shared attention list
// does not reach: head_dim 64 and 256 (other 16-byte chunkings of a row), a
// group of 8 query heads (one warp per head), a head_dim whose bf16/fp16 rows
// are not whole 16-byte chunks (element loads), and a context shorter than
// the split count.
var decodeShapes = []att{
	{16, 8, 64, 1, 31}, {8, 8, 256, 1, 300}, {32, 4, 128, 1, 700}, {6, 3, 36, 1, 70}, {8, 2, 128, 1, 5},
}

// checkDecodeAttention checks GQA-packed decode attention against the CPU on
// decodeShapes, and once over cache views that start past row 0 (a view
// moves by whole rows, so its alignment is the cache's).
func checkDecodeAttention(e *opEnv) {
	for _, dt := range floatTypes {
		for _, a := range decodeShapes {
			name := fmt.Sprintf("Attention decode cache %v %dq/%dkv×%d at %d", dt, a.heads, a.kv, a.hd, a.start)
			e.run(name, func() error { return decodeAttention(e, name, dt, a, 0) })
		}
	}
	a := att{8, 2, 128, 1, 400}
	name := fmt.Sprintf("Attention decode cache view BF16 %dq/%dkv×%d at %d, rows from 3", a.heads, a.kv, a.hd, a.start)
	e.run(name, func() error { return decodeAttention(e, name, device.BF16, a, 3) })
}

// decodeAttention runs one decode attention check over caches whose rows
// begin at row skip of a larger allocation.
func decodeAttention(e *opEnv, name string, dt device.DType, a att, skip int) error {
	ctx := a.start + 1
	kc, _, err := e.random(dt, 1, skip+ctx, a.kv*a.hd)
	if err != nil {
		return err
	}
	vc, _, err := e.random(dt, 1, skip+ctx, a.kv*a.hd)
	if err != nil {
		return err
	}
	kv, vv := kc, vc
	if skip > 0 {
		if kv, err = e.views(kc, skip, ctx); err != nil {
			return err
		}
		if vv, err = e.views(vc, skip, ctx); err != nil {
			return err
		}
	}
	q, _, err := e.random(device.F32, 3, 1, a.heads*a.hd)
	if err != nil {
		return err
	}
	out, err := e.tensors(device.F32, nil, 1, a.heads*a.hd)
	if err != nil {
		return err
	}
	err = both(func() error { return e.c.Attention(out.c, q.c, kv.c, vv.c, a.start, a.heads, a.kv, a.hd) },
		func() error { return e.g.Attention(out.g, q.g, kv.g, vv.g, a.start, a.heads, a.kv, a.hd) })
	if err != nil {
		return err
	}
	e.within(name, out, tolAttention)
	return nil
}

// views returns rows [row, row+n) of p on both devices.
func (e *opEnv) views(p pair, row, n int) (pair, error) {
	var v pair
	var err error
	if v.c, err = e.c.View(p.c, row, n); err != nil {
		return v, err
	}
	v.g, err = e.g.View(p.g, row, n)
	return v, err
}

// checkBatchAttention checks BatchAttention (one launch over several
// sequences' caches) against the CPU's Attention row by row: rows of
// different lengths, one of a single key, one past a context bucket and one
// long enough to cut into several splits.
func checkBatchAttention(e *opEnv) {
	const heads, kv, hd = 8, 2, 128
	starts := []int{300, 0, 1199, 256, 37}
	for _, dt := range floatTypes {
		name := fmt.Sprintf("BatchAttention cache %v %dq/%dkv×%d, rows at %v", dt, heads, kv, hd, starts)
		e.run(name, func() error {
			n := len(starts)
			q, _, err := e.random(device.F32, 3, n, heads*hd)
			if err != nil {
				return err
			}
			out, err := e.tensors(device.F32, nil, n, heads*hd)
			if err != nil {
				return err
			}
			p := make([]int32, n)
			kcg, vcg := make([]device.Tensor, n), make([]device.Tensor, n)
			for b, st := range starts {
				p[b] = int32(st)
				kc, _, err := e.random(dt, 1, st+1+b, kv*hd)
				if err != nil {
					return err
				}
				vc, _, err := e.random(dt, 1, st+1+b, kv*hd)
				if err != nil {
					return err
				}
				kcg[b], vcg[b] = kc.g, vc.g
				qc, err := e.c.View(q.c, b, 1)
				if err != nil {
					return err
				}
				oc, err := e.c.View(out.c, b, 1)
				if err != nil {
					return err
				}
				if err := e.c.Attention(oc, qc, kc.c, vc.c, st, heads, kv, hd); err != nil {
					return err
				}
			}
			pos, err := e.tensors(device.I32, p, n)
			if err != nil {
				return err
			}
			if err := e.g.BatchAttention(out.g, q.g, pos.g, kcg, vcg, starts, heads, kv, hd); err != nil {
				return err
			}
			e.within(name, out, tolAttention)
			return nil
		})
	}
}
