package cpu

import (
	"errors"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

// TestUnlimitedBudgetStillBoundedByRAM: a device without a budget refuses,
// as an out-of-memory error, a tensor larger than the machine's memory (a
// 2^40-position KV cache) instead of dying in the Go runtime.
func TestUnlimitedBudgetStillBoundedByRAM(t *testing.T) {
	ram := physicalMemory()
	if ram == 0 {
		t.Skip("this system does not report its memory")
	}
	d := New(Options{Threads: 1})
	_, err := d.Alloc(device.BF16, 1<<40, 64) // 128 TiB
	var oom *device.OutOfMemoryError
	if !errors.As(err, &oom) || !errors.Is(err, device.ErrOutOfMemory) {
		t.Fatalf("Alloc of 128 TiB on an unlimited device: %v, want *device.OutOfMemoryError", err)
	}
	if oom.Total != ram || oom.Requested != 1<<47 {
		t.Errorf("error %+v, want total %d (the machine's RAM) and 2^47 bytes requested", oom, ram)
	}
	if _, err := d.Alloc(device.F32, 16, 16); err != nil {
		t.Errorf("a small tensor after the refusal: %v", err)
	}
}
