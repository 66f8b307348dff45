package main

import (
	"encoding/json"
	"testing"
)

// TestPlanGPUMemFree: --gpu-mem free takes each GPU's capacity from what is
// free now (NVML on a real machine; stubbed here).
func TestPlanGPUMemFree(t *testing.T) {
	isolate(t)
	saved := freeMemory
	defer func() { freeMemory = saved }()
	var asked []int
	freeMemory = func(ids []int) ([]int64, error) {
		asked = ids
		return []int64{10 << 30, 8 << 30}, nil
	}
	out, _ := mustEmber(t, "plan", "-m", "Qwen3-8B", "--devices", "0,1", "--gpu-mem", "free", "--json")
	var p struct {
		Devices []struct {
			Capacity int64 `json:"capacity_bytes"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(asked) != 2 || asked[0] != 0 || asked[1] != 1 {
		t.Errorf("asked NVML about %v, want [0 1]", asked)
	}
	if len(p.Devices) != 2 || p.Devices[0].Capacity != 10<<30 || p.Devices[1].Capacity != 8<<30 {
		t.Errorf("capacities %+v, want 10 GiB and 8 GiB", p.Devices)
	}
}
