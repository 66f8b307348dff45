package cuda

/*
#include <stdlib.h>
#include "nvmlshim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/memplan"
)

// NVMLLibrary is the NVML library `ember devices` and the planner's free
// memory read; EMBER_LIBNVML overrides it. It is opened with dlopen when first
// asked, so the binary runs where it is missing.
const NVMLLibrary = "libnvidia-ml.so.1"

// GPU is one GPU as NVML reports it.
type GPU struct {
	Index    int    `json:"index"`
	Name     string `json:"name"`
	UUID     string `json:"uuid"`
	BusID    string `json:"pci_bus_id"`
	MemTotal int64  `json:"memory_total_bytes"`
	MemFree  int64  `json:"memory_free_bytes"`
}

// Inventory is what `ember devices` shows: the driver, the GPUs, and for
// every ordered pair of GPUs whether peer-to-peer reads work and how they
// are connected.
type Inventory struct {
	Driver string `json:"driver_version"`
	CUDA   string `json:"cuda_version"`
	GPUs   []GPU  `json:"gpus"`
	// P2P[i][j] describes reads by GPU i of GPU j's memory: "X" on the
	// diagonal, else "OK" or "no", with the topology (e.g. "OK PHB").
	P2P [][]string `json:"p2p"`
}

// nvmlMu serialises NVML use: the shim holds one library at a time.
var nvmlMu sync.Mutex

// withNVML runs fn with NVML loaded (Ember's own dlopen shim, nvmlshim.c)
// and initialised. Every failure to get there is one *UnavailableError
// sentence.
func withNVML(fn func() error) error {
	path := os.Getenv("EMBER_LIBNVML")
	if path == "" {
		path = NVMLLibrary
	}
	nvmlMu.Lock()
	defer nvmlMu.Unlock()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [256]C.char
	if C.ember_nvml_open(cpath, &msg[0], C.int(len(msg))) != 0 {
		return unavailable("NVML is unavailable: %s could not be loaded (%s), so no NVIDIA driver is installed here", path, C.GoString(&msg[0]))
	}
	defer C.ember_nvml_close()
	if r := C.ember_nvml_init(); r != 0 {
		return unavailable("NVML could not start: %s (is the NVIDIA kernel driver loaded?)", nvmlError(r))
	}
	defer C.ember_nvml_shutdown()
	return fn()
}

func nvmlError(r C.int) string { return C.GoString(C.ember_nvml_error(r)) }

// NVML's nvmlGpuTopologyLevel_t and nvmlGpuP2PStatus_t values Ember names.
const (
	topologyInternal   = 0
	topologySingle     = 10
	topologyMultiple   = 20
	topologyHostBridge = 30
	topologyNode       = 40
	topologySystem     = 50
	p2pStatusOK        = 0
)

// ListGPUs returns what NVML reports about the machine's GPUs.
func ListGPUs() (*Inventory, error) {
	inv := &Inventory{}
	err := withNVML(func() error {
		var ver [96]C.char
		if C.ember_nvml_driver_version(&ver[0], C.int(len(ver))) == 0 {
			inv.Driver = C.GoString(&ver[0])
		}
		var cv C.int
		if C.ember_nvml_cuda_version(&cv) == 0 {
			inv.CUDA = fmt.Sprintf("%d.%d", cv/1000, cv%1000/10)
		}
		var n C.uint
		if r := C.ember_nvml_count(&n); r != 0 {
			return fmt.Errorf("NVML could not count the GPUs: %s", nvmlError(r))
		}
		handles := make([]C.nvmlDevice_t, n)
		for i := range int(n) {
			if r := C.ember_nvml_handle(C.uint(i), &handles[i]); r != 0 {
				return fmt.Errorf("NVML could not open GPU %d: %s", i, nvmlError(r))
			}
			var info C.ember_nvml_gpu
			C.ember_nvml_gpu_info(handles[i], &info)
			inv.GPUs = append(inv.GPUs, GPU{
				Index:    i,
				Name:     C.GoString(&info.name[0]),
				UUID:     C.GoString(&info.uuid[0]),
				BusID:    C.GoString(&info.bus_id[0]),
				MemTotal: int64(info.mem_total),
				MemFree:  int64(info.mem_free),
			})
		}
		inv.P2P = make([][]string, n)
		for i := range int(n) {
			inv.P2P[i] = make([]string, n)
			for j := range int(n) {
				inv.P2P[i][j] = p2pCell(handles, i, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

func p2pCell(h []C.nvmlDevice_t, i, j int) string {
	if i == j {
		return "X"
	}
	cell := "no"
	var s C.int
	if C.ember_nvml_p2p_read(h[i], h[j], &s) == 0 && s == p2pStatusOK {
		cell = "OK"
	}
	var t C.int
	if C.ember_nvml_topology(h[i], h[j], &t) == 0 {
		cell += " " + topologyName(int(t))
	}
	return cell
}

// topologyName uses nvidia-smi topo's abbreviations.
func topologyName(t int) string {
	switch t {
	case topologyInternal:
		return "BOARD"
	case topologySingle:
		return "PIX"
	case topologyMultiple:
		return "PXB"
	case topologyHostBridge:
		return "PHB"
	case topologyNode:
		return "NODE"
	case topologySystem:
		return "SYS"
	}
	return "?"
}

// FreeMemory returns the free memory of GPUs ids (CUDA ordinals), from NVML.
// A GPU listed twice (two logical devices on it) gets an even share each.
func FreeMemory(ids []int) ([]int64, error) {
	inv, err := ListGPUs()
	if err != nil {
		return nil, err
	}
	idx, err := nvmlIndices(ids, inv.GPUs) // ids are CUDA ordinals (ordinal.go)
	if err != nil {
		return nil, err
	}
	count := map[int]int{}
	for _, id := range ids {
		count[id]++
	}
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = inv.GPUs[idx[i]].MemFree / int64(count[id])
	}
	return out, nil
}

// PlanDevices returns the planner's devices for GPUs ids with the memory
// that is really free on them now (NVML) as their capacity, instead of a
// size given by hand.
func PlanDevices(ids []int) ([]memplan.Device, error) {
	free, err := FreeMemory(ids)
	if err != nil {
		return nil, err
	}
	out := make([]memplan.Device, len(ids))
	for i, id := range ids {
		out[i] = memplan.Device{ID: id, Capacity: free[i]}
	}
	return out, nil
}
