package cuda

import "strconv"

// Found describes the CUDA driver and cuBLAS this machine has, for
// `ember --version`: e.g. "CUDA 12.4 driver, 2 GPU(s), cuBLAS libcublas.so.12",
// or the one sentence saying why CUDA is unavailable.
func Found() string {
	n, err := initDriver()
	if err != nil {
		return "unavailable: " + err.Error()
	}
	s := DriverVersion() + " driver, " + strconv.Itoa(n) + " GPU(s)"
	lib.mu.Lock()
	ver := lib.driverVer
	lib.mu.Unlock()
	if p, err := loadCUBLAS(ver); err != nil {
		s += "; " + err.Error()
	} else {
		s += ", cuBLAS " + p
	}
	return s
}
