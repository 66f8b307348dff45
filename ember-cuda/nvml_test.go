package cuda

import (
	"errors"
	"path/filepath"
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

func TestTopologyNames(t *testing.T) {
	if cString([]int8{'0', '0', ':', '1', 0, 'x'}) != "00:1" {
		t.Error("cString")
	}
}
