package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ember-infer/ember/ember-core/inputfile"
)

// IndexFileName is the Hugging Face name of a sharded checkpoint's index.
const IndexFileName = "model.safetensors.index.json"

// SingleFileName is the Hugging Face name of an unsharded checkpoint.
const SingleFileName = "model.safetensors"

// Set is a whole checkpoint: one safetensors file or several shards, presented as a
// single name → tensor mapping. Tensor names are unique across the set. A Set is
// safe for concurrent use; Close must not race with other calls.
type Set struct {
	files []*File
	where map[string]int // tensor name → index into files
	names []string       // sorted
	desc  string         // what was opened, for error messages
}

// OpenSnapshot opens the checkpoint in directory dir: the shards named by
// model.safetensors.index.json when it exists, else model.safetensors, else every
// *.safetensors file in dir in name order. It fails (wrapping ErrNotFound) when dir
// holds none of these. For convenience dir may also name a .safetensors file or an
// index .json file directly.
func OpenSnapshot(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("safetensors snapshot: %w", err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(dir, ".json") {
			return OpenIndex(dir)
		}
		return OpenFiles(dir)
	}
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return OpenIndex(index)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors snapshot %s: %w", dir, err)
	}
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		return OpenFiles(single)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors snapshot %s: %w", dir, err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("safetensors snapshot %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, newError(ErrNotFound, "safetensors snapshot %s: directory has no %s, no %s and no *.safetensors files", dir, IndexFileName, SingleFileName)
	}
	sort.Strings(paths)
	return OpenFiles(paths...)
}

// indexFile is the JSON layout of model.safetensors.index.json.
type indexFile struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenIndex opens the shards named by a model.safetensors.index.json file (shard
// paths are relative to the index's directory). Every tensor the weight_map names
// must exist in the shard it names, else the error names the tensor, the shard and
// the index and wraps ErrNotFound and ErrFormat. A tensor present in two shards is
// refused.
func OpenIndex(indexPath string) (*Set, error) {
	raw, err := inputfile.Read(indexPath, inputfile.IndexCap)
	if err != nil {
		return nil, fmt.Errorf("safetensors index: %w", err)
	}
	var idx indexFile
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, formatErrorf("safetensors index %s: not a JSON object with a string-to-string weight_map: %v", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, formatErrorf("safetensors index %s: weight_map is missing or empty", indexPath)
	}
	dir := filepath.Dir(indexPath)
	var shards []string
	seen := map[string]bool{}
	for name, shard := range idx.WeightMap {
		if !filepath.IsLocal(shard) {
			return nil, formatErrorf("safetensors index %s: tensor %q: shard %q is not a path inside the index's directory", indexPath, name, shard)
		}
		if c := filepath.Clean(shard); !seen[c] {
			seen[c] = true
			shards = append(shards, c)
		}
	}
	sort.Strings(shards)
	paths := make([]string, len(shards))
	for i, s := range shards {
		paths[i] = filepath.Join(dir, s)
	}
	set, err := openFiles(paths, indexPath)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(idx.WeightMap))
	for name := range idx.WeightMap {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		shard := idx.WeightMap[name]
		i, ok := set.where[name]
		if !ok || filepath.Clean(set.files[i].path) != filepath.Join(dir, shard) {
			set.Close()
			return nil, newErrorKinds([]error{ErrNotFound, ErrFormat}, "safetensors index %s: tensor %q is mapped to shard %s, which does not contain it", indexPath, name, shard)
		}
	}
	return set, nil
}

// OpenFiles opens the given safetensors files as one set. A tensor name that appears
// in two files is refused.
func OpenFiles(paths ...string) (*Set, error) {
	return openFiles(paths, "")
}

func openFiles(paths []string, index string) (*Set, error) {
	desc := strings.Join(paths, ", ")
	if index != "" {
		desc = index
	}
	if len(paths) == 0 {
		return nil, newError(ErrNotFound, "safetensors: no files to open")
	}
	s := &Set{where: map[string]int{}, desc: desc}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			s.Close()
			if index != "" && errors.Is(err, fs.ErrNotExist) {
				return nil, newError(ErrNotFound, "safetensors index %s: shard %s does not exist: %w", index, p, err)
			}
			if index != "" {
				return nil, fmt.Errorf("%w (a shard of index %s)", err, index)
			}
			return nil, err
		}
		s.files = append(s.files, f)
		for _, t := range f.header.Tensors {
			if j, dup := s.where[t.Name]; dup {
				s.Close()
				return nil, formatErrorf("safetensors %s: tensor %q is also in %s; a tensor must live in one file only", p, t.Name, s.files[j].path)
			}
			s.where[t.Name] = len(s.files) - 1
			s.names = append(s.names, t.Name)
		}
	}
	sort.Strings(s.names)
	return s, nil
}

// Tensor returns a zero-copy view of the tensor called name from whichever file
// holds it; the error wraps ErrNotFound when no file does.
func (s *Set) Tensor(name string) (*Tensor, error) {
	i, ok := s.where[name]
	if !ok {
		return nil, newError(ErrNotFound, "safetensors %s: tensor %q not found", s.desc, name)
	}
	return s.files[i].Tensor(name)
}

// Info returns the header entry of the tensor called name and whether the set has
// it. Its Begin and End are relative to the data section of the file holding it.
func (s *Set) Info(name string) (TensorInfo, bool) {
	i, ok := s.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return s.files[i].header.Lookup(name)
}

// Names returns every tensor name in the set, sorted. The slice is a copy.
func (s *Set) Names() []string {
	return append([]string(nil), s.names...)
}

// TensorBytes returns the sum of all tensors' data bytes: the weights' size on
// disk, without headers.
func (s *Set) TensorBytes() int64 {
	var n int64
	for _, f := range s.files {
		n += f.header.DataLen
	}
	return n
}

// FileBytes returns the sum of the files' sizes, headers included.
func (s *Set) FileBytes() int64 {
	var n int64
	for _, f := range s.files {
		n += f.size
	}
	return n
}

// Files returns the paths of the set's files in the order they were opened.
func (s *Set) Files() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.path
	}
	return out
}

// Close closes every file of the set and returns their errors joined.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
