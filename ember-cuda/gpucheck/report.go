package gpucheck

import (
	"fmt"
	"io"
	"strings"
)

// report prints one line per check and counts failures.
type report struct {
	w              io.Writer
	checks, failed int
}

func (r *report) section(title string) {
	fmt.Fprintf(r.w, "\n== %s\n", title)
}

// check prints PASS or FAIL and the description.
func (r *report) check(ok bool, format string, args ...any) {
	r.checks++
	status := "PASS"
	if !ok {
		status = "FAIL"
		r.failed++
	}
	fmt.Fprintf(r.w, "%s  %s\n", status, fmt.Sprintf(format, args...))
}

// fail records a check that could not run.
func (r *report) fail(what string, err error) {
	r.check(false, "%s: %v", what, strings.ReplaceAll(err.Error(), "\n", " "))
}

func (r *report) info(format string, args ...any) {
	fmt.Fprintf(r.w, "      %s\n", fmt.Sprintf(format, args...))
}
