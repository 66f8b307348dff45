package cpu

import (
	"errors"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

func TestNewDevices(t *testing.T) {
	ds := NewDevices(3, 1<<20, 2)
	for i, d := range ds {
		if want := "cpu:" + string(rune('0'+i)); d.Name() != want {
			t.Errorf("device %d is named %q, want %q", i, d.Name(), want)
		}
		if total, free := d.MemInfo(); total != 1<<20 || free != 1<<20 {
			t.Errorf("%s: MemInfo = %d, %d; want 1 MiB both", d.Name(), total, free)
		}
		if d.Threads() != 2 {
			t.Errorf("%s: %d threads, want 2", d.Name(), d.Threads())
		}
	}
	d := New(Options{})
	if total, free := d.MemInfo(); d.Name() != "cpu" || total != math.MaxInt64 || free != math.MaxInt64 {
		t.Errorf("default device: %q with MemInfo %d, %d; want \"cpu\", unlimited", d.Name(), total, free)
	}
	if d.Threads() < 1 {
		t.Errorf("default device has %d threads", d.Threads())
	}
}

func TestOutOfMemory(t *testing.T) {
	d := NewDevices(2, 1000, 1)[1]
	a := mustAlloc(t, d, device.F32, 10, 10) // 400 bytes
	_, err := d.Alloc(device.F32, 200)       // 800 bytes > 600 free
	var oom *device.OutOfMemoryError
	if !errors.As(err, &oom) || !errors.Is(err, device.ErrOutOfMemory) {
		t.Fatalf("Alloc over budget: %v, want *device.OutOfMemoryError", err)
	}
	if want := (device.OutOfMemoryError{Device: "cpu:1", Requested: 800, Free: 600, Total: 1000, What: "F32 [200]"}); *oom != want {
		t.Errorf("error is %+v, want %+v", *oom, want)
	}
	_, err = d.LoadWeight("model.layers.0.mlp.up_proj.weight", device.BF16, alignedBytes(800), 20, 20)
	if !errors.As(err, &oom) || oom.What != "model.layers.0.mlp.up_proj.weight" || oom.Requested != 800 {
		t.Fatalf("LoadWeight over budget: %v, want an OutOfMemoryError for the weight", err)
	}
	if _, free := d.MemInfo(); free != 600 {
		t.Errorf("free after failed allocations = %d, want 600", free)
	}

	v, err := d.View(a, 2, 3)
	if err != nil || v.Bytes() != 0 {
		t.Fatalf("View: %v, %v bytes; want a view holding 0 bytes", err, v)
	}
	if _, free := d.MemInfo(); free != 600 {
		t.Errorf("free after View = %d, want 600 (views use no budget)", free)
	}
	d.Free(v) // a no-op
	if _, free := d.MemInfo(); free != 600 {
		t.Errorf("free after freeing a view = %d, want 600", free)
	}

	d.Free(a)
	d.Free(a) // double free is a no-op
	if _, free := d.MemInfo(); free != 1000 {
		t.Errorf("free after Free = %d, want 1000", free)
	}
	if _, err := d.Alloc(device.BF16, 500); err != nil { // exactly the budget
		t.Errorf("Alloc of the whole budget: %v", err)
	}
	if _, err := d.Alloc(device.I32, 0); err != nil { // zero bytes always fit
		t.Errorf("Alloc of nothing when full: %v", err)
	}
	if err := d.Upload(v, make([]float32, 15)); err == nil {
		t.Error("Upload into a view of a freed tensor succeeded")
	}
	if _, err := d.Alloc(device.F32, 2, -1); err == nil {
		t.Error("Alloc with a negative dimension succeeded")
	}
}

func TestLoadWeightInPlace(t *testing.T) {
	d := New(Options{Name: "cpu:0", Budget: 1 << 20})
	for _, dt := range floatTypes {
		vals := randVals(newRand(20), 12, 1)
		b, want := encodeLE(t, dt, vals)
		w, err := d.LoadWeight("w", dt, b, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		c := w.(*tensor)
		if lo, _ := c.span(); lo != uintptr(unsafe.Pointer(&b[0])) {
			t.Errorf("%v: aligned weight was copied", dt)
		}
		checkBitwise(t, dt.String()+" values", download(t, d, w), want)
		if w.Bytes() != int64(len(b)) {
			t.Errorf("%v: Bytes = %d, want %d", dt, w.Bytes(), len(b))
		}
		// Writing the host bytes shows through: the tensor is a view of them.
		b[len(b)-1] ^= 0x80
		if got := download(t, d, w); got[11] != -want[11] {
			t.Errorf("%v: flipping the host sign bit gave %v, want %v", dt, got[11], -want[11])
		}

		// Misaligned bytes are copied and still decode correctly.
		mis := alignedBytes(len(b) + 1)[1:]
		copy(mis, b)
		w2, err := d.LoadWeight("w2", dt, mis, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		if dt.Size() > 1 {
			if lo, _ := w2.(*tensor).span(); lo == uintptr(unsafe.Pointer(&mis[0])) {
				t.Errorf("%v: misaligned weight was aliased", dt)
			}
		}
		want[11] = -want[11]
		checkBitwise(t, dt.String()+" misaligned values", download(t, d, w2), want)
		d.Free(w)
		d.Free(w2)
	}
	if _, err := d.LoadWeight("short", device.F32, make([]byte, 7), 2); err == nil {
		t.Error("LoadWeight with 7 bytes for F32 [2] succeeded")
	}
	w, _ := weight(t, d, "ro", device.F32, []float32{1, 2}, 2)
	wantErr(t, d.Upload(w, []float32{3, 4}), "Upload", "read-only", `"ro"`)
	if _, free := d.MemInfo(); free != 1<<20-8 {
		t.Errorf("free = %d, want budget less the 8-byte weight", free)
	}
}

func TestUploadDownload(t *testing.T) {
	d := New(Options{Name: "cpu:0"})
	nan := float32(math.NaN())
	vals := []float32{0, 1, -2.5, 1 + 1.0/256, 1 + 3.0/256, 3.14159265, 1e30, 70000, nan, float32(math.Inf(-1))}
	for _, dt := range floatTypes {
		x := upload(t, d, dt, vals, 2, 5)
		got := download(t, d, x)
		want := quantize(dt, vals)
		for i := range got {
			if got[i] != want[i] && !(got[i] != got[i] && vals[i] != vals[i]) {
				t.Errorf("%v: %v round-trips to %v, want %v", dt, vals[i], got[i], want[i])
			}
		}
	}
	// Rounding to nearest even, NaN kept, overflow to Inf.
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{1 + 1.0/256, 0x3f80},        // tie, even stays
		{1 + 3.0/256, 0x3f82},        // tie, odd rounds up
		{1 + 1.0/256 + 1e-7, 0x3f81}, // above the tie
		{math.MaxFloat32, 0x7f80},    // rounds to Inf
		{float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN stays NaN
		{math.Float32frombits(0xffc00000), 0xffc0},
	} {
		if got := f32ToBF16(c.in); got != c.want {
			t.Errorf("f32ToBF16(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	ids := uploadI32(t, d, []int32{5, -1, 1 << 30}, 3)
	if got := downloadI32(t, d, ids); got[0] != 5 || got[1] != -1 || got[2] != 1<<30 {
		t.Errorf("I32 round trip gave %v", got)
	}
	x := mustAlloc(t, d, device.F32, 4)
	wantErr(t, d.Upload(x, make([]float32, 3)), "Upload on cpu:0", "4 values", "3")
	wantErr(t, d.Upload(x, make([]int32, 4)), "Upload", "[]int32")
	wantErr(t, d.Upload(ids, make([]float32, 3)), "Upload", "[]float32")
	wantErr(t, d.Upload(x, []float64{1, 2, 3, 4}), "Upload", "[]float64")
	wantErr(t, d.Download(make([]float32, 5), x), "Download on cpu:0", "5")
	wantErr(t, d.Download(make([]int32, 4), x), "Download", "[]int32")
	wantErr(t, d.Download(make([]float32, 3), ids), "Download", "I32")
}

func TestViews(t *testing.T) {
	d := New(Options{Threads: 2})
	x := upload(t, d, device.F32, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3, 2, 2)
	v, err := d.View(x, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.Shape(); len(s) != 3 || s[0] != 2 || s[1] != 2 || s[2] != 2 {
		t.Fatalf("view shape %v, want [2 2 2]", s)
	}
	checkBitwise(t, "view", download(t, d, v), []float32{5, 6, 7, 8, 9, 10, 11, 12})
	// Ops on a view write the parent's memory.
	if err := d.Add(v, v, v); err != nil {
		t.Fatal(err)
	}
	checkBitwise(t, "parent", download(t, d, x), []float32{1, 2, 3, 4, 10, 12, 14, 16, 18, 20, 22, 24})
	vv, err := d.View(v, 1, 1) // a view of a view
	if err != nil {
		t.Fatal(err)
	}
	checkBitwise(t, "view of view", download(t, d, vv), []float32{18, 20, 22, 24})
	empty, err := d.View(x, 3, 0)
	if err != nil || device.Elems(empty.Shape()) != 0 {
		t.Fatalf("empty view: %v, %v", err, empty)
	}
	oneD := upload(t, d, device.F32, []float32{1, 2, 3}, 3)
	v1, err := d.View(oneD, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkBitwise(t, "1-D view", download(t, d, v1), []float32{2, 3})
	ids := uploadI32(t, d, []int32{4, 5, 6}, 3)
	iv, _ := d.View(ids, 2, 1)
	if got := downloadI32(t, d, iv); got[0] != 6 {
		t.Errorf("I32 view gave %v, want [6]", got)
	}
	d.Free(x)
	wantErr(t, d.Add(vv, vv, vv), "Add", "freed")
	if _, err := d.View(New(Options{}).mustF32(t, 2), 0, 1); err == nil {
		t.Error("View of another device's tensor succeeded")
	}
}

func (d *Device) mustF32(t *testing.T, n int) device.Tensor { return mustAlloc(t, d, device.F32, n) }

func TestCopyFromIsP2POnDestination(t *testing.T) {
	ds := NewDevices(2, 0, 2)
	src := upload(t, ds[0], device.BF16, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	dst := mustAlloc(t, ds[1], device.BF16, 6)
	ds[0].ResetTimings()
	ds[1].SetStage(device.StageAttention)
	if err := ds[1].CopyFrom(dst, src); err != nil {
		t.Fatal(err)
	}
	checkBitwise(t, "copy", download(t, ds[1], dst), []float32{1, 2, 3, 4, 5, 6})
	if tm := ds[1].Timings(); tm[device.StageP2P] <= 0 || tm[device.StageAttention] != 0 {
		t.Errorf("destination timings %v: want time in p2p only", tm)
	}
	if tm := ds[0].Timings(); tm.Total() != 0 {
		t.Errorf("source timings %v: want none", tm)
	}
	wantErr(t, ds[1].CopyFrom(dst, upload(t, ds[0], device.F32, make([]float32, 6), 6)), "CopyFrom on cpu:1", "BF16", "F32")
	wantErr(t, ds[1].CopyFrom(dst, upload(t, ds[0], device.BF16, make([]float32, 5), 5)), "CopyFrom", "element count")
	wantErr(t, ds[1].CopyFrom(src, dst), "CopyFrom", "lives on cpu:0")
}

func TestStageAttribution(t *testing.T) {
	d := New(Options{Threads: 2})
	x := upload(t, d, device.F32, randVals(newRand(21), 64*256, 1), 64, 256)
	w, _ := weight(t, d, "w", device.BF16, randVals(newRand(22), 256*256, 1), 256, 256)
	out := mustAlloc(t, d, device.F32, 64, 256)
	d.ResetTimings()
	d.SetStage(device.StageFFN)
	if err := d.MatMul(out, x, w); err != nil {
		t.Fatal(err)
	}
	d.SetStage(device.StageLMHead)
	_ = download(t, d, out)                             // memcpy_d2h regardless of stage
	_ = upload(t, d, device.F32, make([]float32, 4), 4) // memcpy_h2d regardless of stage
	// A single row for the norm and the add, so that the matmul outweighs
	// them whatever the kernels (the assembly matmul is faster than a
	// race-instrumented Go norm over all 64 rows).
	row := upload(t, d, device.F32, randVals(newRand(23), 256, 1), 1, 256)
	norm, _ := weight(t, d, "norm", device.F32, make([]float32, 256), 256)
	if err := d.RMSNorm(row, row, norm, 1e-6); err != nil {
		t.Fatal(err)
	}
	d.SetStage(device.Stage(200)) // ignored: time keeps going to lm_head
	if err := d.Add(row, row, row); err != nil {
		t.Fatal(err)
	}
	tm := d.Timings()
	for s := range device.NumStages {
		want := s == device.StageFFN || s == device.StageMemcpyD2H || s == device.StageMemcpyH2D || s == device.StageLMHead
		if (tm[s] > 0) != want {
			t.Errorf("stage %v has %v; want time: %v", s, tm[s], want)
		}
	}
	if tm[device.StageFFN] < tm[device.StageLMHead] {
		t.Errorf("the 64×256×256 matmul (%v) took less than an RMSNorm and an Add (%v)", tm[device.StageFFN], tm[device.StageLMHead])
	}
	d.ResetTimings()
	if tm := d.Timings(); tm.Total() != 0 {
		t.Errorf("timings after reset: %v", tm)
	}
}

// TestConcurrentDevices drives two devices from two goroutines, copying
// between them, while a third reads the timings: run with -race.
func TestConcurrentDevices(t *testing.T) {
	ds := NewDevices(2, 1<<20, 2)
	const n, k = 4, 64
	w := make([]device.Tensor, 2)
	for i, d := range ds {
		w[i], _ = weight(t, d, "w", device.BF16, randVals(newRand(23), k*k, 1), k, k)
	}
	x0 := upload(t, ds[0], device.F32, randVals(newRand(24), n*k, 1), n, k)
	h0 := mustAlloc(t, ds[0], device.F32, n, k)
	h1 := mustAlloc(t, ds[1], device.F32, n, k)
	y1 := mustAlloc(t, ds[1], device.F32, n, k)
	handoff := make(chan struct{})
	back := make(chan struct{})
	var workers, reader sync.WaitGroup
	done := make(chan struct{})
	workers.Add(2)
	go func() { // device 0: compute, hand over
		defer workers.Done()
		for range 20 {
			if err := ds[0].MatMul(h0, x0, w[0]); err != nil {
				t.Error(err)
			}
			handoff <- struct{}{}
			<-back
		}
		close(handoff)
	}()
	go func() { // device 1: copy in, compute
		defer workers.Done()
		for range handoff {
			if err := ds[1].CopyFrom(h1, h0); err != nil {
				t.Error(err)
			}
			back <- struct{}{}
			if err := ds[1].MatMul(y1, h1, w[1]); err != nil {
				t.Error(err)
			}
		}
	}()
	reader.Add(1)
	go func() { // an observer
		defer reader.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = ds[0].Timings()
				_, _ = ds[1].MemInfo()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	for range 10 { // allocation on a busy device is safe too
		a := mustAlloc(t, ds[1], device.F32, 16)
		ds[1].Free(a)
	}
	workers.Wait()
	close(done)
	reader.Wait()
	if ds[1].Timings()[device.StageP2P] == 0 || ds[0].Timings()[device.StageP2P] != 0 {
		t.Errorf("p2p time: device 0 %v, device 1 %v; want it on device 1 only", ds[0].Timings()[device.StageP2P], ds[1].Timings()[device.StageP2P])
	}
}

// TestWorkersExit checks that a device's worker goroutines end once the
// device is unreachable, so tests and sweeps that make many devices do not
// leak them.
func TestWorkersExit(t *testing.T) {
	// Devices of earlier tests may still be waiting for the collector to stop
	// their workers; let that settle first so the count below is this test's.
	before := settledGoroutines()
	func() {
		d := New(Options{Threads: 4})
		x := upload(t, d, device.F32, make([]float32, 64*64), 64, 64)
		out := mustAlloc(t, d, device.F32, 64, 64)
		if err := d.MatMul(out, x, x); err != nil {
			t.Fatal(err)
		}
		if n := runtime.NumGoroutine(); n < before+3 {
			t.Fatalf("%d goroutines after a parallel MatMul, want at least %d", n, before+3)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines remain, want at most %d", runtime.NumGoroutine(), before)
}

// settledGoroutines collects garbage until the goroutine count has stopped
// falling for a few rounds (or two seconds pass), and returns it.
func settledGoroutines() int {
	n, steady := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); steady < 3 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m < n {
			n, steady = m, 0
		} else {
			steady++
		}
	}
	return n
}

func TestNilTensors(t *testing.T) {
	d := New(Options{Name: "cpu:0"})
	x := mustAlloc(t, d, device.F32, 2, 2)
	var typedNil *tensor
	wantErr(t, d.Add(x, x, nil), "Add on cpu:0", "b is nil")
	wantErr(t, d.Add(x, typedNil, x), "Add on cpu:0", "a is a nil tensor")
	wantErr(t, d.CopyFrom(x, typedNil), "CopyFrom on cpu:0")
	d.Free(nil)
	d.Free(typedNil)
}
