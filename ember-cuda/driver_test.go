package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

// oneSentence fails unless msg is a single line with no sentence break in it.
func oneSentence(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(msg, "\n") || strings.Contains(strings.TrimSuffix(msg, "."), ". ") {
		t.Errorf("not one sentence: %q", msg)
	}
}

func TestOpenWithoutDriver(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", filepath.Join(t.TempDir(), "libcuda.so.1"))
	_, err := Open([]int{0}, nil)
	if !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("Open without a driver: %v, want ErrUnavailable", err)
	}
	if !strings.HasPrefix(err.Error(), "no CUDA driver: ") {
		t.Errorf("message %q does not say there is no driver", err)
	}
	oneSentence(t, err.Error())
}

func fakeDriver(t testing.TB, o fakedriver.Options) string {
	t.Helper()
	lib, err := fakedriver.Build(t.TempDir(), o)
	if err != nil {
		t.Skipf("no C compiler for a fake driver: %v", err)
	}
	return lib
}

func TestOpenDriverWithoutGPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    fakedriver.Options
		want string
	}{
		{"cuInit fails", fakedriver.Options{InitResult: 100}, "the CUDA driver (CUDA 12.4) found no GPU (cuInit: CUDA_ERROR_NO_DEVICE)"},
		{"no devices", fakedriver.Options{Devices: 0}, "the CUDA driver (CUDA 12.4) found no GPU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EMBER_LIBCUDA", fakeDriver(t, tc.o))
			_, err := Open([]int{0}, nil)
			if !errors.Is(err, device.ErrUnavailable) || err.Error() != tc.want {
				t.Fatalf("Open: %v, want %q wrapping ErrUnavailable", err, tc.want)
			}
			oneSentence(t, err.Error())
		})
	}
}

func TestOpenOldDriver(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", fakeDriver(t, fakedriver.Options{Omit: "cuMemsetD8Async"}))
	_, err := Open([]int{0}, nil)
	if !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), "has no cuMemsetD8Async") ||
		!strings.Contains(err.Error(), "too old") {
		t.Fatalf("Open with an old driver: %v", err)
	}
	oneSentence(t, err.Error())
}

// forgetCUBLAS makes the next loadCUBLAS search again, for the test's duration.
func forgetCUBLAS(t testing.TB) {
	lib.mu.Lock()
	saved := lib.blasPath
	lib.blasPath = ""
	lib.mu.Unlock()
	t.Cleanup(func() { lib.mu.Lock(); lib.blasPath = saved; lib.mu.Unlock() })
}

func TestOpenWithoutCUBLAS(t *testing.T) {
	forgetCUBLAS(t)
	t.Setenv("EMBER_LIBCUDA", fakeDriver(t, fakedriver.Options{Devices: 1}))
	t.Setenv("EMBER_CUBLAS", filepath.Join(t.TempDir(), "libcublas.so"))
	_, err := Open([]int{0}, nil)
	if !errors.Is(err, device.ErrUnavailable) || !strings.HasPrefix(err.Error(), "no cuBLAS: EMBER_CUBLAS=") {
		t.Fatalf("Open without cuBLAS: %v", err)
	}
	oneSentence(t, err.Error())
}

func TestCUBLASMissing(t *testing.T) {
	forgetCUBLAS(t)
	t.Setenv("EMBER_CUBLAS", "/nonexistent/libcublas.so.12")
	_, err := loadCUBLAS(12040)
	if !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), "EMBER_CUBLAS=/nonexistent/libcublas.so.12 could not be loaded") {
		t.Fatalf("loadCUBLAS: %v", err)
	}
	oneSentence(t, err.Error())

	// Without EMBER_CUBLAS every library name is tried and named.
	t.Setenv("EMBER_CUBLAS", "")
	saved := CUBLASLibraries
	CUBLASLibraries = []string{"libcublas-ember-test.so.13", "libcublas-ember-test.so.12"}
	defer func() { CUBLASLibraries = saved }()
	_, err = loadCUBLAS(13000)
	if !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), "none of libcublas-ember-test.so.13, libcublas-ember-test.so.12 could be loaded") {
		t.Fatalf("loadCUBLAS: %v", err)
	}
	oneSentence(t, err.Error())
}

// TestFakeDriverSymbols keeps fakedriver.Symbols equal to what shim.c requires.
func TestFakeDriverSymbols(t *testing.T) {
	src, err := os.ReadFile("shim.c")
	if err != nil {
		t.Fatal(err)
	}
	var required []string
	for _, m := range regexp.MustCompile(`\bS\(\w+, "(cu[A-Z]\w+)"\)`).FindAllStringSubmatch(string(src), -1) {
		required = append(required, m[1])
	}
	got := slices.Sorted(slices.Values(fakedriver.Symbols))
	slices.Sort(required)
	if !slices.Equal(got, required) {
		t.Errorf("fakedriver.Symbols = %v\nshim.c requires %v", got, required)
	}
}

// A driver older than CUDA 11.8 cannot compile PTX ISA 7.8: Open says so in
// one sentence wrapping ErrUnavailable, before any module load fails.
func TestOpenDriverBelowPTXISA78(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", fakeDriver(t, fakedriver.Options{Working: true, Devices: 1, Version: 11070}))
	_, err := Open([]int{0}, nil)
	want := "the CUDA driver (CUDA 11.7) is too old for Ember: its kernels are PTX ISA 7.8, which needs CUDA 11.8 or newer"
	if !errors.Is(err, device.ErrUnavailable) || err.Error() != want {
		t.Fatalf("Open on a CUDA 11.7 driver: %v, want %q wrapping ErrUnavailable", err, want)
	}
	oneSentence(t, err.Error())
}

// A driver that rejects the PTX when a module loads (INVALID_PTX,
// UNSUPPORTED_PTX_VERSION) makes CUDA unavailable, so --backend auto falls
// back; the context retained for the load is released.
func TestOpenPTXRejected(t *testing.T) {
	for _, tc := range []struct {
		code int
		name string
	}{{218, "CUDA_ERROR_INVALID_PTX"}, {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"}} {
		t.Run(tc.name, func(t *testing.T) {
			// a GPU the fatbins hold no SASS for, whose driver cannot JIT the PTX
			fakeGPUs(t, fakedriver.Options{FatbinLoadResult: 209, ModuleLoadResult: tc.code})
			_, err := Open([]int{0}, nil)
			if !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), tc.name) ||
				!strings.Contains(err.Error(), "cannot compile Ember's kernels") {
				t.Fatalf("Open: %v, want ErrUnavailable naming %s", err, tc.name)
			}
			oneSentence(t, err.Error())
			noLeaks(t)
		})
	}
	// Any other module-load failure is an error of Ember's, not an unavailable backend.
	fakeGPUs(t, fakedriver.Options{FatbinLoadResult: 209, ModuleLoadResult: 2})
	if _, err := Open([]int{0}, nil); err == nil || errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("Open with cuModuleLoadData out of memory: %v, want an error that is not ErrUnavailable", err)
	}
	noLeaks(t)
}

// The kernels load from the fatbins' SASS where the driver takes it, from the
// PTX where the fatbins hold no code for the GPU (or do not parse), and from
// the PTX alone under EMBER_CUDA_JIT=1; any other fatbin failure is an error.
func TestKernelImage(t *testing.T) {
	families := len(kernelNames())
	for _, tc := range []struct {
		name      string
		fatbin    int
		jit       bool
		sass, ptx int
		image     string
	}{
		{"sass", 0, false, families, 0, ImageSASS},
		{"no binary for GPU", 209, false, 0, families, ImagePTX},
		{"invalid image", 200, false, 0, families, ImagePTX},
		{"EMBER_CUDA_JIT=1", 0, true, 0, families, ImagePTX},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeGPUs(t, fakedriver.Options{FatbinLoadResult: tc.fatbin})
			if tc.jit {
				t.Setenv("EMBER_CUDA_JIT", "1")
			}
			devs, err := Open([]int{0}, nil) // a fresh fake driver: its totals start at 0
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			sass, ptx := fakeCount(fakedriver.CounterFatbinLoads), fakeCount(fakedriver.CounterPTXLoads)
			if sass != tc.sass || ptx != tc.ptx {
				t.Errorf("%d modules from fatbins and %d from PTX, want %d and %d", sass, ptx, tc.sass, tc.ptx)
			}
			if got := devs[0].KernelImage(); got != tc.image {
				t.Errorf("KernelImage() = %q, want %q", got, tc.image)
			}
			for _, d := range devs {
				d.Close()
			}
			noLeaks(t)
		})
	}
	fakeGPUs(t, fakedriver.Options{FatbinLoadResult: 2})
	_, err := Open([]int{0}, nil)
	if err == nil || errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), ".fatbin") {
		t.Fatalf("Open with the fatbin load out of memory: %v, want an error naming the fatbin that is not ErrUnavailable", err)
	}
	noLeaks(t)
}

func TestCUBLASCandidates(t *testing.T) {
	names := []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "/opt/cublas/libcublas.so"}
	for _, tc := range []struct {
		ver  int
		want []string
	}{
		{13000, names},
		{12040, names[1:]},
		{11080, names[2:]},
		{0, names},
	} {
		if got := cublasCandidates(names, tc.ver); !slices.Equal(got, tc.want) {
			t.Errorf("cublasCandidates(%d) = %v, want %v", tc.ver, got, tc.want)
		}
	}
}

// fakeCUBLASPair builds a cuBLAS 13 whose handles start only when good13,
// and a working cuBLAS 12, and makes them CUBLASLibraries for the test.
func fakeCUBLASPair(t *testing.T, good13 bool) (lib13, lib12 string) {
	t.Helper()
	forgetCUBLAS(t)
	t.Setenv("EMBER_CUBLAS", "")
	create := 0
	if !good13 {
		create = 1 // CUBLAS_STATUS_NOT_INITIALIZED
	}
	lib13, err := fakedriver.BuildCUBLASWith(t.TempDir(), fakedriver.CUBLASOptions{Name: "libcublas.so.13", CreateResult: create})
	if err != nil {
		t.Skipf("no C compiler for a fake cuBLAS: %v", err)
	}
	lib12, err = fakedriver.BuildCUBLASWith(t.TempDir(), fakedriver.CUBLASOptions{Name: "libcublas.so.12"})
	if err != nil {
		t.Skipf("no C compiler for a fake cuBLAS: %v", err)
	}
	saved := CUBLASLibraries
	CUBLASLibraries = []string{lib13, lib12}
	t.Cleanup(func() { CUBLASLibraries = saved })
	return lib13, lib12
}

// With a CUDA 12 driver, cuBLAS 13 is not even tried.
func TestCUBLASChosenByDriverVersion(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", fakeDriver(t, fakedriver.Options{Working: true, Devices: 1, Version: 12040}))
	_, lib12 := fakeCUBLASPair(t, true)
	devs, err := Open([]int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := CUBLASLibrary(); got != lib12 {
		t.Errorf("cuBLAS in use %s, want %s", got, lib12)
	}
	devs[0].Close()
	noLeaks(t)
}

// A cuBLAS whose handle does not start gives way to the next library.
func TestCUBLASHandleFallsBack(t *testing.T) {
	t.Setenv("EMBER_LIBCUDA", fakeDriver(t, fakedriver.Options{Working: true, Devices: 1, Version: 13000}))
	_, lib12 := fakeCUBLASPair(t, false)
	devs, err := Open([]int{0, 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := CUBLASLibrary(); got != lib12 {
		t.Errorf("cuBLAS in use %s, want %s", got, lib12)
	}
	for _, d := range devs {
		d.Close()
	}
	noLeaks(t)
}
