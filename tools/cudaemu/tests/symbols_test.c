/*
 * symbols_test.c - the library exports every entry point Ember resolves:
 * each name ember-cuda/shim.c passes to dlsym (read from the file, so a new
 * one fails here until it is emulated), and the NVML functions ember-cuda/nvmlshim.c calls
 * for ember-cuda/nvml.go. Run from tools/cudaemu (make test does).
 */
#include "test.h"

#include <dlfcn.h>

static const char *nvml[] = {
    "nvmlInit_v2", "nvmlShutdown", "nvmlErrorString", "nvmlSystemGetDriverVersion",
    "nvmlSystemGetCudaDriverVersion", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
    "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetP2PStatus", "nvmlDeviceGetTopologyCommonAncestor",
};

int main(int argc, char **argv) {
	const char *lib = argc > 1 ? argv[1] : "build/libcudaemu.so";
	if (getenv("CUDAEMU_LIB")) lib = getenv("CUDAEMU_LIB");
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL, "dlopen %s: %s", lib, dlerror());
	if (!h) DONE();
	FILE *f = fopen("../../ember-cuda/shim.c", "r");
	CHECK(f != NULL, "cannot read ../../ember-cuda/shim.c");
	int driver = 0, blas = 0;
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		char *p = strstr(line, "S(");
		if (!p) p = strstr(line, "O(");
		if (!p) continue;
		char *q = strchr(p, '"');
		if (!q) continue;
		char *e = strchr(q + 1, '"');
		if (!e) continue;
		*e = 0;
		const char *name = q + 1;
		if (strncmp(name, "cublas", 6) == 0) blas++;
		else if (strncmp(name, "cu", 2) == 0) driver++;
		else continue;
		CHECK(dlsym(h, name) != NULL, "%s does not export %s, which ember-cuda/shim.c resolves", lib, name);
	}
	if (f) fclose(f);
	CHECK(driver >= 44 && blas == 7, "read %d driver and %d cuBLAS names from shim.c", driver, blas);
	for (size_t i = 0; i < sizeof nvml / sizeof nvml[0]; i++)
		CHECK(dlsym(h, nvml[i]) != NULL, "%s does not export %s", lib, nvml[i]);
	DONE();
}
