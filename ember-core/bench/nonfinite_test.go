package bench

import (
	"errors"
	"strings"
	"testing"

	"github.com/ember-infer/ember/ember-core/device"
	"github.com/ember-infer/ember/ember-core/engine"
	"github.com/ember-infer/ember/ember-core/internal/nantest"
)

// TestRunNonFiniteDecode: ember bench's decode loop stops at the first step
// whose logits have no finite maximum, naming it, instead of timing garbage
// (it used to fail one step later on "token id -1 is outside the vocabulary").
// Single-token embeddings: 1 is the warm-up decode, 2 the first timed step,
// 3 the second.
func TestRunNonFiniteDecode(t *testing.T) {
	m := nantest.TinyModel(t, 3)
	_, err := Run(m, Options{Threads: 1, PromptLen: 8, DecodeSteps: 4, PrefillRuns: 1, KVDType: device.BF16})
	var nf *engine.NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 2 || !strings.Contains(err.Error(), "decode step 2: ") {
		t.Fatalf("err %v, want a non-finite error at decode step 2", err)
	}
}
