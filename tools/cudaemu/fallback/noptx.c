/*
 * noptx.c - stands in for the PTX interpreter (ptx_*.c) while it is not in
 * the tree, so that the driver, cuBLAS and NVML layers build and test on
 * their own. Every module load fails with a sentence saying why; the
 * Makefile compiles this file only when there is no ptx_*.c.
 */
#include "../ptx.h"

#include <stdio.h>

ptx_module *ptx_load(const char *text, char *err, size_t errlen) {
	(void)text;
	snprintf(err, errlen, "this cudaemu was built without its PTX interpreter (no tools/cudaemu/ptx_*.c)");
	return NULL;
}
void ptx_unload(ptx_module *m) { (void)m; }
ptx_kernel *ptx_kernel_find(ptx_module *m, const char *name) { (void)m, (void)name; return NULL; }
int ptx_kernel_nparams(const ptx_kernel *k) { (void)k; return 0; }
size_t ptx_kernel_param_size(const ptx_kernel *k, int i) { (void)k, (void)i; return 0; }
size_t ptx_kernel_static_shared(const ptx_kernel *k) { (void)k; return 0; }
int ptx_global_find(ptx_module *m, const char *name, void **addr, size_t *size) {
	(void)m, (void)name, (void)addr, (void)size;
	return -1;
}
int ptx_global_count(const ptx_module *m) { (void)m; return 0; }
int ptx_global_at(const ptx_module *m, int i, const char **name, void **addr, size_t *size) {
	(void)m, (void)i, (void)name, (void)addr, (void)size;
	return -1;
}
int ptx_launch(const ptx_kernel *k, const unsigned grid[3], const unsigned block[3], unsigned dyn_shared,
               void **params, const ptx_env *env, char *err, size_t errlen) {
	(void)k, (void)grid, (void)block, (void)dyn_shared, (void)params, (void)env;
	snprintf(err, errlen, "no PTX interpreter");
	return 1;
}
