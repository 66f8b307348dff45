package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/ember-infer/ember/ember-core/device"
)

// DriverLibrary is the CUDA driver library Ember opens; the EMBER_LIBCUDA
// environment variable overrides it (a name or a path).
const DriverLibrary = "libcuda.so.1"

// CUBLASLibraries are the cuBLAS libraries tried in order, newest first, of
// those the driver can run (a cuBLAS of major version N needs a CUDA N
// driver); the EMBER_CUBLAS environment variable names one to use instead.
var CUBLASLibraries = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}

// minDriverVersion is the oldest driver Ember runs on, as cuDriverGetVersion
// reports it: the embedded PTX is ISA 7.8, which CUDA 11.8 (R520) introduced.
const minDriverVersion = 11080

// UnavailableError says in one sentence why CUDA cannot be used on this
// machine. It wraps device.ErrUnavailable, so sweeps treat it as
// runtime_unavailable and `--backend auto` falls back to the CPU.
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return e.Reason }

// Unwrap returns device.ErrUnavailable.
func (e *UnavailableError) Unwrap() error { return device.ErrUnavailable }

func unavailable(format string, args ...any) error {
	return &UnavailableError{Reason: fmt.Sprintf(format, args...)}
}

// Error is a failed CUDA driver or cuBLAS call.
type Error struct {
	Call string
	Code int // a CUresult, or cublasStatus_t + statusCUBLAS
}

// statusCUBLAS offsets cuBLAS statuses in the codes the shim returns (EMBER_CUBLAS_STATUS).
const statusCUBLAS = 100000

// Driver result codes Ember acts on.
const (
	errOutOfMemory           = 2
	errNoDevice              = 100
	errInvalidImage          = 200
	errNoBinaryForGPU        = 209
	errInvalidPTX            = 218
	errJITCompilerNotFound   = 221
	errUnsupportedPTXVersion = 222
)

// ptxUnusable reports whether a module load failed because this driver cannot
// compile Ember's PTX at all, rather than because of something Ember did.
func ptxUnusable(r int) bool {
	return r == errInvalidPTX || r == errJITCompilerNotFound || r == errUnsupportedPTXVersion
}

func (e *Error) Error() string {
	if e.Code >= statusCUBLAS {
		return fmt.Sprintf("%s: %s", e.Call, cublasStatusName(e.Code-statusCUBLAS))
	}
	return fmt.Sprintf("%s: %s (%s)", e.Call, C.GoString(C.ember_cu_error_name(C.CUresult(e.Code))),
		C.GoString(C.ember_cu_error_string(C.CUresult(e.Code))))
}

func cublasStatusName(s int) string {
	names := map[int]string{1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
		7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
		13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
		16: "CUBLAS_STATUS_LICENSE_ERROR"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("cuBLAS status %d", s)
}

// check turns a driver result into an error naming the call.
func check(call string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Code: int(r)}
}

func checkInt(call string, r C.int) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Code: int(r)}
}

// The loaded libraries. A failed load is retried on the next call (it is
// cheap, and tests point the loader at different fake libraries); a
// successful one is kept for the life of the process.
var lib struct {
	mu         sync.Mutex
	driverPath string // loaded driver library, "" when none
	driverVer  int
	inited     bool
	blasPath   string   // loaded cuBLAS, "" when none
	blasNext   []string // the candidates after blasPath, when it was chosen from CUBLASLibraries
	handles    int      // live cuBLAS handles of blasPath
}

func driverPath() string {
	if p := os.Getenv("EMBER_LIBCUDA"); p != "" {
		return p
	}
	return DriverLibrary
}

// dlopenDriver loads path and resolves the driver's entry points.
func dlopenDriver(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	if C.ember_cuda_load(cpath, &buf[0], C.int(len(buf))) != 0 {
		return fmt.Errorf("%s", C.GoString(&buf[0]))
	}
	return nil
}

// initDriver loads the driver library and initialises it, returning the
// number of GPUs it sees. Every failure is an *UnavailableError of one
// sentence: no driver library, a library lacking entry points, a driver that
// cannot start, or no GPU.
func initDriver() (count int, err error) {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	path := driverPath()
	if lib.driverPath != "" && lib.driverPath != path && devicesOpen() {
		return 0, fmt.Errorf("the CUDA driver %s is in use by open devices; it cannot be switched to %s", lib.driverPath, path)
	}
	if lib.driverPath != path || !lib.inited {
		lib.driverPath, lib.inited = "", false
		if err := dlopenDriver(path); err != nil {
			if strings.Contains(err.Error(), " has no ") {
				return 0, unavailable("the CUDA driver %s is too old for Ember: %v (it needs %s or newer)", path, err, versionString(minDriverVersion))
			}
			return 0, unavailable("no CUDA driver: %s could not be loaded (%v)", path, err)
		}
		var v C.int
		if r := C.ember_driver_version(&v); r != 0 {
			return 0, unavailable("the CUDA driver %s could not report its version (cuDriverGetVersion: %s)", path, C.GoString(C.ember_cu_error_name(r)))
		}
		if int(v) < minDriverVersion {
			return 0, unavailable("the CUDA driver (%s) is too old for Ember: its kernels are PTX ISA 7.8, which needs %s or newer", versionString(int(v)), versionString(minDriverVersion))
		}
		lib.driverPath = path
		lib.driverVer = int(v)
		if r := C.ember_init(); r != 0 {
			if r == errNoDevice {
				return 0, unavailable("the CUDA driver (%s) found no GPU (cuInit: %s)", versionString(lib.driverVer), C.GoString(C.ember_cu_error_name(r)))
			}
			return 0, unavailable("the CUDA driver (%s) could not start: %v", versionString(lib.driverVer), check("cuInit", r))
		}
		lib.inited = true
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.ember_device_count(&n)); err != nil {
		return 0, unavailable("the CUDA driver (%s) could not count its GPUs: %v", versionString(lib.driverVer), err)
	}
	if n == 0 {
		return 0, unavailable("the CUDA driver (%s) found no GPU", versionString(lib.driverVer))
	}
	return int(n), nil
}

// DriverVersion returns the loaded driver's CUDA version, e.g. "12.4", or ""
// before a driver is loaded.
func DriverVersion() string {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.driverPath == "" {
		return ""
	}
	return versionString(lib.driverVer)
}

func versionString(v int) string { return fmt.Sprintf("CUDA %d.%d", v/1000, v%1000/10) }

// loadCUBLAS opens cuBLAS for a driver of version driverVer: EMBER_CUBLAS
// when set, else the first of CUBLASLibraries that the driver can run and that
// loads. The libraries after it stay candidates until one of its handles
// starts (nextCUBLAS).
func loadCUBLAS(driverVer int) (string, error) {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.blasPath != "" {
		return lib.blasPath, nil
	}
	if p := os.Getenv("EMBER_CUBLAS"); p != "" {
		if err := dlopenCUBLAS(p); err != nil {
			return "", unavailable("no cuBLAS: EMBER_CUBLAS=%s could not be loaded (%v)", p, err)
		}
		lib.blasPath, lib.blasNext = p, nil
		return p, nil
	}
	cands := cublasCandidates(CUBLASLibraries, driverVer)
	if len(cands) == 0 {
		return "", unavailable("no cuBLAS: none of %s runs on the %s driver; set EMBER_CUBLAS to a cuBLAS of CUDA %d or older",
			strings.Join(CUBLASLibraries, ", "), versionString(driverVer), driverVer/1000)
	}
	var last error
	for i, p := range cands {
		if last = dlopenCUBLAS(p); last == nil {
			lib.blasPath, lib.blasNext = p, cands[i+1:]
			return p, nil
		}
	}
	return "", unavailable("no cuBLAS: none of %s could be loaded (%v); install cuBLAS or set EMBER_CUBLAS to its path",
		strings.Join(cands, ", "), last)
}

func dlopenCUBLAS(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	if C.ember_cublas_load(cpath, &buf[0], C.int(len(buf))) != 0 {
		return fmt.Errorf("%s", C.GoString(&buf[0]))
	}
	return nil
}

// cublasCandidates returns the libraries of names a driver of version
// driverVer can run, in order: a name ending in ".N" is cuBLAS major version
// N, which needs a CUDA N driver; a name without a version is kept. A
// driverVer of 0 (unknown) keeps every name.
func cublasCandidates(names []string, driverVer int) []string {
	var out []string
	for _, n := range names {
		i := strings.LastIndexByte(n, '.')
		major, err := strconv.Atoi(n[i+1:])
		if i < 0 || err != nil || driverVer == 0 || major <= driverVer/1000 {
			out = append(out, n)
		}
	}
	return out
}

// nextCUBLAS replaces the loaded cuBLAS, which failed to start a handle, by
// the next candidate that loads, when no handle of it is live. It reports
// whether it did.
func nextCUBLAS() bool {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	if lib.handles > 0 {
		return false
	}
	for len(lib.blasNext) > 0 {
		p := lib.blasNext[0]
		lib.blasNext = lib.blasNext[1:]
		if dlopenCUBLAS(p) == nil {
			lib.blasPath = p
			return true
		}
	}
	return false
}

// CUBLASLibrary returns the cuBLAS library in use, "" before one is loaded.
func CUBLASLibrary() string {
	lib.mu.Lock()
	defer lib.mu.Unlock()
	return lib.blasPath
}

// graphsSupported reports whether the driver has the graph entry points
// (CUDA 11.4+; Ember needs 11.8 anyway).
func graphsSupported() bool {
	w := C.CString("graphs")
	defer C.free(unsafe.Pointer(w))
	return C.ember_cuda_has(w) != 0
}

// Device attributes (CUdevice_attribute).
const (
	attrMultiprocessors = 16
	attrCCMajor         = 75
	attrCCMinor         = 76
)

func deviceAttr(d C.CUdevice, attr int) int {
	var v C.int
	if C.ember_device_attribute(&v, C.int(attr), d) != 0 {
		return 0
	}
	return int(v)
}

func deviceName(d C.CUdevice) string {
	var buf [256]C.char
	if C.ember_device_name(&buf[0], C.int(len(buf)), d) != 0 {
		return "unknown GPU"
	}
	return C.GoString(&buf[0])
}

// devicesOpen reports whether any GPU is held by an open device.
func devicesOpen() bool {
	phys.mu.Lock()
	defer phys.mu.Unlock()
	return len(phys.gpu) > 0
}
