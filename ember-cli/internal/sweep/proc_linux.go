package sweep

import "syscall"

// childAttr puts a child in its own process group, so that a signal reaches
// everything it started, and has the kernel kill it if the sweep dies first
// (the sweep's thread is locked while the child runs: Pdeathsig follows the
// thread that started it).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
