package cuda

/*
#include "shim.h"
*/
import "C"

import "fmt"

// CUDA numbers GPUs its own way (fastest first by default, only those
// CUDA_VISIBLE_DEVICES shows), NVML by PCI location: CUDA device i is not
// NVML GPU i in general. Ember's GPU ids are CUDA ordinals (what Open takes);
// what NVML says about one is found by the PCI location both report.

// pciLoc is a GPU's PCI domain, bus and device.
type pciLoc struct{ domain, bus, dev int }

func (p pciLoc) String() string { return fmt.Sprintf("%08x:%02x:%02x", p.domain, p.bus, p.dev) }

// Device attributes of the PCI location.
const (
	attrPCIBus    = 33
	attrPCIDevice = 34
	attrPCIDomain = 50
)

// cudaPCI returns CUDA device ordinal's PCI location, false when the driver
// does not report it.
func cudaPCI(ordinal int) (pciLoc, bool) {
	var d C.CUdevice
	if C.ember_device_get(&d, C.int(ordinal)) != 0 {
		return pciLoc{}, false
	}
	var loc [3]C.int
	for i, a := range []int{attrPCIDomain, attrPCIBus, attrPCIDevice} {
		if C.ember_device_attribute(&loc[i], C.int(a), d) != 0 {
			return pciLoc{}, false
		}
	}
	return pciLoc{int(loc[0]), int(loc[1]), int(loc[2])}, true
}

// nvmlPCI parses NVML's bus id, e.g. "00000000:3B:00.0".
func nvmlPCI(busID string) (pciLoc, bool) {
	var p pciLoc
	var fn int
	if n, err := fmt.Sscanf(busID, "%x:%x:%x.%x", &p.domain, &p.bus, &p.dev, &fn); n != 4 || err != nil {
		return pciLoc{}, false
	}
	return p, true
}

// nvmlIndices returns the NVML index of each CUDA ordinal in ordinals, given
// NVML's GPUs. Without a CUDA driver, or with one that reports no PCI
// locations, the ordinal is taken as the index: nothing better is known.
func nvmlIndices(ordinals []int, gpus []GPU) ([]int, error) {
	pci := func(int) (pciLoc, bool) { return pciLoc{}, false }
	if count, err := initDriver(); err == nil {
		pci = func(o int) (pciLoc, bool) {
			if o < 0 || o >= count {
				return pciLoc{}, false
			}
			return cudaPCI(o)
		}
	}
	return matchOrdinals(ordinals, pci, gpus)
}

// matchOrdinals maps CUDA ordinals to NVML indices through pci, the CUDA
// devices' PCI locations.
func matchOrdinals(ordinals []int, pci func(int) (pciLoc, bool), gpus []GPU) ([]int, error) {
	out := make([]int, len(ordinals))
	for i, o := range ordinals {
		loc, ok := pci(o)
		if !ok {
			if o < 0 || o >= len(gpus) {
				return nil, fmt.Errorf("GPU %d does not exist: NVML sees %d", o, len(gpus))
			}
			out[i] = o
			continue
		}
		out[i] = -1
		for j, g := range gpus {
			if l, ok := nvmlPCI(g.BusID); ok && l == loc {
				out[i] = j
				break
			}
		}
		if out[i] < 0 {
			return nil, fmt.Errorf("CUDA device %d (PCI %s) is not among the %d GPUs NVML reports", o, loc, len(gpus))
		}
	}
	return out, nil
}
