/*
 * nvml_test.c - NVML reports the driver's emulated GPUs: count, names,
 * memory with the driver's allocations counted as used, peer status and
 * topology (GPU 2 has no peer access).
 */
#include "api.h"
#include "test.h"

int main(void) {
	setenv("EMBER_EMU_GPUS", "3", 1);
	setenv("EMBER_EMU_MEM", "1G", 1);
	setenv("EMBER_EMU_NOPEER", "2", 1);
	unsigned n = 0;
	CHECK_CU(nvmlDeviceGetCount_v2(&n), 1);
	OK(nvmlInit_v2());
	OK(nvmlDeviceGetCount_v2(&n));
	CHECK(n == 3, "%u GPUs", n);
	nvmlDevice_t d[3];
	for (unsigned i = 0; i < 3; i++) OK(nvmlDeviceGetHandleByIndex_v2(i, &d[i]));
	nvmlDevice_t none;
	CHECK_CU(nvmlDeviceGetHandleByIndex_v2(3, &none), 2);
	char buf[96];
	OK(nvmlDeviceGetName(d[1], buf, sizeof buf));
	CHECK(strcmp(buf, "cudaemu emulated GPU 1 (sm_80)") == 0, "name %s", buf);
	CHECK_CU(nvmlDeviceGetName(d[1], buf, 4), 7);
	OK(nvmlDeviceGetUUID(d[2], buf, sizeof buf));
	CHECK(strcmp(buf, "GPU-cdae0000-0000-4000-8000-000000000002") == 0, "uuid %s", buf);
	nvmlPciInfo_t pci;
	OK(nvmlDeviceGetPciInfo_v3(d[0], &pci));
	CHECK(strcmp(pci.busId, "00000000:10:00.0") == 0, "bus id %s", pci.busId);
	OK(nvmlSystemGetDriverVersion(buf, sizeof buf));
	CHECK(strstr(buf, "cudaemu") != NULL, "driver %s", buf);
	int v;
	OK(nvmlSystemGetCudaDriverVersion(&v));
	CHECK(v == 12040, "cuda %d", v);

	/* memory: the driver's allocation on GPU 1 shows as used there */
	nvmlMemory_t m;
	OK(nvmlDeviceGetMemoryInfo(d[1], &m));
	CHECK(m.total == 1u << 30 && m.free == m.total && m.used == 0, "total %llu free %llu used %llu", m.total, m.free, m.used);
	OK(cuInit(0));
	CUcontext c;
	OK(cuDevicePrimaryCtxRetain(&c, 1));
	OK(cuCtxSetCurrent(c));
	CUdeviceptr p;
	OK(cuMemAlloc_v2(&p, 3 << 20));
	OK(nvmlDeviceGetMemoryInfo(d[1], &m));
	CHECK(m.used == 3u << 20 && m.free == m.total - (3u << 20), "after 3 MiB: free %llu used %llu", m.free, m.used);
	OK(nvmlDeviceGetMemoryInfo(d[0], &m));
	CHECK(m.used == 0, "GPU 0 used %llu", m.used);
	OK(cuMemFree_v2(p));
	OK(cuDevicePrimaryCtxRelease_v2(1));

	int st, lv;
	OK(nvmlDeviceGetP2PStatus(d[0], d[1], 0, &st));
	CHECK(st == 0, "0→1 status %d", st);
	OK(nvmlDeviceGetP2PStatus(d[0], d[2], 0, &st));
	CHECK(st == 5, "0→2 status %d", st);
	OK(nvmlDeviceGetTopologyCommonAncestor(d[0], d[1], &lv));
	CHECK(lv == 30, "0,1 topology %d", lv);
	OK(nvmlDeviceGetTopologyCommonAncestor(d[1], d[2], &lv));
	CHECK(lv == 50, "1,2 topology %d", lv);
	CHECK(strcmp(nvmlErrorString(7), "Insufficient Size") == 0, "%s", nvmlErrorString(7));
	OK(nvmlShutdown());
	CHECK_CU(nvmlDeviceGetName(d[0], buf, sizeof buf), 1);
	CHECK_CU(nvmlShutdown(), 1);
	DONE();
}
