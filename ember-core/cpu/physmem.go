package cpu

import "sync"

// physicalMemory is the machine's RAM in bytes (0 when unknown). An
// "unlimited" device is still limited by it: a request past what the machine
// holds must be an out-of-memory error, not a fatal runtime OOM.
var physicalMemory = sync.OnceValue(totalRAM)

// limit is the most bytes the device may hold: its budget, or the machine's
// memory when it has none (0: no limit known).
func (d *Device) limit() int64 {
	if d.budget > 0 {
		return d.budget
	}
	return physicalMemory()
}
