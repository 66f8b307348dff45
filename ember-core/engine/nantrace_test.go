package engine

import (
	"testing"

	"github.com/ember-infer/ember/ember-core/cpu"
	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/qwen3"
)

// TestDebugNonFiniteOnlyWhenAsked: without DebugNonFinite the model runs on
// the backend's own devices (no tracing wrapper, no cost per op); with it,
// every device is traced and a finite run records no origin.
func TestDebugNonFiniteOnlyWhenAsked(t *testing.T) {
	for _, debug := range []bool{false, true} {
		e, err := Open(Options{Model: tinyDir(t), Backend: "cpu", Devices: "cpu:0,cpu:1", DebugNonFinite: debug})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range e.Devices {
			_, plain := d.(*cpu.Device)
			_, traced := d.(*traceDevice)
			if plain == debug || traced != debug {
				t.Errorf("debug %v: device %T", debug, d)
			}
		}
		if debug {
			s, err := e.Model.NewSession(qwen3.SessionOptions{Ctx: 64, KVDType: device.F32})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Prefill([]int32{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			if o, serr := e.trace.origin(); o != "" || serr != nil {
				t.Errorf("finite weights: origin %q, %v", o, serr)
			}
			s.Close()
		}
		e.Close()
	}
}
