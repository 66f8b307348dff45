package qwen3

import (
	"math"
	"testing"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/sampling"
)

// fusingDevice is a CPU device that also offers the optional fused ops, built
// from plain ops, so the model's use of them can be checked without a GPU.
type fusingDevice struct {
	*cpu.Device
	addNorms int
	samples  int
}

func (d *fusingDevice) AddRMSNorm(out, x, r, w device.Tensor, eps float32) error {
	d.addNorms++
	if err := d.Add(x, x, r); err != nil {
		return err
	}
	return d.RMSNorm(out, x, w, eps)
}

// SampleSorted picks candidate ⌊u·k⌋: not a real draw, but a rule the test can
// predict from the logits.
func (d *fusingDevice) SampleSorted(out, vals, idx device.Tensor, temp, topP, minP float32, u float64) error {
	d.samples++
	_, k := device.Rows(idx)
	ids := make([]int32, k)
	if err := d.Download(ids, idx); err != nil {
		return err
	}
	return d.Upload(out, []int32{ids[int(u*float64(k))]})
}

func fusingDevices(n int) ([]device.Device, []*fusingDevice) {
	var devs []device.Device
	var fds []*fusingDevice
	for _, c := range cpu.NewDevices(n, 0, 2) {
		f := &fusingDevice{Device: c}
		devs, fds = append(devs, f), append(fds, f)
	}
	return devs, fds
}

// TestFusedAddNorm: a device offering AddRMSNorm gets one call per layer per
// chunk, and the logits equal the unfused path's.
func TestFusedAddNorm(t *testing.T) {
	tm := load(t, "tiny")
	ids := prompt(13, tm.cfg.VocabSize)
	opt := SessionOptions{Ctx: 32, Chunk: 5, KVDType: device.F32, AllLogits: true}
	_, plain := openSession(t, tm, devices(2, 0), []int{3, 3}, opt)
	if _, err := plain.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	devs, fds := fusingDevices(2)
	_, fused := openSession(t, tm, devs, []int{3, 3}, opt)
	if _, err := fused.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	// 3 chunks (5+5+3) through 3 layers on each device.
	if fds[0].addNorms != 9 || fds[1].addNorms != 9 {
		t.Errorf("AddRMSNorm calls %d and %d, want 9 each", fds[0].addNorms, fds[1].addNorms)
	}
	want, got := plain.AllLogits(), fused.AllLogits()
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("logit %d: fused %g, plain %g", i, got[i], want[i])
		}
	}
}

// TestDecodeSample: DecodeSample takes the device's draw among the top-k of
// the step's logits; without a TokenSampler it refuses.
func TestDecodeSample(t *testing.T) {
	tm := load(t, "tiny")
	ids := prompt(9, tm.cfg.VocabSize)
	opt := SessionOptions{Ctx: 32, KVDType: device.F32}
	_, ref := openSession(t, tm, devices(2, 0), []int{3, 3}, opt)
	if _, err := ref.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	if ref.CanSampleOnDevice() {
		t.Fatal("a plain CPU device claims to sample")
	}
	if _, _, err := ref.DecodeSample(1, DeviceSampling{TopK: 5, Temp: 1, U: 0.5}); err == nil {
		t.Error("DecodeSample on a device without TokenSampler succeeded")
	}
	if _, err := ref.Decode(1); err != nil {
		t.Fatal(err)
	}
	top := sampling.TopK(append([]float32(nil), ref.Logits()...), 5, nil)

	devs, fds := fusingDevices(2)
	_, s := openSession(t, tm, devs, []int{3, 3}, opt)
	if _, err := s.Prefill(ids); err != nil {
		t.Fatal(err)
	}
	// u = 0.5 of k = 5 picks candidate 2, the third best logit.
	got, st, err := s.DecodeSample(1, DeviceSampling{TopK: 5, Temp: 0.7, TopP: 0.9, U: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got != top[2] || fds[1].samples != 1 || st.Stages[device.StageSampling] <= 0 {
		t.Errorf("DecodeSample = %d (draws %d), want the third best %d of %v", got, fds[1].samples, top[2], top)
	}
	if s.Pos() != len(ids)+1 {
		t.Errorf("Pos() = %d, want %d", s.Pos(), len(ids)+1)
	}
	if _, _, err := s.DecodeSample(got, DeviceSampling{TopK: 0, Temp: 1, U: 0.1}); err == nil {
		t.Error("top-k 0 accepted")
	}
}
