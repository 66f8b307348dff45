// Package fakedriver builds stand-in CUDA driver libraries for tests, so that
// the failure paths of the CUDA backend (a driver without a GPU, a driver
// too old for Ember) run on machines without NVIDIA hardware. It needs a C
// compiler, which building the CUDA backend needs anyway.
package fakedriver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Symbols are the driver entry points Ember requires; ember-cuda's shim.c
// resolves exactly these (a test there keeps the two lists equal).
var Symbols = []string{
	"cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
	"cuDeviceGetAttribute", "cuDeviceTotalMem_v2", "cuDeviceCanAccessPeer", "cuDevicePrimaryCtxRetain",
	"cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuCtxEnablePeerAccess", "cuMemGetInfo_v2",
	"cuMemAlloc_v2", "cuMemFree_v2", "cuMemHostAlloc", "cuMemFreeHost", "cuMemcpyHtoDAsync_v2",
	"cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2", "cuMemcpyPeerAsync", "cuMemsetD8Async",
	"cuStreamCreate", "cuStreamDestroy_v2", "cuStreamSynchronize", "cuStreamWaitEvent", "cuEventCreate",
	"cuEventDestroy_v2", "cuEventRecord", "cuEventSynchronize", "cuEventElapsedTime", "cuModuleLoadData",
	"cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel", "cuGetErrorName", "cuGetErrorString",
}

// Options shape the fake driver.
type Options struct {
	// InitResult is what cuInit returns: 0, or e.g. 100 (CUDA_ERROR_NO_DEVICE).
	InitResult int
	// Devices is what cuDeviceGetCount reports.
	Devices int
	// Omit leaves one entry point out, as an old driver would.
	Omit string
	// Working makes every entry point succeed, with plausible results and
	// nothing executed: Ember can open, use and close devices on it, so that
	// the bookkeeping of those paths (references, frees, graph caching) is
	// tested without a GPU. The GPUs report compute capability 8.6, 80 SMs,
	// TotalMem bytes (1 GiB when 0) and PCI buses 0x10, 0x11, … in the reverse
	// of CUDA's order (device 0 is the last on the bus); cuDeviceGetAttribute with the
	// Counter* attributes reports what is still allocated. Graphs adds the
	// optional graph entry points; Peer makes cuDeviceCanAccessPeer say yes.
	Working, Graphs, Peer bool
	TotalMem              int64
	// Version is what cuDriverGetVersion reports (12040, CUDA 12.4, when 0).
	Version int
	// ModuleLoadResult is what cuModuleLoadData returns for PTX text in a
	// Working driver: 0, or e.g. 222 (CUDA_ERROR_UNSUPPORTED_PTX_VERSION) for
	// a driver that cannot compile the kernels' PTX. FatbinLoadResult is what
	// it returns for a fatbin: 0, or e.g. 209 (CUDA_ERROR_NO_BINARY_FOR_GPU)
	// for a GPU the fatbin holds no SASS for.
	ModuleLoadResult, FatbinLoadResult int
}

func (o Options) version() int {
	if o.Version == 0 {
		return 12040
	}
	return o.Version
}

// Attributes a Working fake driver answers in cuDeviceGetAttribute with a
// count of what is live: device allocations, pinned host allocations,
// events, streams, modules, retained primary contexts of the device asked
// about, graphs and graph executables.
const (
	CounterDeviceAllocs = 100000 + iota
	CounterHostAllocs
	CounterEvents
	CounterStreams
	CounterModules
	CounterContextRefs
	CounterGraphs
	CounterGraphExecs
	// Totals since the library loaded, for benchmarks: cuLaunchKernel calls
	// (those recorded into a graph capture included), event records (plain
	// and EXTERNAL) and cuGraphLaunch calls.
	CounterKernelLaunches
	CounterEventRecords
	CounterGraphLaunches
	// Modules loaded (successfully) from fatbins and from PTX text.
	CounterFatbinLoads
	CounterPTXLoads
)

// numCounters is how many Counter* attributes there are.
const numCounters = CounterPTXLoads - CounterDeviceAllocs + 1

// GraphSymbols are the optional driver entry points of CUDA graphs.
var GraphSymbols = []string{"cuEventRecordWithFlags", "cuStreamBeginCapture_v2", "cuStreamEndCapture",
	"cuGraphInstantiateWithFlags", "cuGraphLaunch", "cuGraphExecDestroy", "cuGraphDestroy"}

// Build compiles a fake libcuda into dir and returns its path.
func Build(dir string, o Options) (string, error) {
	if o.Working {
		return compile(dir, "libcuda.so.1", workingSource(o))
	}
	var b strings.Builder
	b.WriteString("typedef int CUresult;\n")
	for _, s := range Symbols {
		if s == o.Omit {
			continue
		}
		switch s {
		case "cuInit":
			fmt.Fprintf(&b, "CUresult cuInit(unsigned f) { (void)f; return %d; }\n", o.InitResult)
		case "cuDriverGetVersion":
			fmt.Fprintf(&b, "CUresult cuDriverGetVersion(int* v) { *v = %d; return 0; }\n", o.version())
		case "cuDeviceGetCount":
			fmt.Fprintf(&b, "CUresult cuDeviceGetCount(int* n) { *n = %d; return 0; }\n", o.Devices)
		case "cuGetErrorName":
			b.WriteString(`CUresult cuGetErrorName(CUresult r, const char** s) { *s = r == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0; }` + "\n")
		case "cuGetErrorString":
			b.WriteString(`CUresult cuGetErrorString(CUresult r, const char** s) { *s = r == 100 ? "no CUDA-capable device is detected" : "unknown error"; return 0; }` + "\n")
		default:
			fmt.Fprintf(&b, "CUresult %s(void) { return 999; }\n", s)
		}
	}
	return compile(dir, "libcuda.so.1", b.String())
}

// BuildCUBLAS compiles a fake cuBLAS into dir, whose calls all succeed and do
// nothing, and returns its path.
func BuildCUBLAS(dir string) (string, error) { return BuildCUBLASWith(dir, CUBLASOptions{}) }

// CUBLASOptions shape a fake cuBLAS.
type CUBLASOptions struct {
	// Name is the library's file name; libcublas.so.12 when "".
	Name string
	// CreateResult is what cublasCreate_v2 returns: 0, or e.g. 1
	// (CUBLAS_STATUS_NOT_INITIALIZED), as a cuBLAS newer than the driver does.
	CreateResult int
	// HandleBytes is device memory each handle allocates for itself, as
	// cuBLAS does, from the fake driver EMBER_LIBCUDA names (freed by
	// cublasDestroy_v2).
	HandleBytes int64
}

// BuildCUBLASWith compiles a fake cuBLAS shaped by o into dir and returns its path.
func BuildCUBLASWith(dir string, o CUBLASOptions) (string, error) {
	name := o.Name
	if name == "" {
		name = "libcublas.so.12"
	}
	return compile(dir, name, fmt.Sprintf(`#include <dlfcn.h>
#include <stdlib.h>
typedef int (*alloc_fn)(unsigned long long*, size_t);
typedef int (*free_fn)(unsigned long long);
static void* driver(void) { return dlopen(getenv("EMBER_LIBCUDA"), RTLD_NOW | RTLD_NOLOAD); }
static unsigned long long mem[64];
static int handles[64];
int cublasCreate_v2(void** h) {
    if (%d) return %d;
    for (int i = 0; i < 64; i++)
        if (!handles[i]) {
            if (%dULL) {
                alloc_fn a = (alloc_fn)dlsym(driver(), "cuMemAlloc_v2");
                if (!a || a(&mem[i], %dULL)) return 3; /* CUBLAS_STATUS_ALLOC_FAILED */
            }
            handles[i] = 1;
            *h = &handles[i];
            return 0;
        }
    return 3;
}
int cublasDestroy_v2(void* h) {
    int i = (int*)h - handles;
    if (mem[i]) ((free_fn)dlsym(driver(), "cuMemFree_v2"))(mem[i]);
    mem[i] = 0;
    handles[i] = 0;
    return 0;
}
int cublasSetStream_v2(void) { return 0; }
int cublasSetWorkspace_v2(void) { return 0; }
int cublasSetMathMode(void) { return 0; }
int cublasGetVersion_v2(void* h, int* v) { (void)h; *v = 120000; return 0; }
int cublasGemmEx(void) { return 0; }
`, o.CreateResult, o.CreateResult, o.HandleBytes, o.HandleBytes))
}

func compile(dir, name, source string) (string, error) {
	src := filepath.Join(dir, strings.TrimSuffix(name, filepath.Ext(name))+".c")
	lib := filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src, "-ldl").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building a fake %s with %s: %v: %s", name, cc, err, out)
	}
	return lib, nil
}

// workingSource is the C source of a Working fake driver.
func workingSource(o Options) string {
	total := o.TotalMem
	if total <= 0 {
		total = 1 << 30
	}
	peer := 0
	if o.Peer {
		peer = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
#define TOTAL %dULL
#define DEVICES %d
#define COUNTER %d
#define VERSION %d
#define MODULE_LOAD_RESULT %d
#define FATBIN_LOAD_RESULT %d
#define NUM_COUNTERS %d
enum { INVALID_VALUE = 1, OUT_OF_MEMORY = 2, INVALID_CONTEXT = 201 };
static long live[NUM_COUNTERS]; /* the Counter* attributes, in order */
static int ctx_refs[DEVICES > 0 ? DEVICES : 1];
static struct { CUdeviceptr p; size_t n; } allocs[65536];
static unsigned long long used, next_ptr = 0x700000000000ULL;
static char handles[1 << 20]; /* distinct non-null handles */
static size_t next_handle;
static void* handle(void) { return &handles[next_handle++ %% sizeof handles]; }
static void* ctx_of(int d) { return (void*)(uintptr_t)(0x10000 + 0x100 * d); }

CUresult cuInit(unsigned f) { (void)f; return %d; }
CUresult cuDriverGetVersion(int* v) { *v = VERSION; return 0; }
CUresult cuDeviceGetCount(int* n) { *n = DEVICES; return 0; }
CUresult cuDeviceGet(int* d, int o) { if (o < 0 || o >= DEVICES) return INVALID_VALUE; *d = o; return 0; }
CUresult cuDeviceGetName(char* s, int len, int d) { snprintf(s, len, "Fake GPU %%d", d); return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, int d) {
    switch (attr) {
    case 16: *v = 80; break;
    case 33: *v = 0x10 + (DEVICES - 1 - d); break; /* PCI bus: CUDA numbers the GPUs in the reverse of PCI order */
    case 34: case 50: *v = 0; break;            /* PCI device, domain */
    case 75: *v = 8; break;
    case 76: *v = 6; break;
    default:
        if (attr == COUNTER + 5) *v = ctx_refs[d];
        else if (attr >= COUNTER && attr < COUNTER + NUM_COUNTERS) *v = (int)live[attr - COUNTER];
        else *v = 0;
    }
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t* b, int d) { (void)d; *b = TOTAL; return 0; }
CUresult cuDeviceCanAccessPeer(int* c, int a, int b) { (void)a; (void)b; *c = %d; return 0; }
CUresult cuDevicePrimaryCtxRetain(void** c, int d) { ctx_refs[d]++; live[5]++; *c = ctx_of(d); return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { if (ctx_refs[d] <= 0) return INVALID_CONTEXT; ctx_refs[d]--; live[5]--; return 0; }
CUresult cuCtxSetCurrent(void* c) {
    for (int d = 0; d < DEVICES; d++)
        if (c == ctx_of(d)) return ctx_refs[d] > 0 ? 0 : INVALID_CONTEXT;
    return c ? INVALID_CONTEXT : 0;
}
CUresult cuCtxEnablePeerAccess(void* p, unsigned f) { (void)p; (void)f; return 0; }
CUresult cuMemGetInfo_v2(size_t* f, size_t* t) { *t = TOTAL; *f = TOTAL - used; return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
    if (used + n > TOTAL) return OUT_OF_MEMORY;
    for (size_t i = 0; i < sizeof allocs / sizeof allocs[0]; i++)
        if (!allocs[i].p) {
            allocs[i].p = *p = next_ptr;
            allocs[i].n = n;
            next_ptr += (n + 255) / 256 * 256 + 256;
            used += n;
            live[0]++;
            return 0;
        }
    return OUT_OF_MEMORY;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    for (size_t i = 0; i < sizeof allocs / sizeof allocs[0]; i++)
        if (allocs[i].p == p) {
            used -= allocs[i].n;
            allocs[i].p = 0;
            live[0]--;
            return 0;
        }
    return INVALID_VALUE;
}
CUresult cuMemHostAlloc(void** p, size_t n, unsigned f) { (void)f; *p = calloc(1, n); live[1]++; return 0; }
CUresult cuMemFreeHost(void* p) { free(p); live[1]--; return 0; }
CUresult cuMemcpyHtoDAsync_v2(void) { return 0; }
CUresult cuMemcpyDtoHAsync_v2(void) { return 0; }
CUresult cuMemcpyDtoDAsync_v2(void) { return 0; }
CUresult cuMemcpyPeerAsync(void) { return 0; }
CUresult cuMemsetD8Async(void) { return 0; }
CUresult cuStreamCreate(void** s, unsigned f) { (void)f; *s = handle(); live[3]++; return 0; }
CUresult cuStreamDestroy_v2(void* s) { (void)s; live[3]--; return 0; }
CUresult cuStreamSynchronize(void) { return 0; }
CUresult cuStreamWaitEvent(void) { return 0; }
CUresult cuEventCreate(void** e, unsigned f) { (void)f; *e = handle(); live[2]++; return 0; }
CUresult cuEventDestroy_v2(void* e) { (void)e; live[2]--; return 0; }
CUresult cuEventRecord(void) { live[9]++; return 0; }
CUresult cuEventSynchronize(void) { return 0; }
CUresult cuEventElapsedTime(float* ms, void* a, void* b) { (void)a; (void)b; *ms = 0; return 0; }
CUresult cuModuleLoadData(void** m, const void* image) {
    const unsigned char* b = image;
    int fatbin = b[0] == 0x50 && b[1] == 0xED && b[2] == 0x55 && b[3] == 0xBA;
    if (fatbin ? FATBIN_LOAD_RESULT : MODULE_LOAD_RESULT) return fatbin ? FATBIN_LOAD_RESULT : MODULE_LOAD_RESULT;
    *m = handle();
    live[4]++;
    live[fatbin ? 11 : 12]++;
    return 0;
}
CUresult cuModuleUnload(void* m) { (void)m; live[4]--; return 0; }
CUresult cuModuleGetFunction(void** f, void* m, const char* name) { (void)m; (void)name; *f = handle(); return 0; }
CUresult cuLaunchKernel(void) { live[8]++; return 0; }
CUresult cuGetErrorName(CUresult r, const char** s) {
    switch (r) {
    case 201: *s = "CUDA_ERROR_INVALID_CONTEXT"; break;
    case 209: *s = "CUDA_ERROR_NO_BINARY_FOR_GPU"; break;
    case 218: *s = "CUDA_ERROR_INVALID_PTX"; break;
    case 222: *s = "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"; break;
    default: *s = "CUDA_ERROR_UNKNOWN";
    }
    return 0;
}
CUresult cuGetErrorString(CUresult r, const char** s) { (void)r; *s = "fake error"; return 0; }
`, total, o.Devices, CounterDeviceAllocs, o.version(), o.ModuleLoadResult, o.FatbinLoadResult, numCounters, o.InitResult, peer)
	if o.Graphs {
		b.WriteString(`CUresult cuEventRecordWithFlags(void) { live[9]++; return 0; }
CUresult cuStreamBeginCapture_v2(void) { return 0; }
CUresult cuStreamEndCapture(void* s, void** g) { (void)s; *g = handle(); live[6]++; return 0; }
CUresult cuGraphInstantiateWithFlags(void** e, void* g, unsigned long long f) { (void)g; (void)f; *e = handle(); live[7]++; return 0; }
CUresult cuGraphLaunch(void) { live[10]++; return 0; }
CUresult cuGraphExecDestroy(void* e) { (void)e; live[7]--; return 0; }
CUresult cuGraphDestroy(void* g) { (void)g; live[6]--; return 0; }
`)
	}
	return b.String()
}
