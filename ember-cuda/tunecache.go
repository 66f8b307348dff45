package cuda

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ember-infer/ember/ember-core/atomicfile"
)

// The decode matmul tuner's choices are kept in a file, so that a shape is
// timed once per GPU model, driver and cuBLAS, not once per process: a choice
// made again on every start could come out differently, and with it the
// rounding of x and the logits (tune.go). EMBER_CUDA_TUNE_CACHE names the
// file; "off" keeps choices in memory only; the default is
// cuda-decode-matmul.json in Ember's folder of the user cache directory. A
// file that cannot be read or parsed is started afresh; one that cannot be
// written leaves the choices in memory.

var tuneCache struct {
	mu     sync.Mutex
	path   string          // the file loaded, "" before the first use
	choice map[string]bool // key → GEMV won
}

// tuneCachePath returns the cache file, "" when choices are not kept.
func tuneCachePath() string {
	p := os.Getenv("EMBER_CUDA_TUNE_CACHE")
	switch p {
	case "off":
		return ""
	case "":
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(dir, "ember", "cuda-decode-matmul.json")
	}
	return p
}

// tuneKey names a decode matmul shape on this device's GPU model, driver and
// cuBLAS.
func (d *Device) tuneKey(k mmKey) string {
	return fmt.Sprintf("%s cc%d.%d %dSM, %s, %s: %s", d.phys.name, d.phys.cc[0], d.phys.cc[1], d.phys.sms,
		DriverVersion(), CUBLASLibrary(), fmtShape(k))
}

// loadTuneCache makes the cache hold path's choices (called with mu held).
func loadTuneCache(path string) {
	if tuneCache.path == path && tuneCache.choice != nil {
		return
	}
	tuneCache.path, tuneCache.choice = path, map[string]bool{}
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return
	}
	for k, v := range m {
		if v == "gemv" || v == "cublas" {
			tuneCache.choice[k] = v == "gemv"
		}
	}
}

// cachedChoice returns the kept choice for key, if any.
func cachedChoice(key string) (gemv, ok bool) {
	tuneCache.mu.Lock()
	defer tuneCache.mu.Unlock()
	loadTuneCache(tuneCachePath())
	gemv, ok = tuneCache.choice[key]
	return gemv, ok
}

// keepChoice records a choice and rewrites the file.
func keepChoice(key string, gemv bool) {
	tuneCache.mu.Lock()
	defer tuneCache.mu.Unlock()
	path := tuneCachePath()
	loadTuneCache(path)
	tuneCache.choice[key] = gemv
	if path == "" {
		return
	}
	m := map[string]string{}
	for k, g := range tuneCache.choice {
		m[k] = "cublas"
		if g {
			m[k] = "gemv"
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
		_ = atomicfile.WriteFile(path, append(b, '\n')) // unwritable: the choice stays in memory
	}
}
