package engine

import (
	"fmt"
	"slices"
	"strconv"
)

// checkDeviceList refuses device lists whose meaning would be a guess: a
// backend prefix on some entries but not others (cpu:0,1), and CPU indices
// other than 0, 1, … in order. CPU devices are logical — each is a share of
// this machine's cores and memory — so cpu:99 names nothing: cpu:N is the
// N-th logical device of the list.
func checkDeviceList(s, backend string, ids []string, prefixed []bool) error {
	if slices.Contains(prefixed, true) && slices.Contains(prefixed, false) {
		return fmt.Errorf("--devices %q gives a backend for some devices and not others; write every entry the same way (e.g. %s:0,%s:1)", s, backend, backend)
	}
	if backend != "cpu" {
		return nil
	}
	for i, id := range ids {
		if n, _ := strconv.Atoi(id); n != i {
			return fmt.Errorf("--devices %q: CPU devices are logical and numbered in order from 0; entry %d is cpu:%s, want cpu:%d", s, i+1, id, i)
		}
	}
	return nil
}
