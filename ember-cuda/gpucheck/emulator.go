package gpucheck

import (
	"fmt"
	"os"
	"path/filepath"
)

// EmulatorLibraries are the names tools/cudaemu's build directory holds its
// one library under, by the variable Ember reads each from.
var EmulatorLibraries = map[string]string{
	"EMBER_LIBCUDA": "libcuda.so.1",
	"EMBER_CUBLAS":  "libcublas.so.12",
	"EMBER_LIBNVML": "libnvidia-ml.so.1",
}

// UseEmulator points EMBER_LIBCUDA, EMBER_CUBLAS and EMBER_LIBNVML at the
// emulator's libraries in dir (tools/cudaemu/build), each unless already
// set. An empty dir changes nothing; a dir without the libraries is an error.
func UseEmulator(dir string) error {
	if dir == "" {
		return nil
	}
	for env, name := range EmulatorLibraries {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("EMBER_CUDAEMU_DIR=%s has no %s (build it with make cudaemu)", dir, name)
		}
		if os.Getenv(env) == "" {
			abs, err := filepath.Abs(path)
			if err != nil {
				return err
			}
			os.Setenv(env, abs)
		}
	}
	return nil
}
