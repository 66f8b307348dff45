/*
 * ptx.h - the interface between cudaemu's PTX interpreter (ptx_*.c) and its
 * fake driver / cuBLAS / NVML layer (driver.c, cublas.c, nvml.c).
 *
 * Device pointers are host virtual addresses: the driver layer allocates device
 * memory with the host allocator and hands those addresses to kernels. The
 * interpreter never trusts them: every global load/store/atomic goes through
 * env->check_global, which the driver answers from its allocation table (this
 * context's device memory, peer memory with access enabled, pinned host memory).
 *
 * Errors are one sentence written into err (NUL-terminated, truncated to errlen).
 * Load-time errors name the PTX line: "ptx line 123: unknown opcode 'foo.bar'".
 * Launch faults name the kernel, block, thread and PTX line.
 */
#ifndef CUDAEMU_PTX_H
#define CUDAEMU_PTX_H

#include <stddef.h>
#include <stdint.h>

typedef struct ptx_module ptx_module;
typedef struct ptx_kernel ptx_kernel;

typedef struct ptx_env {
	/* 0 when [addr, addr+n) may be accessed (write != 0: stored to) by a
	 * kernel of this launch; otherwise nonzero with one sentence in msg. */
	int (*check_global)(void *ctx, uint64_t addr, uint64_t n, int write,
	                    char *msg, size_t msglen);
	void *ctx;
	/* nonzero: run the threads of a block in a seeded random order between
	 * barriers (exposes missing __syncthreads). */
	int randomize_schedule;
	uint64_t seed;
	/* out: thread-instructions executed by the launch (for statistics). */
	uint64_t *instructions;
} ptx_env;

/* ptx_load parses and checks a whole PTX module (the text cuModuleLoadData
 * gets). Every opcode/modifier the interpreter does not implement is an error
 * here, naming the line. Module-scope .global/.const variables are allocated
 * and initialised. Returns NULL on error. */
ptx_module *ptx_load(const char *text, char *err, size_t errlen);
void ptx_unload(ptx_module *m);

/* ptx_kernel_find returns the .entry named name, or NULL. */
ptx_kernel *ptx_kernel_find(ptx_module *m, const char *name);

/* ptx_kernel_params tells the number of .param arguments and each one's size
 * in bytes (cuLaunchKernel's kernelParams[i] points at sizes[i] bytes). */
int ptx_kernel_nparams(const ptx_kernel *k);
size_t ptx_kernel_param_size(const ptx_kernel *k, int i);

/* ptx_kernel_static_shared is the kernel's static .shared bytes. */
size_t ptx_kernel_static_shared(const ptx_kernel *k);

/* ptx_global_find gives the host address and size of a module-scope
 * variable (cuModuleGetGlobal). Returns 0 when found. The driver registers
 * these ranges in its allocation table. */
int ptx_global_find(ptx_module *m, const char *name, void **addr, size_t *size);
/* ptx_global_count / ptx_global_at enumerate them (for registration). */
int ptx_global_count(const ptx_module *m);
int ptx_global_at(const ptx_module *m, int i, const char **name, void **addr,
                  size_t *size);

/* ptx_launch runs the whole grid to completion on the calling thread.
 * params[i] points at ptx_kernel_param_size(k, i) bytes. dyn_shared is the
 * dynamic shared memory size (extern .shared). Returns 0 on success,
 * nonzero on a fault (out-of-bounds access, misaligned access, barrier
 * deadlock, bad warp-exchange mask, trap, ...), with the sentence in err. */
int ptx_launch(const ptx_kernel *k, const unsigned grid[3],
               const unsigned block[3], unsigned dyn_shared, void **params,
               const ptx_env *env, char *err, size_t errlen);

/* ptx_set_loop_limit bounds the backward branches one thread may take in a
 * launch (default 2^30; 0 restores it): past it the launch faults ("an
 * endless loop?") instead of hanging. */
void ptx_set_loop_limit(uint64_t n);

/* ptx_module_kernel_count is the number of .entry kernels in the module. */
int ptx_module_kernel_count(const ptx_module *m);

/* ptx_opcode_known tells whether the interpreter implements an opcode form
 * with all its modifiers, e.g. "shfl.sync.bfly.b32" (1) or "add.sat.s32" (0). */
int ptx_opcode_known(const char *name);

#endif
