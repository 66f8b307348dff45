package main

import (
	"fmt"
	"strconv"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// The CUDA backend registers itself with the engine, so that --backend cuda
// and --backend auto find it. The driver and cuBLAS are opened only when a
// verb asks for CUDA devices.
func init() {
	engine.Backends["cuda"] = cudaBackend
	freeMemory = cuda.FreeMemory
}

// cudaBackend opens CUDA devices for ids ("0", "1"; a repeated id is a second
// logical device on the same GPU) with the --device-mem budgets.
func cudaBackend(ids []string, mem []int64, _ int) ([]device.Device, error) {
	ords := make([]int, len(ids))
	for i, id := range ids {
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("CUDA device %q is not a GPU index", id)
		}
		ords[i] = n
	}
	devs, err := cuda.Open(ords, mem)
	if err != nil {
		return nil, err
	}
	out := make([]device.Device, len(devs))
	for i, d := range devs {
		out[i] = d
	}
	return out, nil
}
