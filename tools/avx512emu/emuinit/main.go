// emuinit is /init inside the Bochs guest initramfs. It runs /emu/bin with the
// NUL-separated args in /emu/args (env in /emu/env, one KEY=VAL per NUL), copies its
// combined stdout/stderr to /dev/ttyS1 between "EMU-BEGIN\n" and "\nEMU-EXIT-<nonce> <code>\n",
// then powers the machine off.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func split0(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		out = append(out, string(s))
	}
	return out
}

func rawTTY(f *os.File) {
	var t syscall.Termios
	fd := f.Fd()
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t))); e != 0 {
		return
	}
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Iflag &^= syscall.ICRNL | syscall.IXON
	t.Cflag = (t.Cflag &^ 0010017) | syscall.B115200
	t.Ispeed, t.Ospeed = syscall.B115200, syscall.B115200
	syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(&t)))
}

func drain(f *os.File) {
	syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), 0x5409, 1) // tcdrain
}

func outb(port uint16, val uint8)

func powerOff() {
	syscall.Sync()
	// Bochs "shutdown port": writing "Shutdown" to I/O port 0x8900 quits Bochs.
	if syscall.Iopl(3) == nil {
		for _, c := range []byte("Shutdown") {
			outb(0x8900, c)
		}
	}
	if p, err := os.OpenFile("/dev/port", os.O_WRONLY, 0); err == nil {
		for _, c := range []byte("Shutdown") {
			p.WriteAt([]byte{c}, 0x8900)
		}
		p.Close()
	}
	time.Sleep(100 * time.Millisecond)
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour)
	}
}

func main() {
	os.MkdirAll("/proc", 0755)
	os.MkdirAll("/sys", 0755)
	os.MkdirAll("/dev", 0755)
	os.MkdirAll("/tmp", 01777)
	syscall.Mount("proc", "/proc", "proc", 0, "")
	syscall.Mount("sysfs", "/sys", "sysfs", 0, "")
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	syscall.Mount("tmpfs", "/tmp", "tmpfs", 0, "")
	syscall.Mount("devpts", "/dev/pts", "devpts", 0, "")

	out, err := os.OpenFile("/dev/ttyS1", os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		out = os.Stdout
	} else {
		rawTTY(out)
	}
	fmt.Fprintf(os.Stderr, "emuinit: starting /emu/bin\n")

	args := split0("/emu/args")
	env := []string{"PATH=/bin:/usr/bin", "HOME=/tmp", "TMPDIR=/tmp", "GOMAXPROCS=1"}
	env = append(env, split0("/emu/env")...)
	dir := "/work"
	os.MkdirAll(dir, 0755)
	if d, err := os.ReadFile("/emu/dir"); err == nil && len(d) > 0 {
		dir = strings.TrimSpace(string(d))
	}

	nonce, _ := os.ReadFile("/emu/nonce")
	io.WriteString(out, "EMU-BEGIN\n")
	pr, pw, _ := os.Pipe()
	cmd := exec.Command("/emu/bin", args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = pw
	cmd.Stderr = pw
	if devnull, err := os.Open("/dev/null"); err == nil {
		cmd.Stdin = devnull
	}
	t0 := time.Now()
	code := 0
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(pw, "emuinit: start: %v\n", err)
		code = 127
		pw.Close()
		io.Copy(out, pr)
	} else {
		pw.Close()
		done := make(chan struct{})
		go func() { io.Copy(out, pr); close(done) }()
		err := cmd.Wait()
		<-done
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				ws := ee.Sys().(syscall.WaitStatus)
				if ws.Signaled() {
					code = 128 + int(ws.Signal())
				} else {
					code = ws.ExitStatus()
				}
			} else {
				code = 126
			}
		}
	}
	fmt.Fprintf(out, "\nEMU-EXIT-%s %d\n", nonce, code)
	drain(out)
	fmt.Fprintf(os.Stderr, "emuinit: exit %d after %v (guest time)\n", code, time.Since(t0))
	powerOff()
}
