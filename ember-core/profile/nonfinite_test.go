package profile

import (
	"errors"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/internal/nantest"
)

// TestRunNonFiniteDecode: profile's own decode loop fails at the step whose
// logits are not finite, greedy (the device's argmax finds no maximum) and
// sampled (the host's check), naming the iteration; it used to time them.
func TestRunNonFiniteDecode(t *testing.T) {
	for _, tc := range []struct {
		sampling bool
		want     string
	}{
		{false, "warm-up iteration 1 of 1: decode step 2: the device's argmax found no finite maximum: non-finite logits"},
		{true, "warm-up iteration 1 of 1: decode step 2: logit 0 is NaN: non-finite logits"},
	} {
		m := nantest.TinyModel(t, 2)
		_, err := Run(m, Options{PromptLen: 8, DecodeSteps: 4, ChunkLen: 8, Iters: 2, Warmup: 1, Sampling: tc.sampling, Seed: 5, KVDType: device.BF16})
		var nf *engine.NonFiniteError
		if !errors.As(err, &nf) || nf.Step != 2 || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("sampling %v: err %v, want %q…", tc.sampling, err, tc.want)
		}
	}
}
