package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-cuda/fakedriver"
)

// oneLine returns stderr's single line, failing the test if there are more.
func oneLine(t *testing.T, errs string) string {
	t.Helper()
	line := strings.TrimSpace(errs)
	if strings.Contains(line, "\n") {
		t.Errorf("stderr has more than one line: %q", errs)
	}
	return line
}

// TestBackendCUDAUnavailable: --backend cuda without a driver, and with a
// driver that finds no GPU, says so in one sentence and exits 4.
func TestBackendCUDAUnavailable(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	noGPU, err := fakedriver.Build(t.TempDir(), fakedriver.Options{InitResult: 100})
	if err != nil {
		t.Skipf("no C compiler for a fake driver: %v", err)
	}
	for _, tc := range []struct {
		name, lib, want string
	}{
		{"no driver", filepath.Join(t.TempDir(), "libcuda.so.1"), "ember: no CUDA driver: "},
		{"driver, no GPU", noGPU, "ember: the CUDA driver (CUDA 12.4) found no GPU (cuInit: CUDA_ERROR_NO_DEVICE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EMBER_LIBCUDA", tc.lib)
			for _, verb := range [][]string{{"run", "-m", model, "-p", "x", "-n", "2"}, {"check", "-m", model, "-p", "x"}} {
				_, errs, code := ember(t, append(verb, "--backend", "cuda")...)
				if line := oneLine(t, errs); code != exitUnavailable || !strings.HasPrefix(line, tc.want) {
					t.Errorf("ember %s --backend cuda: exit %d, stderr %q; want exit %d and %q", verb[0], code, errs, exitUnavailable, tc.want)
				}
			}
		})
	}
}

// TestBackendAutoFallsBack: --backend auto (the default) runs on the CPU
// when CUDA is unavailable and says so on stderr.
func TestBackendAutoFallsBack(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	t.Setenv("EMBER_LIBCUDA", filepath.Join(t.TempDir(), "libcuda.so.1"))
	out, errs := mustEmber(t, "check", "-m", model, "-p", "Hello")
	if !strings.Contains(errs, "backend auto: CUDA is unavailable (no CUDA driver: ") || !strings.Contains(errs, "using the CPU backend") {
		t.Errorf("stderr %q lacks the fallback note", errs)
	}
	if !strings.Contains(out, "backend cpu") {
		t.Errorf("stdout %q: not on the CPU backend", out)
	}
}

func TestCheckAgainstCPU(t *testing.T) {
	model := tinyModel(t)
	isolate(t)
	out, _ := mustEmber(t, "check", "-m", model, "-p", "Hello, my name is", "--backend", "cpu", "--devices", "cpu:0,cpu:1", "--chunk", "2", "--against", "cpu")
	if !strings.Contains(out, "against cpu: max |Δlogit| 0 = 0.00% of max |logit|") || !strings.Contains(out, ": PASS (tolerance 3.12%)") {
		t.Errorf("check --against cpu printed %q", out)
	}
	if _, errs, code := ember(t, "check", "-m", model, "-p", "x", "--backend", "cpu", "--against", "tpu"); code == 0 || !strings.Contains(errs, `--against "tpu"`) {
		t.Errorf("--against tpu: exit %d, %q", code, errs)
	}
}

func TestGPUCheckWithoutGPU(t *testing.T) {
	isolate(t)
	t.Setenv("EMBER_LIBCUDA", filepath.Join(t.TempDir(), "libcuda.so.1"))
	out, _ := mustEmber(t, "gpu-check")
	if !strings.HasPrefix(out, "no GPU: no CUDA driver: ") {
		t.Errorf("gpu-check without a GPU printed %q", out)
	}
}

func TestDevicesWithoutNVML(t *testing.T) {
	isolate(t)
	t.Setenv("EMBER_LIBNVML", filepath.Join(t.TempDir(), "libnvidia-ml.so.1"))
	_, errs, code := ember(t, "devices")
	if line := oneLine(t, errs); code != exitUnavailable || !strings.HasPrefix(line, "ember: NVML is unavailable: ") {
		t.Errorf("devices without NVML: exit %d, stderr %q", code, errs)
	}
}

func TestGPUVerbsHaveExamples(t *testing.T) {
	isolate(t)
	for _, cmd := range []string{"devices", "gpu-check"} {
		out, _ := mustEmber(t, cmd, "--help")
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "ember "+cmd) {
			t.Errorf("%s --help lacks examples:\n%s", cmd, out)
		}
	}
}
