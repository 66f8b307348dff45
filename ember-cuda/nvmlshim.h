// nvmlshim.h: the NVML entry points `ember devices` and the planner use,
// declared here so that building needs no NVML headers (and compiles with no
// warning); nvmlshim.c opens the library with dlopen at run time.
#ifndef EMBER_NVMLSHIM_H
#define EMBER_NVMLSHIM_H

typedef struct nvmlDevice_st* nvmlDevice_t;

// The GPU facts one call gathers (nvmlDeviceGetName, _GetUUID, _GetPciInfo_v3
// and _GetMemoryInfo); a field NVML could not read is left empty or zero.
typedef struct {
    char name[96];
    char uuid[96];
    char bus_id[32];
    unsigned long long mem_total, mem_free;
} ember_nvml_gpu;

// ember_nvml_open dlopens path and resolves the entry points: 0, or -1 with
// a one-line reason in err. It does not initialise NVML.
int ember_nvml_open(const char* path, char* err, int errlen);
// ember_nvml_close dlcloses the library ember_nvml_open opened.
void ember_nvml_close(void);

const char* ember_nvml_error(int r);
int ember_nvml_init(void);
int ember_nvml_shutdown(void);
int ember_nvml_driver_version(char* v, int len);
int ember_nvml_cuda_version(int* v);
int ember_nvml_count(unsigned* n);
int ember_nvml_handle(unsigned i, nvmlDevice_t* d);
void ember_nvml_gpu_info(nvmlDevice_t d, ember_nvml_gpu* g);
int ember_nvml_p2p_read(nvmlDevice_t a, nvmlDevice_t b, int* status);
int ember_nvml_topology(nvmlDevice_t a, nvmlDevice_t b, int* level);

#endif
