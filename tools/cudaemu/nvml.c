/*
 * nvml.c - cudaemu's NVML: the entry points `ember devices` and the planner
 * call through go-nvml (which opens libnvidia-ml.so.1 with RTLD_GLOBAL and
 * calls these by name). It reports the driver's emulated GPUs: the same
 * count, names, memory (what the driver has allocated counts as used, since
 * both names load one library) and peer access.
 */
#define _GNU_SOURCE
#include "api.h"

#include <stdio.h>
#include <string.h>

enum { NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2,
       NVML_ERROR_NOT_SUPPORTED = 3, NVML_ERROR_INSUFFICIENT_SIZE = 7 };
enum { P2P_STATUS_OK = 0, P2P_STATUS_NOT_SUPPORTED = 5 };
enum { TOPOLOGY_HOSTBRIDGE = 30, TOPOLOGY_SYSTEM = 50 };

#define MAX_DEVICES 8

struct nvmlDevice_st {
	int index;
};

static struct nvmlDevice_st devices[MAX_DEVICES];
static int refs;

static int copy_string(char *dst, unsigned len, const char *src) {
	if (!dst) return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(src) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

/* device checks an NVML handle and returns its index, or -1. */
static int device(nvmlDevice_t d) {
	if (!refs || d < devices || d >= devices + emu_gpu_count()) return -1;
	return d->index;
}

EMU_API int nvmlInit_v2(void) {
	emu_lock();
	emu_config();
	for (int i = 0; i < MAX_DEVICES; i++) devices[i].index = i;
	refs++;
	emu_unlock();
	return NVML_SUCCESS;
}

EMU_API int nvmlShutdown(void) {
	emu_lock();
	int r = refs ? (refs--, NVML_SUCCESS) : NVML_ERROR_UNINITIALIZED;
	emu_unlock();
	return r;
}

EMU_API const char *nvmlErrorString(int r) {
	switch (r) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	}
	return "Unknown Error";
}

EMU_API int nvmlSystemGetDriverVersion(char *v, unsigned len) {
	if (!refs) return NVML_ERROR_UNINITIALIZED;
	return copy_string(v, len, "550.54.15-cudaemu");
}

EMU_API int nvmlSystemGetCudaDriverVersion(int *v) {
	if (!v) return NVML_ERROR_INVALID_ARGUMENT;
	*v = 12040;
	return NVML_SUCCESS;
}

EMU_API int nvmlDeviceGetCount_v2(unsigned *n) {
	if (!refs) return NVML_ERROR_UNINITIALIZED;
	if (!n) return NVML_ERROR_INVALID_ARGUMENT;
	*n = (unsigned)emu_gpu_count();
	return NVML_SUCCESS;
}

EMU_API int nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d) {
	if (!refs) return NVML_ERROR_UNINITIALIZED;
	if (!d || i >= (unsigned)emu_gpu_count()) return NVML_ERROR_INVALID_ARGUMENT;
	*d = &devices[i];
	return NVML_SUCCESS;
}

EMU_API int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned len) {
	int i = device(d);
	if (i < 0) return refs ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
	char buf[64];
	uint64_t total, used;
	emu_lock();
	emu_gpu_info(i, buf, sizeof buf, &total, &used);
	emu_unlock();
	return copy_string(name, len, buf);
}

EMU_API int nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned len) {
	int i = device(d);
	if (i < 0) return refs ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
	char buf[64];
	snprintf(buf, sizeof buf, "GPU-cdae0000-0000-4000-8000-%012d", i);
	return copy_string(uuid, len, buf);
}

EMU_API int nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *p) {
	int i = device(d);
	if (i < 0) return refs ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
	if (!p) return NVML_ERROR_INVALID_ARGUMENT;
	memset(p, 0, sizeof *p);
	p->bus = (unsigned)(0x10 + i);
	p->pciDeviceId = 0x20b010de; /* A100's id, NVIDIA's vendor id */
	snprintf(p->busIdLegacy, sizeof p->busIdLegacy, "0000:%02x:00.0", p->bus & 0xff);
	snprintf(p->busId, sizeof p->busId, "00000000:%02x:00.0", p->bus);
	return NVML_SUCCESS;
}

EMU_API int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
	int i = device(d);
	if (i < 0) return refs ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
	if (!m) return NVML_ERROR_INVALID_ARGUMENT;
	char buf[64];
	uint64_t total, used;
	emu_lock();
	emu_gpu_info(i, buf, sizeof buf, &total, &used);
	emu_unlock();
	m->total = total;
	m->used = used;
	m->free = total - used;
	return NVML_SUCCESS;
}

EMU_API int nvmlDeviceGetP2PStatus(nvmlDevice_t a, nvmlDevice_t b, int index, int *status) {
	int i = device(a), j = device(b);
	if (i < 0 || j < 0) return refs ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
	if (!status || index < 0 || index > 4) return NVML_ERROR_INVALID_ARGUMENT;
	if (index == 2) { /* NVLINK */
		*status = P2P_STATUS_NOT_SUPPORTED;
		return NVML_SUCCESS;
	}
	emu_lock();
	*status = emu_gpu_peer_possible(i, j) ? P2P_STATUS_OK : P2P_STATUS_NOT_SUPPORTED;
	emu_unlock();
	return NVML_SUCCESS;
}

EMU_API int nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t a, nvmlDevice_t b, int *level) {
	int i = device(a), j = device(b);
	if (i < 0 || j < 0) return refs ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
	if (!level) return NVML_ERROR_INVALID_ARGUMENT;
	emu_lock();
	*level = emu_gpu_peer_possible(i, j) ? TOPOLOGY_HOSTBRIDGE : TOPOLOGY_SYSTEM;
	emu_unlock();
	return NVML_SUCCESS;
}
