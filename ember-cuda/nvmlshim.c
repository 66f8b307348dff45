// nvmlshim.c: NVML, opened with dlopen at run time, so that Ember builds with
// a C compiler alone and runs where no NVIDIA driver is installed.
#include "nvmlshim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define NVML_ERROR_UNINITIALIZED 1
#define NVML_P2P_CAPS_INDEX_READ 0

// nvmlPciInfo_t as nvml.h (API v3) lays it out.
typedef struct {
    char bus_id_legacy[16];
    unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} nvml_pci;

typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

static void* lib;

static struct {
    int (*Init)(void);
    int (*Shutdown)(void);
    const char* (*ErrorString)(int);
    int (*SystemGetDriverVersion)(char*, unsigned);
    int (*SystemGetCudaDriverVersion)(int*);
    int (*DeviceGetCount)(unsigned*);
    int (*DeviceGetHandleByIndex)(unsigned, nvmlDevice_t*);
    int (*DeviceGetName)(nvmlDevice_t, char*, unsigned);
    int (*DeviceGetUUID)(nvmlDevice_t, char*, unsigned);
    int (*DeviceGetPciInfo)(nvmlDevice_t, nvml_pci*);
    int (*DeviceGetMemoryInfo)(nvmlDevice_t, nvml_memory*);
    int (*DeviceGetP2PStatus)(nvmlDevice_t, nvmlDevice_t, int, int*);
    int (*DeviceGetTopologyCommonAncestor)(nvmlDevice_t, nvmlDevice_t, int*);
} nv;

int ember_nvml_open(const char* path, char* err, int errlen) {
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        snprintf(err, errlen, "%s", e ? e : "dlopen failed");
        return -1;
    }
    struct {
        void** slot;
        const char* name;
    } syms[] = {
        {(void**)&nv.Init, "nvmlInit_v2"},
        {(void**)&nv.Shutdown, "nvmlShutdown"},
        {(void**)&nv.ErrorString, "nvmlErrorString"},
        {(void**)&nv.SystemGetDriverVersion, "nvmlSystemGetDriverVersion"},
        {(void**)&nv.SystemGetCudaDriverVersion, "nvmlSystemGetCudaDriverVersion"},
        {(void**)&nv.DeviceGetCount, "nvmlDeviceGetCount_v2"},
        {(void**)&nv.DeviceGetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2"},
        {(void**)&nv.DeviceGetName, "nvmlDeviceGetName"},
        {(void**)&nv.DeviceGetUUID, "nvmlDeviceGetUUID"},
        {(void**)&nv.DeviceGetPciInfo, "nvmlDeviceGetPciInfo_v3"},
        {(void**)&nv.DeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo"},
        {(void**)&nv.DeviceGetP2PStatus, "nvmlDeviceGetP2PStatus"},
        {(void**)&nv.DeviceGetTopologyCommonAncestor, "nvmlDeviceGetTopologyCommonAncestor"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(err, errlen, "%s has no %s", path, syms[i].name);
            dlclose(h);
            memset(&nv, 0, sizeof nv);
            return -1;
        }
    }
    lib = h;
    return 0;
}

void ember_nvml_close(void) {
    if (lib) {
        dlclose(lib);
    }
    lib = NULL;
    memset(&nv, 0, sizeof nv);
}

const char* ember_nvml_error(int r) {
    const char* s = nv.ErrorString ? nv.ErrorString(r) : NULL;
    return s ? s : "unknown NVML error";
}

int ember_nvml_init(void) { return nv.Init ? nv.Init() : NVML_ERROR_UNINITIALIZED; }
int ember_nvml_shutdown(void) { return nv.Shutdown ? nv.Shutdown() : NVML_ERROR_UNINITIALIZED; }
int ember_nvml_driver_version(char* v, int len) { return nv.SystemGetDriverVersion(v, (unsigned)len); }
int ember_nvml_cuda_version(int* v) { return nv.SystemGetCudaDriverVersion(v); }
int ember_nvml_count(unsigned* n) { return nv.DeviceGetCount(n); }
int ember_nvml_handle(unsigned i, nvmlDevice_t* d) { return nv.DeviceGetHandleByIndex(i, d); }

void ember_nvml_gpu_info(nvmlDevice_t d, ember_nvml_gpu* g) {
    memset(g, 0, sizeof *g);
    if (nv.DeviceGetName(d, g->name, sizeof g->name) != 0) {
        g->name[0] = 0;
    }
    if (nv.DeviceGetUUID(d, g->uuid, sizeof g->uuid) != 0) {
        g->uuid[0] = 0;
    }
    nvml_pci p;
    memset(&p, 0, sizeof p);
    if (nv.DeviceGetPciInfo(d, &p) == 0) {
        memcpy(g->bus_id, p.bus_id, sizeof g->bus_id);
        g->bus_id[sizeof g->bus_id - 1] = 0;
    }
    nvml_memory m;
    if (nv.DeviceGetMemoryInfo(d, &m) == 0) {
        g->mem_total = m.total;
        g->mem_free = m.free;
    }
    g->name[sizeof g->name - 1] = 0;
    g->uuid[sizeof g->uuid - 1] = 0;
}

int ember_nvml_p2p_read(nvmlDevice_t a, nvmlDevice_t b, int* status) {
    return nv.DeviceGetP2PStatus(a, b, NVML_P2P_CAPS_INDEX_READ, status);
}

int ember_nvml_topology(nvmlDevice_t a, nvmlDevice_t b, int* level) {
    return nv.DeviceGetTopologyCommonAncestor(a, b, level);
}
