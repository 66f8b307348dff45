package cuda

/*
#include "shim.h"
*/
import "C"

import (
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

func uintptrOfHandle(h C.cublasHandle_t) uintptr { return uintptr(unsafe.Pointer(h)) }

func putU64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

// tuneReps is how many timed runs of each decode matmul path the tuner
// compares, after one warm-up run.
const tuneReps = 5

// decodePath returns the faster path for a matmul of n ≤ gemvMaxRows rows
// with w [o, k]: measured once per shape, batch-size bucket (rowBucket: 1, 2,
// 4, 8, 16 rows, timed at the bucket's largest n) and GPU model (the idle
// time of the measurement counts towards no stage) and kept (tunecache.go),
// unless EMBER_DECODE_GEMM forces one.
func (d *Device) decodePath(wt *tensor, o, k, n int) (MatMulPath, error) {
	switch d.gemmOverride {
	case "gemv":
		return PathGEMV, nil
	case "cublas":
		return PathCUBLAS, nil
	}
	key := mmKey{o: o, k: k, n: rowBucket(n), dt: wt.dt}
	if g, ok := d.decodeMM[key]; ok {
		if g {
			return PathGEMV, nil
		}
		return PathCUBLAS, nil
	}
	name := d.tuneKey(key)
	g, kept := cachedChoice(name)
	if !kept {
		tg, tc, err := d.timeDecodePaths(wt, o, k, key.n)
		if err != nil {
			return 0, err
		}
		g = preferGEMV(tg, tc)
		keepChoice(name, g)
	}
	d.decodeMM[key] = g
	if g {
		return PathGEMV, nil
	}
	return PathCUBLAS, nil
}

// cublasMargin is how much faster cuBLAS must be for a decode matmul to go to
// it. The two paths round differently (the GEMV keeps x in f32, cuBLAS takes
// it in the weight's type), so a choice that flipped between runs on timing
// noise would change logits between runs; GEMV, the more exact, is kept
// unless cuBLAS wins clearly.
const cublasMargin = 0.10

// preferGEMV decides between the measured times of the two paths.
func preferGEMV(gemv, cublas time.Duration) bool {
	return float64(cublas) >= float64(gemv)*(1-cublasMargin)
}

// l2Bytes returns the GPU's L2 cache size (6 MiB when the driver does not say).
func (d *Device) l2Bytes() int64 {
	if v := deviceAttr(d.phys.dev, attrL2CacheSize); v > 0 {
		return int64(v)
	}
	return 6 << 20
}

// attrL2CacheSize is CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE.
const attrL2CacheSize = 38

// maxTuneCopies bounds the weight copies the tuner rotates over.
const maxTuneCopies = 32

// tuneCopies returns how many copies of a weight of wBytes the tuner times
// in turn so that they span at least twice the L2 cache (at most most):
// timed on one small weight, both paths would read it from L2, not from
// memory as decode does.
func tuneCopies(wBytes, l2 int64, most int) int {
	if wBytes <= 0 {
		return 1
	}
	return int(min(int64(most), max(1, (2*l2+wBytes-1)/wBytes)))
}

// DecodeChoices reports the decode matmul shapes the device has measured and
// whether GEMV won each: "o×k n=1 BF16" → true.
func (d *Device) DecodeChoices() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]bool{}
	for k, g := range d.decodeMM {
		out[fmtShape(k)] = g
	}
	return out
}

func fmtShape(k mmKey) string {
	return itoa(k.o) + "×" + itoa(k.k) + " n=" + itoa(k.n) + " " + k.dt.String()
}

func itoa(v int) string {
	var b [20]byte
	i := len(b)
	if v == 0 {
		return "0"
	}
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// timeDecodePaths times the GEMV kernel and cuBLAS (conversion included) on
// scratch operands of the shape, on the compute stream, over the weight and
// copies of it spanning twice the L2 cache; it returns the time per matmul.
func (d *Device) timeDecodePaths(wt *tensor, o, k, n int) (gemv, blas time.Duration, err error) {
	if err := d.flush(); err != nil {
		return 0, 0, err
	}
	if m, ok, err := d.markOp(stageIdle); err != nil {
		return 0, 0, err
	} else if ok {
		if err := d.runDirect(m); err != nil {
			return 0, 0, err
		}
	}
	xb, ob := int64(n*k*4), int64(n*o*4)
	xp, err := d.devAlloc(xb, "matmul tuning input")
	if err != nil {
		return 0, 0, err
	}
	defer d.devFree(xp, xb)
	op_, err := d.devAlloc(ob, "matmul tuning output")
	if err != nil {
		return 0, 0, err
	}
	defer d.devFree(op_, ob)
	if wt.dt != device.F32 {
		if err := d.scratch(&d.gemmIn, int64(n*k*2), "the matmul input in "+wt.dt.String()); err != nil {
			return 0, 0, err
		}
	}
	if err := firstErr(d.zero(xp, uint64(xb))); err != nil {
		return 0, 0, err
	}
	// The weight and copies of it (contents do not matter for timing),
	// taken in turn; fewer copies when the budget has no room for them.
	ws := []*tensor{wt}
	wb := int64(wt.size())
	for range tuneCopies(wb, d.l2Bytes(), d.tuneCopies) - 1 {
		p, err := d.devAlloc(wb, "matmul tuning weights")
		if err != nil {
			break
		}
		defer d.devFree(p, wb)
		if err := d.zero(p, uint64(wb)); err != nil {
			return 0, 0, err
		}
		ws = append(ws, &tensor{dev: d, dt: wt.dt, shape: wt.shape, rows: wt.rows, cols: wt.cols, ptr: p})
	}
	xt := &tensor{dev: d, dt: device.F32, shape: []int{n, k}, rows: n, cols: k, ptr: xp}
	ot := &tensor{dev: d, dt: device.F32, shape: []int{n, o}, rows: n, cols: o, ptr: op_}
	var gs, bs segment
	gs.reset()
	bs.reset()
	b := xp
	if wt.dt != device.F32 {
		b = d.gemmIn.ptr
	}
	for _, w := range ws {
		d.gemv(&gs, ot, xt, w)
		if wt.dt != device.F32 {
			cnt := int64(n * k)
			kk := bs.launch(d.fnDT(famConvertF32, wt.dt), gridFor(cnt, blockElementwise), dim3{blockElementwise, 1, 1}, 0)
			kk.ptr(b).ptr(xp).i64(cnt).done()
		}
		bs.add(gemmOp(uint64(uintptrOfHandle(d.blas)), rowMajorXWt(n, o, k), w.ptr, b, op_, wt.dt))
	}
	if gemv, err = d.timeSegment(&gs); err != nil {
		return 0, 0, err
	}
	if blas, err = d.timeSegment(&bs); err != nil {
		return 0, 0, err
	}
	return gemv / time.Duration(len(ws)), blas / time.Duration(len(ws)), nil
}

// timeSegment runs s once to warm up, then tuneReps times between two
// events, and returns the mean time per run.
func (d *Device) timeSegment(s *segment) (time.Duration, error) {
	if err := d.run(s); err != nil {
		return 0, err
	}
	a, err := d.phys.event()
	if err != nil {
		return 0, err
	}
	defer d.phys.putEvent(a)
	b, err := d.phys.event()
	if err != nil {
		return 0, err
	}
	defer d.phys.putEvent(b)
	if err := d.launchBatch(d.compute, []op{{kind: opEvent, ev: a}}, nil, nil); err != nil {
		return 0, err
	}
	for range tuneReps {
		if err := d.run(s); err != nil {
			return 0, err
		}
	}
	if err := d.launchBatch(d.compute, []op{{kind: opEvent, ev: b}}, nil, nil); err != nil {
		return 0, err
	}
	if err := check("cuEventSynchronize", C.ember_event_sync(d.phys.ctx, C.ulonglong(b))); err != nil {
		return 0, err
	}
	var ms C.float
	if err := check("cuEventElapsedTime", C.ember_event_elapsed(d.phys.ctx, &ms, C.ulonglong(a), C.ulonglong(b))); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond) / tuneReps), nil
}

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }
