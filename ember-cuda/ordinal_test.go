package cuda

import (
	"slices"
	"testing"

	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

func TestMatchOrdinals(t *testing.T) {
	gpus := []GPU{{BusID: "00000000:3B:00.0"}, {BusID: "00000000:5E:00.0"}, {BusID: "00000001:1A:01.0"}}
	// CUDA's fastest-first order puts NVML's GPU 1 first.
	loc := map[int]pciLoc{0: {0, 0x5e, 0}, 1: {1, 0x1a, 1}, 2: {0, 0x3b, 0}}
	pci := func(o int) (pciLoc, bool) { l, ok := loc[o]; return l, ok }
	got, err := matchOrdinals([]int{0, 1, 2, 0}, pci, gpus)
	if err != nil || !slices.Equal(got, []int{1, 2, 0, 1}) {
		t.Errorf("matchOrdinals = %v, %v; want [1 2 0 1]", got, err)
	}
	loc[3] = pciLoc{0, 0x86, 0}
	if _, err := matchOrdinals([]int{3}, pci, gpus); err == nil || err.Error() != "CUDA device 3 (PCI 00000000:86:00) is not among the 3 GPUs NVML reports" {
		t.Errorf("a GPU NVML does not list: %v", err)
	}
	// No PCI location known: the ordinal is the index, if NVML has it.
	none := func(int) (pciLoc, bool) { return pciLoc{}, false }
	if got, err := matchOrdinals([]int{2, 0}, none, gpus); err != nil || !slices.Equal(got, []int{2, 0}) {
		t.Errorf("without PCI locations: %v, %v", got, err)
	}
	if _, err := matchOrdinals([]int{3}, none, gpus); err == nil || err.Error() != "GPU 3 does not exist: NVML sees 3" {
		t.Errorf("an ordinal past NVML's GPUs: %v", err)
	}
}

// The driver's PCI locations decide: on the fake driver CUDA device 0 is the
// last GPU on the bus.
func TestFakeNVMLIndices(t *testing.T) {
	fakeGPUs(t, fakedriver.Options{Devices: 3})
	gpus := []GPU{{BusID: "00000000:10:00.0"}, {BusID: "00000000:11:00.0"}, {BusID: "00000000:12:00.0"}}
	got, err := nvmlIndices([]int{0, 1, 2}, gpus)
	if err != nil || !slices.Equal(got, []int{2, 1, 0}) {
		t.Errorf("nvmlIndices = %v, %v; want [2 1 0]", got, err)
	}
}
