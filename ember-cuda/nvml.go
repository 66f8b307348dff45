package cuda

import (
	"fmt"
	"os"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

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

// withNVML runs fn with NVML initialised. Every failure to get there is one
// *UnavailableError sentence.
func withNVML(fn func(l nvml.Interface) error) error {
	path := os.Getenv("EMBER_LIBNVML")
	if path == "" {
		path = NVMLLibrary
	}
	l := nvml.New(nvml.WithLibraryPath(path))
	switch r := l.Init(); r {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return unavailable("NVML is unavailable: %s could not be loaded, so no NVIDIA driver is installed here", path)
	default:
		return unavailable("NVML could not start: %v (is the NVIDIA kernel driver loaded?)", r)
	}
	defer l.Shutdown()
	return fn(l)
}

// ListGPUs returns what NVML reports about the machine's GPUs.
func ListGPUs() (*Inventory, error) {
	inv := &Inventory{}
	err := withNVML(func(l nvml.Interface) error {
		if v, r := l.SystemGetDriverVersion(); r == nvml.SUCCESS {
			inv.Driver = v
		}
		if v, r := l.SystemGetCudaDriverVersion(); r == nvml.SUCCESS {
			inv.CUDA = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		}
		n, r := l.DeviceGetCount()
		if r != nvml.SUCCESS {
			return fmt.Errorf("NVML could not count the GPUs: %v", r)
		}
		handles := make([]nvml.Device, n)
		for i := range n {
			h, r := l.DeviceGetHandleByIndex(i)
			if r != nvml.SUCCESS {
				return fmt.Errorf("NVML could not open GPU %d: %v", i, r)
			}
			handles[i] = h
			g := GPU{Index: i}
			g.Name, _ = l.DeviceGetName(h)
			g.UUID, _ = l.DeviceGetUUID(h)
			if p, r := l.DeviceGetPciInfo(h); r == nvml.SUCCESS {
				g.BusID = cString(p.BusId[:])
			}
			if m, r := l.DeviceGetMemoryInfo(h); r == nvml.SUCCESS {
				g.MemTotal, g.MemFree = int64(m.Total), int64(m.Free)
			}
			inv.GPUs = append(inv.GPUs, g)
		}
		inv.P2P = make([][]string, n)
		for i := range n {
			inv.P2P[i] = make([]string, n)
			for j := range n {
				inv.P2P[i][j] = p2pCell(l, handles, i, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

func p2pCell(l nvml.Interface, h []nvml.Device, i, j int) string {
	if i == j {
		return "X"
	}
	cell := "no"
	if s, r := l.DeviceGetP2PStatus(h[i], h[j], nvml.P2P_CAPS_INDEX_READ); r == nvml.SUCCESS && s == nvml.P2P_STATUS_OK {
		cell = "OK"
	}
	if t, r := l.DeviceGetTopologyCommonAncestor(h[i], h[j]); r == nvml.SUCCESS {
		cell += " " + topologyName(t)
	}
	return cell
}

// topologyName uses nvidia-smi topo's abbreviations.
func topologyName(t nvml.GpuTopologyLevel) string {
	switch t {
	case nvml.TOPOLOGY_INTERNAL:
		return "BOARD"
	case nvml.TOPOLOGY_SINGLE:
		return "PIX"
	case nvml.TOPOLOGY_MULTIPLE:
		return "PXB"
	case nvml.TOPOLOGY_HOSTBRIDGE:
		return "PHB"
	case nvml.TOPOLOGY_NODE:
		return "NODE"
	case nvml.TOPOLOGY_SYSTEM:
		return "SYS"
	}
	return "?"
}

func cString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
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
