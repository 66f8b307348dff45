// Package snapshot opens a Qwen3 model snapshot directory — config.json, the
// optional generation_config.json and the safetensors checkpoint — and checks that
// the checkpoint holds exactly the tensors the config implies.
//
// The Qwen3 tensor names live here, in names.go, and nowhere else: other packages
// build them with LayerName and the suffix constants, and list them with Expected.
package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ember-infer/ember/ember-core/config"
	"github.com/ember-infer/ember/ember-core/safetensors"
)

// File names inside a snapshot directory.
const (
	// ConfigFile is the model's config.json, required.
	ConfigFile = "config.json"
	// GenerationConfigFile holds the sampling defaults, optional.
	GenerationConfigFile = "generation_config.json"
)

// ErrMismatch is wrapped by Check's errors: the checkpoint lacks a tensor the config
// implies, stores it with another shape, or in a dtype Ember cannot read.
var ErrMismatch = errors.New("checkpoint does not match config")

// Snapshot is an opened model snapshot. Close releases the checkpoint's files.
type Snapshot struct {
	// Dir is the snapshot directory.
	Dir string
	// Config is config.json, parsed and validated.
	Config *config.Config
	// Generation is generation_config.json, nil when the snapshot has none.
	Generation *config.Generation
	// Tensors is the safetensors checkpoint (one file or shards).
	Tensors *safetensors.Set
}

// Open reads dir's config.json (required), generation_config.json (optional) and
// opens its safetensors checkpoint. It does not call Check.
func Open(dir string) (*Snapshot, error) {
	c, err := config.Load(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	s := &Snapshot{Dir: dir, Config: c}
	g, err := config.LoadGeneration(filepath.Join(dir, GenerationConfigFile))
	switch {
	case err == nil:
		s.Generation = g
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	set, err := safetensors.OpenSnapshot(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	s.Tensors = set
	return s, nil
}

// Close closes the checkpoint files.
func (s *Snapshot) Close() error {
	if s.Tensors == nil {
		return nil
	}
	return s.Tensors.Close()
}

// Check verifies that every tensor Expected(s.Config) lists is present with that
// shape and a readable dtype (F32, F16, BF16), and that a stored lm_head.weight of a
// tied model has the embedding's shape. The error is one sentence naming the first
// offending tensor, and wraps ErrMismatch.
func (s *Snapshot) Check() error {
	specs := Expected(s.Config)
	if s.Config.TieWordEmbeddings && s.StoresLMHead() {
		specs = append(specs, LMHeadSpec(s.Config))
	}
	for _, sp := range specs {
		info, ok := s.Tensors.Info(sp.Name)
		if !ok {
			return fmt.Errorf("snapshot %s: tensor %q is missing (config.json implies %d tensors): %w",
				s.Dir, sp.Name, len(specs), ErrMismatch)
		}
		if !equalShape(info.Shape, sp.Shape) {
			return fmt.Errorf("snapshot %s: tensor %q has shape %s, config.json implies %s: %w",
				s.Dir, sp.Name, shapeString(info.Shape), shapeString(sp.Shape), ErrMismatch)
		}
		if !info.DType.Readable() {
			return fmt.Errorf("snapshot %s: tensor %q has dtype %s, which Ember cannot read (want F32, F16 or BF16): %w",
				s.Dir, sp.Name, info.DType, ErrMismatch)
		}
	}
	return nil
}

// StoresLMHead reports whether the checkpoint holds lm_head.weight. Untied models
// must; tied models usually don't, but some (Qwen3-0.6B, Qwen3-1.7B) do anyway, and
// those bytes count on disk without being needed on a single device.
func (s *Snapshot) StoresLMHead() bool {
	_, ok := s.Tensors.Info(LMHead)
	return ok
}

// DTypes returns how many tensors the checkpoint stores in each dtype.
func (s *Snapshot) DTypes() map[safetensors.DType]int {
	m := map[safetensors.DType]int{}
	for _, n := range s.Tensors.Names() {
		info, _ := s.Tensors.Info(n)
		m[info.DType]++
	}
	return m
}

// DTypeSummary returns DTypes as "BF16×311, F32×2", sorted by dtype name.
func (s *Snapshot) DTypeSummary() string {
	m := s.DTypes()
	keys := make([]string, 0, len(m))
	for d := range m {
		keys = append(keys, string(d))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[safetensors.DType(k)])
	}
	return strings.Join(parts, ", ")
}

// Extra returns, sorted, the checkpoint's tensors that the config does not imply
// (a tied model's stored lm_head.weight is not counted as extra).
func (s *Snapshot) Extra() []string {
	want := map[string]bool{LMHead: true}
	for _, sp := range Expected(s.Config) {
		want[sp.Name] = true
	}
	var extra []string
	for _, n := range s.Tensors.Names() {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	return extra
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
