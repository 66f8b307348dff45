//go:build !linux

package sweep

import "syscall"

// childAttr puts a child in its own process group (no Pdeathsig off Linux).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
