//go:build !linux

package cpu

func totalRAM() int64 { return 0 }
