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
}

// Build compiles a fake libcuda into dir and returns its path.
func Build(dir string, o Options) (string, error) {
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
			b.WriteString("CUresult cuDriverGetVersion(int* v) { *v = 12040; return 0; }\n")
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
	src := filepath.Join(dir, "fakecuda.c")
	lib := filepath.Join(dir, "libcuda.so.1")
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building a fake libcuda with %s: %v: %s", cc, err, out)
	}
	return lib, nil
}
