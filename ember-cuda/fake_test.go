package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

// Tests on a working fake driver (fakedriver.Options.Working): nothing runs,
// but every call succeeds, so the bookkeeping of opening, using and closing
// devices is checked without a GPU.

// fakeGPUs points the loader at a working fake driver and a fake cuBLAS.
func fakeGPUs(t testing.TB, o fakedriver.Options) {
	t.Helper()
	o.Working = true
	if o.Devices == 0 {
		o.Devices = 1
	}
	t.Setenv("EMBER_LIBCUDA", fakeDriver(t, o))
	t.Setenv("EMBER_CUDA_TUNE_CACHE", filepath.Join(t.TempDir(), "tune.json"))
	forgetCUBLAS(t)
	blas, err := fakedriver.BuildCUBLAS(t.TempDir())
	if err != nil {
		t.Skipf("no C compiler for a fake cuBLAS: %v", err)
	}
	t.Setenv("EMBER_CUBLAS", blas)
}

// fakeCount reads one of the fake driver's Counter* attributes for GPU 0.
func fakeCount(attr int) int {
	var p physical // GPU 0
	return deviceAttr(p.dev, attr)
}

// noLeaks fails unless everything the fake driver handed out was given back.
func noLeaks(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		attr int
		what string
	}{
		{fakedriver.CounterDeviceAllocs, "device allocations"},
		{fakedriver.CounterHostAllocs, "pinned host allocations"},
		{fakedriver.CounterEvents, "events"},
		{fakedriver.CounterStreams, "streams"},
		{fakedriver.CounterModules, "modules"},
		{fakedriver.CounterContextRefs, "retained contexts of GPU 0"},
		{fakedriver.CounterGraphs, "graphs"},
		{fakedriver.CounterGraphExecs, "graph executables"},
	} {
		if n := fakeCount(c.attr); n != 0 {
			t.Errorf("%d %s still live", n, c.what)
		}
	}
	if devicesOpen() {
		t.Error("a GPU is still held after every device closed")
	}
}

func TestFakeOpenUseClose(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	t.Setenv("EMBER_DECODE_GEMM", "gemv")
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	x, err := d.Alloc(device.F32, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.LoadWeight("w", device.BF16, make([]byte, 2*32*64), 32, 64)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Alloc(device.F32, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Upload(x, make([]float32, 128)); err != nil {
		t.Fatal(err)
	}
	if err := d.MatMul(out, x, w); err != nil {
		t.Fatal(err)
	}
	if err := d.Download(make([]float32, 64), out); err != nil {
		t.Fatal(err)
	}
	d.Free(x)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	noLeaks(t)
}

// A device that cannot get its own buffers (here the cuBLAS workspace, over
// a 1 MiB budget) fails to open with the out-of-memory error, gives back
// what it took and releases its GPU once, also when another device on the
// same GPU opened before it.
func TestFakeOpenFailsCleanly(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	for _, mem := range [][]int64{{1 << 20}, {256 << 20, 1 << 20}} {
		ordinals := make([]int, len(mem))
		_, err := Open(ordinals, mem)
		if !errors.Is(err, device.ErrOutOfMemory) {
			t.Fatalf("Open(%v, %v): %v, want out of memory", ordinals, mem, err)
		}
		noLeaks(t)
	}
}

// A staged copy (no peer access) leaves the source GPU's events for the
// destination to read at its next sync; closing the source device first must
// neither break that sync nor leak the events.
func TestFakeStagedCopySourceClosedFirst(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{Devices: 2})
	devs, err := Open([]int{0, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := devs[0], devs[1]
	src, err := a.Alloc(device.F32, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := b.Alloc(device.F32, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	if PeerAccess(0, 1) {
		t.Fatal("the fake GPUs have peer access")
	}
	if err := b.CopyFrom(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Errorf("Sync after the source device closed: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	noLeaks(t)
}

// Sampled decode draws with a new uniform number every step; the step's
// other launches must still be captured once and replayed.
func TestFakeSampledDecodeReplays(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{Graphs: true})
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	defer d.Close()
	logits, _ := d.Alloc(device.F32, 1, 1000)
	vals, _ := d.Alloc(device.F32, 1, 8)
	idx, _ := d.Alloc(device.I32, 1, 8)
	tok, _ := d.Alloc(device.I32, 1)
	for step := range 5 {
		if err := d.TopK(vals, idx, logits, 8); err != nil {
			t.Fatal(err)
		}
		if err := d.SampleSorted(tok, vals, idx, 0.7, 0.9, 0, float64(step)/7); err != nil {
			t.Fatal(err)
		}
		if err := d.Download(make([]int32, 1), tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, captured, replays, failures := d.GraphStats(); captured != 1 || replays != 4 || failures != 0 {
		t.Errorf("graph stats: %d captured, %d replays, %d failures; want 1, 4, 0", captured, replays, failures)
	}
}

// Decode steps record timing events only while stage timing is on: one per
// stage change. The download that ends the step is timed either way: its
// memcpy_d2h mark and the idle mark after it.
func TestFakeStageTimingDecode(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	defer d.Close()
	x, _ := d.Alloc(device.F32, 1, 64)
	w, _ := d.Alloc(device.F32, 64)
	step := func() int {
		t.Helper()
		before := fakeCount(fakedriver.CounterEventRecords)
		d.SetStage(device.StageRMSNorm)
		err := d.RMSNorm(x, x, w, 1e-6)
		d.SetStage(device.StageFFN)
		err = firstErr(err, d.Add(x, x, x))
		d.SetStage(device.StageAttention)
		err = firstErr(err, d.Add(x, x, x), d.Download(make([]float32, 64), x))
		if err != nil {
			t.Fatal(err)
		}
		return fakeCount(fakedriver.CounterEventRecords) - before
	}
	if n := step(); n != 2 {
		t.Errorf("stage timing off: %d events recorded, want 2 (the download's)", n)
	}
	d.SetStageTiming(true)
	if n := step(); n != 5 {
		t.Errorf("stage timing on: %d events recorded, want 5 (three stages and the download's two)", n)
	}
	d.SetStageTiming(false)
	if n := step(); n != 2 {
		t.Errorf("stage timing off again: %d events recorded, want 2", n)
	}
}

// The kernel tables ops issue from find the same kernels as their names.
func TestFakeKernelIndex(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer devs[0].Close()
	m := devs[0].phys.mods
	n := 0
	for _, names := range kernelNames() {
		for _, name := range names {
			for dt, suf := range storage {
				if prefix, ok := strings.CutSuffix(name, "_"+suf); ok && suf != "" {
					n++
					if got := m.kernelDT(prefix, device.DType(dt)); got == 0 || got != m.kernel(name) {
						t.Errorf("kernelDT(%q, %v) = %#x, %s is %#x", prefix, device.DType(dt), got, name, m.kernel(name))
					}
				}
			}
		}
	}
	// Every family the ops launch by index has kernels, and the same ones.
	for f, name := range familyNames {
		tt := m.typed[name]
		if tt == nil {
			t.Errorf("family %s has no kernels", name)
			continue
		}
		for dt := range storage {
			if got := m.hotDT(family(f), device.DType(dt)); got != tt[dt] {
				t.Errorf("hotDT(%s, %v) = %#x, kernelDT says %#x", name, device.DType(dt), got, tt[dt])
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d typed kernels checked", n)
	}
	for _, dt := range []device.DType{device.F32, device.F16, device.BF16} {
		for i, dpl := range dplVariants {
			if m.attn[0][dt][i] != m.kernel(attnDecodeName(dt, dpl)) || m.attn[1][dt][i] != m.kernel(attnPrefillName(dt, dpl)) ||
				m.attn[2][dt][i] != m.kernel(attnDecodeRowsName(dt, dpl)) || m.attn[0][dt][i] == 0 || m.attn[2][dt][i] == 0 {
				t.Errorf("attention table for %v, %d dims per lane", dt, dpl)
			}
		}
	}
}

// The residual add that ends a layer folds into the RMSNorm after it
// (add_rmsnorm), with graphs and without, unless something would come
// between or the operands alias in a way add_rmsnorm cannot take.
func TestFakeAddFoldsIntoRMSNorm(t *testing.T) {
	for _, graphs := range []bool{true, false} {
		t.Run(fmt.Sprintf("graphs=%v", graphs), func(t *testing.T) {
			fakeGPUs(t, fakedriver.Options{Graphs: true})
			if !graphs {
				t.Setenv("EMBER_CUDA_GRAPHS", "0")
			}
			devs, err := Open([]int{0}, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := devs[0]
			defer d.Close()
			x, _ := d.Alloc(device.F32, 1, 64)
			h, _ := d.Alloc(device.F32, 1, 64)
			o, _ := d.Alloc(device.F32, 1, 64)
			w, _ := d.Alloc(device.BF16, 64)
			both, _ := d.Alloc(device.F32, 2, 64)
			lo, _ := d.View(both, 0, 1)
			hi, _ := d.View(both, 1, 1)
			addNorm, rmsNorm, add := d.fnDT(famAddRMSNorm, device.BF16), d.fnDT(famRMSNorm, device.BF16), d.fn("add_f32")
			for _, tc := range []struct {
				name string
				ops  func() error
				want []uint64 // kernels launched
			}{
				{"out is r", func() error { return firstErr(d.Add(x, x, h), d.RMSNorm(h, x, w, 1e-6)) }, []uint64{addNorm}},
				{"out apart", func() error { return firstErr(d.Add(x, x, h), d.RMSNorm(o, x, w, 1e-6)) }, []uint64{addNorm}},
				{"views", func() error { return firstErr(d.Add(lo, lo, hi), d.RMSNorm(hi, lo, w, 1e-6)) }, []uint64{addNorm}},
				{"norm in place", func() error { return firstErr(d.Add(x, x, h), d.RMSNorm(x, x, w, 1e-6)) }, []uint64{add, rmsNorm}},
				{"add not in place", func() error { return firstErr(d.Add(o, x, h), d.RMSNorm(h, o, w, 1e-6)) }, []uint64{add, rmsNorm}},
				{"norm of another tensor", func() error { return firstErr(d.Add(x, x, h), d.RMSNorm(h, o, w, 1e-6)) }, []uint64{add, rmsNorm}},
				{"r is x", func() error { return firstErr(d.Add(x, x, x), d.RMSNorm(h, x, w, 1e-6)) }, []uint64{add, rmsNorm}},
				{"an op between", func() error {
					return firstErr(d.Add(x, x, h), d.Add(o, o, o), d.RMSNorm(h, x, w, 1e-6))
				}, []uint64{add, add, rmsNorm}},
				{"a stage mark between", func() error {
					d.SetStageTiming(true)
					defer d.SetStageTiming(false)
					d.SetStage(device.StageFFN)
					err := d.Add(x, x, h)
					d.SetStage(device.StageRMSNorm)
					return firstErr(err, d.RMSNorm(h, x, w, 1e-6))
				}, []uint64{add, rmsNorm}},
			} {
				var got []uint64
				d.mu.Lock()
				d.onLaunch = func(o *op) {
					if o.kind == opKernel {
						got = append(got, o.fn)
					}
				}
				d.mu.Unlock()
				if err := firstErr(tc.ops(), d.Sync()); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s: kernels %#x, want %#x", tc.name, got, tc.want)
				}
			}
		})
	}
}

// Operands the fast acceptance in operand lets through are exactly those the
// shared check accepts; the others get its sentences.
func TestFakeOperandChecks(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{Devices: 2})
	devs, err := Open([]int{0, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := devs[0], devs[1]
	defer a.Close()
	defer b.Close()
	x, _ := a.Alloc(device.F32, 1, 64)
	out, _ := a.Alloc(device.F32, 1, 64)
	other, _ := b.Alloc(device.F32, 1, 64)
	i32, _ := a.Alloc(device.I32, 1, 64)
	w, err := a.LoadWeight("model.norm.weight", device.F32, make([]byte, 4*64), 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := a.Alloc(device.F32, 1, 64)
	view, _ := a.View(gone, 0, 1)
	a.Free(gone)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"fine", a.Add(out, x, x), ""},
		{"other device", a.Add(out, x, other), "b (F32 [1 64]) lives on cuda:1; copy it here with CopyFrom first"},
		{"freed", a.Add(out, x, gone), "b (F32 [1 64]) has been freed"},
		{"view of freed", a.Add(out, view, x), "a (F32 [1 64]) has been freed"},
		{"dtype", a.Add(out, x, i32), "b is I32 [1 64] but must be F32"},
		{"weight written", a.Add(w, x, x), `out (F32 [1 64]) is the read-only weight "model.norm.weight"`},
		{"nil", a.Add(out, x, nil), "b is nil"},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		if want := "Add on cuda:0: " + tc.want; (tc.want == "" && got != "") || (tc.want != "" && got != want) {
			t.Errorf("%s: %q, want %q", tc.name, got, want)
		}
	}
}

// Without a budget given, a device's budget is what the GPU has free once
// cuBLAS has taken its own memory (here 100 MiB per handle), less the
// headroom: on a 1 GiB fake GPU, 1 GiB - 100 MiB - 256 MiB.
func TestFakeBudgetAfterCUBLAS(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	blas, err := fakedriver.BuildCUBLASWith(t.TempDir(), fakedriver.CUBLASOptions{HandleBytes: 100 << 20})
	if err != nil {
		t.Skip(err)
	}
	t.Setenv("EMBER_CUBLAS", blas)
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := devs[0].MemInfo()
	if want := int64(1<<30 - 100<<20 - headroom); total != want {
		t.Errorf("budget %d, want %d", total, want)
	}
	// A budget given is kept as given.
	devs[0].Close()
	devs, err = Open([]int{0}, []int64{512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := devs[0].MemInfo(); total != 512<<20 {
		t.Errorf("budget %d, want the %d given", total, 512<<20)
	}
	devs[0].Close()
	noLeaks(t)
}

func TestPreferGEMV(t *testing.T) {
	for _, tc := range []struct {
		gemv, cublas time.Duration
		want         bool
	}{
		{10 * time.Microsecond, 10 * time.Microsecond, true},
		{10 * time.Microsecond, 9100 * time.Nanosecond, true}, // cuBLAS 9% faster: noise
		{10 * time.Microsecond, 9 * time.Microsecond, true},   // exactly the margin
		{10 * time.Microsecond, 8900 * time.Nanosecond, false},
		{10 * time.Microsecond, 30 * time.Microsecond, true},
	} {
		if got := preferGEMV(tc.gemv, tc.cublas); got != tc.want {
			t.Errorf("preferGEMV(%v, %v) = %v", tc.gemv, tc.cublas, got)
		}
	}
}

func TestTuneCopies(t *testing.T) {
	const l2 = 6 << 20
	for _, tc := range []struct {
		w    int64
		want int
	}{{5 << 20, 3}, {12 << 20, 1}, {50 << 20, 1}, {1 << 20, 12}, {4 << 10, maxTuneCopies}, {0, 1}} {
		if got := tuneCopies(tc.w, l2, maxTuneCopies); got != tc.want {
			t.Errorf("tuneCopies(%d, %d) = %d, want %d", tc.w, l2, got, tc.want)
		}
	}
	// EMBER_CUDA_TUNE_COPIES caps them.
	if got := tuneCopies(1<<20, l2, 5); got != 5 {
		t.Errorf("tuneCopies(1 MiB, 6 MiB, at most 5) = %d, want 5", got)
	}
	if got := tuneCopies(5<<20, l2, 5); got != 3 {
		t.Errorf("tuneCopies(5 MiB, 6 MiB, at most 5) = %d, want 3", got)
	}
}

// EMBER_CUDA_TUNE_COPIES=2: the tuner times each path over the weight and one
// copy (the 12 copies a 1 MiB weight would take are capped); a value out of
// range refuses the device with a sentence naming the variable.
func TestFakeTunerCopiesCap(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	t.Setenv("EMBER_CUDA_TUNE_COPIES", "2")
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	w, _ := d.Alloc(device.BF16, 512, 1024)
	x, _ := d.Alloc(device.F32, 1, 1024)
	out, _ := d.Alloc(device.F32, 1, 512)
	got := recordKernels(d)
	if err := firstErr(d.MatMul(out, x, w), d.Sync()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range *got {
		if k == "gemv16_bf16" {
			n++
		}
	}
	if want := 2*(1+tuneReps) + 1; n != want {
		t.Errorf("tuning launched gemv16_bf16 %d times, want %d", n, want)
	}
	d.Close()
	for _, bad := range []string{"0", "33", "two"} {
		t.Setenv("EMBER_CUDA_TUNE_COPIES", bad)
		devs, err := Open([]int{0}, nil)
		if err == nil {
			devs[0].Close()
			t.Errorf("EMBER_CUDA_TUNE_COPIES=%s: Open succeeded", bad)
			continue
		}
		if want := `EMBER_CUDA_TUNE_COPIES="` + bad + `": want a whole number from 1 to 32`; !strings.Contains(err.Error(), want) {
			t.Errorf("EMBER_CUDA_TUNE_COPIES=%s: %v; want it to say %q", bad, err, want)
		}
	}
}

// The tuner times each path over the weight and copies of it that span
// twice the L2 cache (the fake GPU reports none: 6 MiB is assumed), one
// launch per copy, and frees the copies.
func TestFakeTunerRotates(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	defer d.Close()
	w, _ := d.Alloc(device.BF16, 512, 1024) // 1 MiB: 12 copies
	x, _ := d.Alloc(device.F32, 1, 1024)
	out, _ := d.Alloc(device.F32, 1, 512)
	allocs := fakeCount(fakedriver.CounterDeviceAllocs)
	got := recordKernels(d)
	if err := firstErr(d.MatMul(out, x, w), d.Sync()); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, k := range *got {
		count[k]++
	}
	// Each path: a warm-up run and tuneReps timed runs of 12 launches; then the matmul itself (GEMV: the times tie at 0).
	if want := 12*(1+tuneReps) + 1; count["gemv16_bf16"] != want || count["convert_f32_bf16"] != 12*(1+tuneReps) {
		t.Errorf("tuning launched %v; want %d gemv16_bf16 and %d convert_f32_bf16", count, want, 12*(1+tuneReps))
	}
	if n := fakeCount(fakedriver.CounterDeviceAllocs); n != allocs+1 { // the matmul input in bf16 stays
		t.Errorf("%d allocations after tuning, want %d", n, allocs+1)
	}
}

// recordKernels makes d record the names of the kernels it launches plainly
// and returns the list it fills.
func recordKernels(d *Device) *[]string {
	names := map[uint64]string{}
	for n, f := range d.phys.mods.fn {
		names[uint64(uintptrOf(f))] = n
	}
	var got []string
	d.mu.Lock()
	d.onLaunch = func(o *op) {
		if o.kind == opKernel {
			got = append(got, names[o.fn])
		}
	}
	d.mu.Unlock()
	return &got
}

// A tuned choice is kept in EMBER_CUDA_TUNE_CACHE: a later process (here, a
// fresh in-memory cache) takes it without timing; a choice of cuBLAS in the
// file is followed; a file that does not parse is tuned afresh and rewritten.
func TestFakeTuneCache(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	path := os.Getenv("EMBER_CUDA_TUNE_CACHE")
	newProcess := func() { tuneCache.mu.Lock(); tuneCache.choice = nil; tuneCache.mu.Unlock() }
	run := func() []string {
		t.Helper()
		devs, err := Open([]int{0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d := devs[0]
		defer d.Close()
		w, _ := d.Alloc(device.BF16, 512, 1024)
		x, _ := d.Alloc(device.F32, 1, 1024)
		out, _ := d.Alloc(device.F32, 1, 512)
		got := recordKernels(d)
		if err := firstErr(d.MatMul(out, x, w), d.Sync()); err != nil {
			t.Fatal(err)
		}
		return *got
	}
	if got := run(); len(got) != 2*12*(1+tuneReps)+1 {
		t.Fatalf("first run: %d kernels, want the tuning's and the matmul's", len(got))
	}
	key := "Fake GPU 0 cc8.6 80SM, CUDA 12.4, " + CUBLASLibrary() + ": 512×1024 n=1 BF16"
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"`+key+`": "gemv"`) {
		t.Fatalf("cache file %q (%v) lacks %q", b, err, key)
	}
	newProcess()
	if got := fmt.Sprint(run()); got != "[gemv16_bf16]" {
		t.Errorf("with the choice kept: kernels %s, want [gemv16_bf16]", got)
	}
	if err := os.WriteFile(path, []byte(`{"`+key+`": "cublas"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	newProcess()
	if got := fmt.Sprint(run()); got != "[convert_f32_bf16]" { // then cublasGemmEx
		t.Errorf("with cuBLAS kept: kernels %s, want [convert_f32_bf16]", got)
	}
	if err := os.WriteFile(path, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	newProcess()
	if got := run(); len(got) != 2*12*(1+tuneReps)+1 {
		t.Errorf("after a corrupt file: %d kernels, want a fresh tuning", len(got))
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"gemv"`) {
		t.Errorf("the corrupt file was not rewritten: %q", b)
	}
	t.Setenv("EMBER_CUDA_TUNE_CACHE", "off")
	if tuneCachePath() != "" {
		t.Error("EMBER_CUDA_TUNE_CACHE=off still names a file")
	}
}

// The GEMV, SwiGLU and q/k folds take exactly the sequences they can compute
// the same way, and leave every other one as issued.
func TestFakeFolds(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{Graphs: true})
	t.Setenv("EMBER_DECODE_GEMM", "gemv")
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	defer d.Close()
	const hd, heads, kvHeads = 16, 4, 2
	alloc := func(dt device.DType, shape ...int) device.Tensor {
		x, err := d.Alloc(dt, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x, x2 := alloc(device.F32, 1, 64), alloc(device.F32, 1, 64)
	wq, wk, wv, w4 := alloc(device.BF16, heads*hd, 64), alloc(device.BF16, kvHeads*hd, 64), alloc(device.BF16, kvHeads*hd, 64), alloc(device.BF16, 32, 64)
	w32 := alloc(device.F32, 32, 64)
	q, k, v, o4 := alloc(device.F32, 1, heads*hd), alloc(device.F32, 1, kvHeads*hd), alloc(device.F32, 1, kvHeads*hd), alloc(device.F32, 1, 32)
	qw, kw := alloc(device.BF16, hd), alloc(device.BF16, hd)
	pos := alloc(device.I32, 1)
	kc, vc := alloc(device.BF16, 8, kvHeads*hd), alloc(device.BF16, 8, kvHeads*hd)
	q3, k3, v3, pos3 := alloc(device.F32, 3, heads*hd), alloc(device.F32, 3, kvHeads*hd), alloc(device.F32, 3, kvHeads*hd), alloc(device.I32, 3)
	kw32, kc2, vc2 := alloc(device.F32, hd), alloc(device.BF16, 8, kvHeads*hd), alloc(device.BF16, 8, kvHeads*hd)
	qB, kB, vB := alloc(device.F32, 1, heads*hd), alloc(device.F32, 1, kvHeads*hd), alloc(device.F32, 1, kvHeads*hd)
	gB, uB := alloc(device.F32, 1, 32), alloc(device.F32, 1, 32)
	g, u := alloc(device.F32, 1, 32), alloc(device.F32, 1, 32)
	wsq, g64, u64 := alloc(device.BF16, 64, 64), alloc(device.F32, 1, 64), alloc(device.F32, 1, 64)
	qkv := func() error { return firstErr(d.MatMul(q, x, wq), d.MatMul(k, x, wk), d.MatMul(v, x, wv)) }
	norms := func() error { return firstErr(d.HeadRMSNorm(q, qw, hd, 1e-6), d.HeadRMSNorm(k, kw, hd, 1e-6)) }
	for _, tc := range []struct {
		name string
		ops  func() error
		want string
	}{
		{"q, k, v", qkv, "[gemv16x3_bf16]"},
		{"a fourth GEMV", func() error { return firstErr(qkv(), d.MatMul(o4, x, w4)) }, "[gemv16x3_bf16 gemv16_bf16]"},
		{"another x", func() error { return firstErr(d.MatMul(q, x, wq), d.MatMul(k, x2, wk)) }, "[gemv16_bf16 gemv16_bf16]"},
		{"f32 weights", func() error { return firstErr(d.MatMul(g, x, w32), d.MatMul(u, x, w4)) }, "[gemv_f32 gemv16_bf16]"},
		{"out over a GEMV's out", func() error { return firstErr(d.MatMul(g, x, w4), d.MatMul(g, x, w4)) }, "[gemv16_bf16 gemv16_bf16]"},
		{"gate, up, SiLUMul", func() error { return firstErr(d.MatMul(g, x, w4), d.MatMul(u, x, w4), d.SiLUMul(g, g, u)) }, "[gemv16_glu_bf16]"},
		{"SiLUMul of swapped operands", func() error { return firstErr(d.MatMul(g, x, w4), d.MatMul(u, x, w4), d.SiLUMul(g, u, g)) },
			"[gemv16x3_bf16 silu_mul_f32]"},
		{"SiLUMul into the GEMVs' input", func() error {
			return firstErr(d.MatMul(g64, x, wsq), d.MatMul(u64, x, wsq), d.SiLUMul(x, g64, u64))
		}, "[gemv16x3_bf16 silu_mul_f32]"},
		{"SiLUMul into up", func() error { return firstErr(d.MatMul(g, x, w4), d.MatMul(u, x, w4), d.SiLUMul(u, g, u)) }, "[gemv16_glu_bf16]"},
		{"norms, RoPE, append", func() error {
			return firstErr(norms(), d.RoPE(q, hd, pos, 1e6), d.RoPE(k, hd, pos, 1e6), d.KVAppend(kc, vc, k, v, 3))
		}, "[qk_rope_append_wbf16_kvbf16]"},
		{"RoPE of k first", func() error {
			return firstErr(norms(), d.RoPE(k, hd, pos, 1e6), d.RoPE(q, hd, pos, 1e6), d.KVAppend(kc, vc, k, v, 3))
		}, "[head_rmsnorm_bf16 head_rmsnorm_bf16 rope_neox_f32 rope_neox_f32 kv_append_bf16]"},
		{"append of another k", func() error {
			return firstErr(norms(), d.RoPE(q, hd, pos, 1e6), d.RoPE(k, hd, pos, 1e6), d.KVAppend(kc, vc, v, k, 3))
		}, "[head_rmsnorm_bf16 head_rmsnorm_bf16 rope_neox_f32 rope_neox_f32 kv_append_bf16]"},
		{"RoPE with other thetas", func() error {
			return firstErr(norms(), d.RoPE(q, hd, pos, 1e6), d.RoPE(k, hd, pos, 1e4), d.KVAppend(kc, vc, k, v, 3))
		}, "[head_rmsnorm_bf16 head_rmsnorm_bf16 rope_neox_f32 rope_neox_f32 kv_append_bf16]"},
		// (Other caches than the fold's above, whose segment this would repeat:
		// a repeated segment replays as a graph, and no kernel launch shows.)
		{"QKRoPEAppend", func() error { return d.QKRoPEAppend(q, k, v, qw, kw, pos, kc2, vc2, hd, 1e-6, 1e6, 3) },
			"[qk_rope_append_wbf16_kvbf16]"},
		{"QKRoPEAppend of three rows", func() error { return d.QKRoPEAppend(q3, k3, v3, qw, kw, pos3, kc, vc, hd, 1e-6, 1e6, 3) },
			"[head_rmsnorm_bf16 head_rmsnorm_bf16 rope_neox_f32 rope_neox_f32 kv_append_bf16]"},
		{"MatMulQKV", func() error { return d.MatMulQKV(qB, kB, vB, x, wq, wk, wv) }, "[gemv16x3_bf16]"},
		{"MatMulQKV of f32 weights", func() error { return d.MatMulQKV(g, u, o4, x, w32, w32, w32) }, "[gemv_f32 gemv_f32 gemv_f32]"},
		{"MatMulSwiGLU", func() error { return d.MatMulSwiGLU(gB, x, w4, w4, uB) }, "[gemv16_glu_bf16]"},
		{"MatMulSwiGLU without scratch", func() error { return d.MatMulSwiGLU(gB, x, w4, w4, nil) }, "[gemv16_glu_bf16]"},
		{"MatMulSwiGLU of f32 weights", func() error { return d.MatMulSwiGLU(gB, x, w32, w32, uB) },
			"[gemv_f32 gemv_f32 silu_mul_f32]"},
		{"QKRoPEAppend with norm weights of two dtypes", func() error {
			return d.QKRoPEAppend(q, k, v, qw, kw32, pos, kc, vc, hd, 1e-6, 1e6, 3)
		}, "[head_rmsnorm_bf16 head_rmsnorm_f32 rope_neox_f32 rope_neox_f32 kv_append_bf16]"},
	} {
		// Warm the RoPE tables first: making one flushes the segment.
		if err := firstErr(d.RoPE(q, hd, pos, 1e6), d.RoPE(q, hd, pos, 1e4), d.Sync()); err != nil {
			t.Fatal(err)
		}
		got := recordKernels(d)
		if err := firstErr(tc.ops(), d.Sync()); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if s := fmt.Sprint(*got); s != tc.want {
			t.Errorf("%s: kernels %s, want %s", tc.name, s, tc.want)
		}
	}
	// QKRoPEAppend checks each operand as its five ops would, and says which.
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"a cache as k", d.QKRoPEAppend(q, kc, v, qw, kw, pos, kc, vc, hd, 1e-6, 1e6, 3), "QKRoPEAppend on cuda:0: k is BF16"},
		{"kw of another head size", d.QKRoPEAppend(q, k, v, qw, w4, pos, kc, vc, hd, 1e-6, 1e6, 3), "headDim is 16"},
		{"three positions for one row", d.QKRoPEAppend(q, k, v, qw, kw, pos3, kc, vc, hd, 1e-6, 1e6, 3), "has 1 rows"},
		{"a row past the cache", d.QKRoPEAppend(q, k, v, qw, kw, pos, kc, vc, hd, 1e-6, 1e6, 8), "QKRoPEAppend on cuda:0: rows 8…8"},
		{"a zero theta", d.QKRoPEAppend(q, k, v, qw, kw, pos, kc, vc, hd, 1e-6, 0, 3), "theta 0"},
		{"MatMulQKV with overlapping outputs", d.MatMulQKV(qB, qB, vB, x, wq, wq, wv), "MatMulQKV on cuda:0: outputs"},
		{"MatMulSwiGLU of f32 weights without scratch", d.MatMulSwiGLU(gB, x, w32, w32, nil), "needs a scratch tensor"},
		{"MatMulSwiGLU with a scratch of another shape", d.MatMulSwiGLU(gB, x, w4, w4, x), "scratch is F32 [1 64] but out is F32 [1 32]"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
}

// Decode attention's per-head split counts start at zero: zeroed once when
// allocated (the kernel sets them back after each use), again only when a
// larger head count needs a new buffer.
func TestFakeAttentionSplitCounts(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{})
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := devs[0]
	defer d.Close()
	kc, _ := d.Alloc(device.BF16, 64, 2*16)
	vc, _ := d.Alloc(device.BF16, 64, 2*16)
	var zeroed []uint64
	d.mu.Lock()
	d.onLaunch = func(o *op) {
		if o.kind == opMemset && o.dst == d.attnDone.ptr {
			zeroed = append(zeroed, o.bytes)
		}
	}
	d.mu.Unlock()
	for _, heads := range []int{4, 4, 2, 8, 8} {
		q, _ := d.Alloc(device.F32, 1, heads*16)
		out, _ := d.Alloc(device.F32, 1, heads*16)
		if err := firstErr(d.Attention(out, q, kc, vc, 10, heads, 2, 16), d.Sync()); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(zeroed) != "[16 32]" {
		t.Errorf("split counts zeroed %v (bytes), want [16 32]", zeroed)
	}
}
