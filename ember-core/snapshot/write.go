package snapshot

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/safetensors"
)

// WriteZero writes a snapshot of c into dir: config.json and a model.safetensors
// holding every tensor Expected(c) lists (plus lm_head.weight when c is tied and
// storeLMHead is set), all zeros, in dtype. It exists for tests and fixtures that
// need a structurally valid checkpoint without real weights; dir is created.
func WriteZero(dir string, c *config.Config, dtype safetensors.DType, storeLMHead bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	cj, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("snapshot: config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), append(cj, '\n'), 0o644); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	expected := Expected(c)
	if c.TieWordEmbeddings && storeLMHead {
		expected = append(expected, LMHeadSpec(c))
	}
	specs := make([]safetensors.Spec, len(expected))
	for i, e := range expected {
		specs[i] = safetensors.Spec{Name: e.Name, DType: dtype, Shape: e.Shape}
	}
	zeros := make([]byte, 64<<10)
	fill := func(_ int, s safetensors.Spec, w io.Writer) error {
		n, ok := s.Bytes()
		if !ok {
			return fmt.Errorf("tensor %q: dtype %s has no size", s.Name, s.DType)
		}
		for n > 0 {
			k := min(n, int64(len(zeros)))
			if _, err := w.Write(zeros[:k]); err != nil {
				return err
			}
			n -= k
		}
		return nil
	}
	if err := safetensors.WriteFunc(filepath.Join(dir, safetensors.SingleFileName), specs, map[string]string{"format": "pt"}, fill); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}
