package cuda

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
)

func TestNVMLMissing(t *testing.T) {
	t.Setenv("EMBER_LIBNVML", filepath.Join(t.TempDir(), "libnvidia-ml.so.1"))
	_, err := ListGPUs()
	if !errors.Is(err, device.ErrUnavailable) || !strings.HasPrefix(err.Error(), "NVML is unavailable: ") {
		t.Fatalf("ListGPUs without NVML: %v", err)
	}
	oneSentence(t, err.Error())
	if _, err := PlanDevices([]int{0}); !errors.Is(err, device.ErrUnavailable) {
		t.Errorf("PlanDevices without NVML: %v", err)
	}
}

// fakeNVML is a stand-in libnvidia-ml with two GPUs, written against the
// layouts of nvml.h (nvmlPciInfo_t v3, nvmlMemory_t), so the shim's reading of
// every field is checked without NVIDIA hardware.
const fakeNVML = `
#include <string.h>
typedef struct { char legacy[16]; unsigned domain, bus, device, id, sub; char busId[32]; } pci;
typedef struct { unsigned long long total, free, used; } mem;
static int inits;
int nvmlInit_v2(void) { inits++; return INIT; }
int nvmlShutdown(void) { inits--; return 0; }
const char* nvmlErrorString(int r) { return r == 9 ? "Driver Not Loaded" : "Unknown Error"; }
int nvmlSystemGetDriverVersion(char* v, unsigned n) { strncpy(v, "550.54.15", n); return 0; }
int nvmlSystemGetCudaDriverVersion(int* v) { *v = 12040; return 0; }
int nvmlDeviceGetCount_v2(unsigned* n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void** d) { *d = (void*)(unsigned long)(i + 1); return 0; }
int nvmlDeviceGetName(void* d, char* s, unsigned n) { strncpy(s, d == (void*)1 ? "NVIDIA A100-SXM4-40GB" : "NVIDIA RTX A4000", n); return 0; }
int nvmlDeviceGetUUID(void* d, char* s, unsigned n) { strncpy(s, d == (void*)1 ? "GPU-aaaa" : "GPU-bbbb", n); return 0; }
int nvmlDeviceGetPciInfo_v3(void* d, pci* p) { memset(p, 'x', sizeof *p); strcpy(p->busId, d == (void*)1 ? "00000000:07:00.0" : "00000000:0B:00.0"); return 0; }
int nvmlDeviceGetMemoryInfo(void* d, mem* m) { m->total = d == (void*)1 ? 42949672960ULL : 17179869184ULL; m->free = m->total - 1048576; m->used = 1048576; return 0; }
int nvmlDeviceGetP2PStatus(void* a, void* b, int cap, int* s) { *s = (cap == 0 && a == (void*)1) ? 0 : 4; return 0; }
int nvmlDeviceGetTopologyCommonAncestor(void* a, void* b, int* l) { *l = 30; return 0; }
`

func buildFakeNVML(t *testing.T, initResult string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "nvml.c")
	lib := filepath.Join(dir, "libnvidia-ml.so.1")
	if err := os.WriteFile(src, []byte(strings.Replace(fakeNVML, "INIT", initResult, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building the fake NVML: %v: %s", err, out)
	}
	return lib
}

func TestNVMLInventory(t *testing.T) {
	t.Setenv("EMBER_LIBNVML", buildFakeNVML(t, "0"))
	inv, err := ListGPUs()
	if err != nil {
		t.Fatal(err)
	}
	want := &Inventory{
		Driver: "550.54.15",
		CUDA:   "12.4",
		GPUs: []GPU{
			{Index: 0, Name: "NVIDIA A100-SXM4-40GB", UUID: "GPU-aaaa", BusID: "00000000:07:00.0", MemTotal: 40 << 30, MemFree: 40<<30 - 1<<20},
			{Index: 1, Name: "NVIDIA RTX A4000", UUID: "GPU-bbbb", BusID: "00000000:0B:00.0", MemTotal: 16 << 30, MemFree: 16<<30 - 1<<20},
		},
		P2P: [][]string{{"X", "OK PHB"}, {"no PHB", "X"}},
	}
	if !reflect.DeepEqual(inv, want) {
		t.Errorf("inventory\n%+v\nwant\n%+v", inv, want)
	}
	// GPU 0 listed twice shares its free memory.
	devs, err := PlanDevices([]int{0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if devs[0].Capacity != (40<<30-1<<20)/2 || devs[2].Capacity != 16<<30-1<<20 {
		t.Errorf("plan devices %+v", devs)
	}
	if _, err := FreeMemory([]int{2}); err == nil || err.Error() != "GPU 2 does not exist: NVML sees 2" {
		t.Errorf("GPU 2: %v", err)
	}
}

func TestNVMLInitFails(t *testing.T) {
	t.Setenv("EMBER_LIBNVML", buildFakeNVML(t, "9"))
	_, err := ListGPUs()
	if !errors.Is(err, device.ErrUnavailable) || err.Error() != "NVML could not start: Driver Not Loaded (is the NVIDIA kernel driver loaded?)" {
		t.Fatalf("NVML whose init fails: %v", err)
	}
}

func TestTopologyNames(t *testing.T) {
	for l, want := range map[int]string{0: "BOARD", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS", 7: "?"} {
		if got := topologyName(l); got != want {
			t.Errorf("topology %d: %s, want %s", l, got, want)
		}
	}
}
