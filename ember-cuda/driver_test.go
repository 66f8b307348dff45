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

func fakeDriver(t *testing.T, o fakedriver.Options) string {
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
func forgetCUBLAS(t *testing.T) {
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
	_, err := loadCUBLAS()
	if !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), "EMBER_CUBLAS=/nonexistent/libcublas.so.12 could not be loaded") {
		t.Fatalf("loadCUBLAS: %v", err)
	}
	oneSentence(t, err.Error())

	// Without EMBER_CUBLAS every library name is tried and named.
	t.Setenv("EMBER_CUBLAS", "")
	saved := CUBLASLibraries
	CUBLASLibraries = []string{"libcublas-ember-test.so.13", "libcublas-ember-test.so.12"}
	defer func() { CUBLASLibraries = saved }()
	_, err = loadCUBLAS()
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
