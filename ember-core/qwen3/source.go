package qwen3

import (
	"fmt"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/safetensors"
)

// SetSource serves weights from an open safetensors snapshot, zero-copy.
type SetSource struct{ Set *safetensors.Set }

// Weight implements WeightSource.
func (s SetSource) Weight(name string) (device.DType, []int, []byte, error) {
	t, err := s.Set.Tensor(name)
	if err != nil {
		return 0, nil, nil, err
	}
	var dt device.DType
	switch t.DType {
	case safetensors.F32:
		dt = device.F32
	case safetensors.F16:
		dt = device.F16
	case safetensors.BF16:
		dt = device.BF16
	default:
		return 0, nil, nil, fmt.Errorf("safetensors %s: tensor %q has dtype %s; Ember reads F32, F16 and BF16", t.Path, name, t.DType)
	}
	shape := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int(d)
	}
	return dt, shape, t.Data, nil
}
