package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/ember-infer/ember/ember-core/cpu"
	cuda "github.com/ember-infer/ember/ember-cuda"
)

// version is Ember's version; a release build sets it with
// -ldflags "-X main.version=v1.2.3".
var version = "0.1.0-dev"

// printVersion writes what `ember --version` shows: the version (and the
// commit, when the build recorded it), the Go toolchain, the CPU kernels this
// machine runs, and the CUDA driver and cuBLAS found, or why there are none.
func printVersion(w io.Writer) {
	v := "ember " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (commit " + s.Value[:12] + ")"
			}
		}
	}
	fmt.Fprintln(w, v)
	fmt.Fprintf(w, "go       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "cpu      %s kernels, %d cores\n", cpu.Kernels(), runtime.NumCPU())
	fmt.Fprintf(w, "cuda     %s\n", cuda.Found())
}
