package sweep

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Field is one named part of a run's identity: a profile flag and its value,
// or a fingerprint (the model's files, the ember binary).
type Field struct{ Key, Value string }

// Identity is everything that changes a run's numbers, in a fixed order. A
// finished run is reused only when its recorded identity equals the one the
// sweep would measure now.
type Identity []Field

// FlagIdentity turns profile arguments ("--iters 6 --overlap ...") into
// fields keyed by flag name; a flag without a value (a boolean) is "true".
// The output paths (--csv, --samples-csv) name where a run goes, not what it
// measures, and are left out.
func FlagIdentity(args []string) Identity {
	var id Identity
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		value := "true"
		if k, v, found := strings.Cut(name, "="); found {
			name, value = k, v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			value = args[i+1]
			i++
		}
		if name == "csv" || name == "samples-csv" {
			continue
		}
		id = append(id, Field{name, value})
	}
	return id
}

// Get returns the value of key, or "" and false.
func (id Identity) Get(key string) (string, bool) {
	for _, f := range id {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Diff says how a recorded identity (was) differs from the wanted one (id),
// naming the first field that differs, or "" when they are the same.
func (id Identity) Diff(was Identity) string {
	for _, f := range id {
		old, ok := was.Get(f.Key)
		switch {
		case !ok:
			return fmt.Sprintf("it was measured without %s, this run has %s %q", f.Key, f.Key, f.Value)
		case old != f.Value:
			return fmt.Sprintf("it was measured with %s %q, this run has %q", f.Key, old, f.Value)
		}
	}
	for _, f := range was {
		if _, ok := id.Get(f.Key); !ok {
			return fmt.Sprintf("it was measured with %s %q, this run has none", f.Key, f.Value)
		}
	}
	return ""
}

// encode writes one "key<TAB>value" line per field (values are quoted so
// that any byte survives).
func (id Identity) encode() []byte {
	var b bytes.Buffer
	for _, f := range id {
		fmt.Fprintf(&b, "%s\t%s\n", f.Key, strconv.Quote(f.Value))
	}
	return b.Bytes()
}

// maxMarker caps a completion marker's size: a marker is a few hundred bytes.
const maxMarker = 1 << 20

// parseIdentity reads what encode wrote.
func parseIdentity(data []byte) (Identity, error) {
	if len(data) > maxMarker {
		return nil, fmt.Errorf("%d bytes, more than a marker holds", len(data))
	}
	var id Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxMarker)
	for n := 1; sc.Scan(); n++ {
		k, q, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			return nil, fmt.Errorf("line %d has no tab", n)
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return nil, fmt.Errorf("line %d: value %s is not quoted", n, q)
		}
		id = append(id, Field{k, v})
	}
	return id, sc.Err()
}

// maxHashed caps the bytes of one file that a fingerprint reads: configs and
// tokenizers are hashed whole, anything larger (weights) by name, size and
// modification time, so that fingerprinting a 16 GB snapshot stays instant.
const maxHashed = 64 << 20

// ModelFingerprint returns a hash of the snapshot directory's files: the
// content of every regular file up to 64 MiB (config.json, tokenizer.json,
// generation_config.json, safetensors indexes) and the name, size and
// modification time of larger ones (the weights). Replacing or rewriting any
// of them changes it.
func ModelFingerprint(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p) // snapshot files are often links into a blob store
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, st.Size())
		if st.Size() > maxHashed {
			fmt.Fprintf(h, "%d\x00", st.ModTime().UnixNano())
			continue
		}
		if err := hashFile(h, p, st.Size()); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ExeFingerprint returns a hash of an executable's bytes: a rebuilt ember
// (another kernel, another default) measures differently.
func ExeFingerprint(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := hashFile(h, path, st.Size()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFile(w io.Writer, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, io.LimitReader(f, size))
	return err
}
