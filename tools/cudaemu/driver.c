/*
 * driver.c - cudaemu's CUDA driver: the entry points Ember resolves from
 * libcuda.so.1 (ember-cuda/shim.c), on emulated GPUs.
 *
 * Device pointers are host addresses. Every allocation (device memory,
 * pinned host memory, module globals) is in one table that copies and the
 * PTX interpreter check each access against; fresh device and pinned memory
 * is filled with 0xFF bytes, a NaN in every float format.
 *
 * Streams are lazy: cuLaunchKernel, the async copies and event records are
 * queued, and a stream's queue runs only when something waits for it
 * (cuStreamSynchronize, cuEventSynchronize, or a stream that waits on one of
 * its events runs). A missing cuStreamWaitEvent therefore reads stale data
 * instead of racing. Each stream has a virtual clock advanced by a fixed cost
 * per op, so event times are deterministic.
 *
 * A kernel fault is sticky: the context returns the fault from then on, as a
 * GPU context does. Stream capture follows CUDA's rules on the capturing
 * thread (no allocation or synchronisation there, no wait on an event
 * recorded outside the capture) and builds a linear graph that
 * cuGraphLaunch queues again.
 *
 * Configuration (read by cuInit): EMBER_EMU_GPUS (GPUs, default 2),
 * EMBER_EMU_MEM (bytes per GPU, K/M/G suffixes, default 4G), EMBER_EMU_SMS
 * (multiprocessors, default 8), EMBER_EMU_NOPEER (comma-separated GPUs
 * without peer access), EMBER_EMU_SCHEDULE=random with EMBER_EMU_SEED (thread
 * order between barriers), EMBER_EMU_STATS=1 (launch statistics on exit).
 */
#define _GNU_SOURCE
#include "api.h"
#include "ptx.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GPUS 8
#define MAX_PARAMS 64
#define STATIC_SHARED_LIMIT (48 << 10)

/* Virtual costs, in nanoseconds: roughly an Ampere GPU. */
#define COST_LAUNCH 2000.0
#define COST_PER_INSTR 0.0001 /* 10^13 thread-instructions per second */
#define COST_COPY 1000.0
#define BW_HOST 20.0 /* bytes per ns: PCIe */
#define BW_DEVICE 500.0
#define BW_PEER 25.0

/* ------------------------------------------------------------------------ */
/* lock, errors */

static pthread_mutex_t big = PTHREAD_MUTEX_INITIALIZER;
void emu_lock(void) { pthread_mutex_lock(&big); }
void emu_unlock(void) { pthread_mutex_unlock(&big); }

#define NCODES 1000
static char detail[NCODES][320];
static char fullmsg[NCODES][448];

CUresult emu_fail(CUresult code, const char *fmt, ...) {
	if (code > 0 && code < NCODES) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail[code], sizeof detail[code], fmt, ap);
		va_end(ap);
		if (getenv("EMBER_EMU_VERBOSE"))
			fprintf(stderr, "cudaemu: %s\n", detail[code]);
	}
	return code;
}

static const struct {
	int code;
	const char *name, *text;
} codes[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {217, "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED", "peer access is not supported between these two devices"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {401, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {704, "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED", "peer access is already enabled"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {902, "CUDA_ERROR_STREAM_CAPTURE_MERGE", "operation would result in a merge of separate capture sequences"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED", "capture was not ended in the same stream as it began"},
    {905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION", "dependency created on uncaptured work in another stream"},
    {907, "CUDA_ERROR_CAPTURED_EVENT", "operation not permitted on an event last recorded in a capturing stream"},
    {908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", "attempt to terminate a thread-local capture sequence from another thread"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

EMU_API CUresult cuGetErrorName(CUresult r, const char **s) {
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (codes[i].code == r) {
			*s = codes[i].name;
			return 0;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuGetErrorString(CUresult r, const char **s) {
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (codes[i].code == r) {
			emu_lock();
			if (r > 0 && r < NCODES && detail[r][0]) {
				snprintf(fullmsg[r], sizeof fullmsg[r], "%s; cudaemu: %s", codes[i].text, detail[r]);
				*s = fullmsg[r];
			} else {
				*s = codes[i].text;
			}
			emu_unlock();
			return 0;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

/* ------------------------------------------------------------------------ */
/* configuration, GPUs */

typedef struct gpu {
	uint64_t total, used;
	int nopeer;
	CUcontext primary;
	int refs;
} gpu;

static gpu gpus[MAX_GPUS];
static int ngpus, sms = 8, configured, initialised;
static int randomize;
static uint64_t seed = 1;
static int stats;
static uint64_t stat_launches, stat_instr, stat_gemms;

static uint64_t parse_size(const char *s, uint64_t def) {
	if (!s || !*s) return def;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	}
	return v ? v : def;
}

static void print_stats(void) {
	fprintf(stderr, "cudaemu: %llu kernel launches, %llu thread-instructions, %llu GEMMs\n",
	        (unsigned long long)stat_launches, (unsigned long long)stat_instr, (unsigned long long)stat_gemms);
}

void emu_config(void) {
	if (configured) return;
	configured = 1;
	const char *g = getenv("EMBER_EMU_GPUS");
	ngpus = g && *g ? atoi(g) : 2;
	if (ngpus < 0) ngpus = 0;
	if (ngpus > MAX_GPUS) ngpus = MAX_GPUS;
	uint64_t mem = parse_size(getenv("EMBER_EMU_MEM"), 4ull << 30);
	const char *s = getenv("EMBER_EMU_SMS");
	if (s && atoi(s) > 0) sms = atoi(s);
	for (int i = 0; i < ngpus; i++) gpus[i].total = mem;
	const char *np = getenv("EMBER_EMU_NOPEER");
	while (np && *np) {
		int d = atoi(np);
		if (d >= 0 && d < MAX_GPUS) gpus[d].nopeer = 1;
		np = strchr(np, ',');
		if (np) np++;
	}
	const char *sch = getenv("EMBER_EMU_SCHEDULE");
	randomize = sch && strcmp(sch, "random") == 0;
	const char *sd = getenv("EMBER_EMU_SEED");
	if (sd && *sd) seed = strtoull(sd, NULL, 10);
	const char *st = getenv("EMBER_EMU_STATS");
	if (st && *st && strcmp(st, "0") != 0) {
		stats = 1;
		atexit(print_stats);
	}
}

int emu_gpu_count(void) { return ngpus; }

int emu_gpu_peer_possible(int a, int b) {
	return a != b && a >= 0 && b >= 0 && a < ngpus && b < ngpus && !gpus[a].nopeer && !gpus[b].nopeer;
}

static void gpu_name(int i, char *name, size_t len) {
	snprintf(name, len, "cudaemu emulated GPU %d (sm_80)", i);
}

void emu_gpu_info(int i, char *name, size_t namelen, uint64_t *total, uint64_t *used) {
	gpu_name(i, name, namelen);
	*total = gpus[i].total;
	*used = gpus[i].used;
}

/* ------------------------------------------------------------------------ */
/* objects */

enum { MAGIC_CTX = 0x43545831, MAGIC_STREAM = 0x53545231, MAGIC_EVENT = 0x45564e31, MAGIC_MOD = 0x4d4f4431,
       MAGIC_FUNC = 0x46554e31, MAGIC_GRAPH = 0x47525031, MAGIC_EXEC = 0x45584531, MAGIC_DEAD = 0x44454144 };

enum { OP_KERNEL, OP_COPY, OP_MEMSET, OP_RECORD, OP_WAIT, OP_HOST };
enum { COPY_H2D, COPY_D2H, COPY_D2D, COPY_PEER };

typedef struct op {
	struct op *next;
	int kind;
	/* kernel */
	CUfunction fn;
	unsigned grid[3], block[3], shmem;
	int nparams;
	size_t psize[MAX_PARAMS], poff[MAX_PARAMS];
	unsigned char *blob; /* parameter bytes, or a pageable copy's snapshot */
	size_t blobsize;
	/* copy, memset */
	int copy;
	uint64_t dst, src, bytes;
	unsigned char value;
	/* record */
	CUevent ev;
	uint64_t seq;
	/* wait: the record at index windex of stream wstream */
	uint64_t wstream, windex;
	/* host */
	emu_host_fn host;
	void *arg;
	size_t argsize;
	double cost;
	CUresult code;
} op;

typedef struct capture {
	int id, mode;
	pthread_t thread;
	CUresult invalid; /* nonzero once an error invalidated it */
	op *head, *tail;
	struct capture *next;
} capture;

struct CUstream_st {
	uint32_t magic;
	uint64_t id;
	CUcontext ctx;
	unsigned flags;
	op *head, *tail;
	uint64_t enq, done; /* ops queued so far; ops run so far */
	double clock;
	capture *cap;
	/* recent event records: (index, time), for waits */
	uint64_t rec_index[64];
	double rec_time[64];
	struct CUstream_st *next;
};

struct CUevent_st {
	uint32_t magic;
	CUcontext ctx;
	unsigned flags;
	uint64_t seq;      /* records queued */
	uint64_t time_seq; /* the record whose time is held */
	double time;
	uint64_t rec_stream, rec_index; /* where the latest record is queued */
	int captured;                   /* id of the capture that recorded it last, 0 none */
	struct CUevent_st *next;
};

struct CUfunc_st {
	uint32_t magic;
	CUmodule mod;
	ptx_kernel *k;
	char name[128];
	struct CUfunc_st *next;
};

struct CUmod_st {
	uint32_t magic;
	CUcontext ctx;
	ptx_module *m;
	struct CUfunc_st *funcs;
	struct CUmod_st *next;
};

struct CUgraph_st {
	uint32_t magic;
	CUcontext ctx;
	op *head;
	int n;
};

struct CUgraphExec_st {
	uint32_t magic;
	CUcontext ctx;
	op *head;
	int n;
};

struct CUctx_st {
	uint32_t magic;
	int dev;
	CUresult sticky;
	int peer[MAX_GPUS]; /* may read/write that GPU's memory */
	struct CUstream_st *null_stream;
	struct CUstream_st *streams;
	struct CUevent_st *events;
	struct CUmod_st *mods;
};

static __thread CUcontext current;
static uint64_t next_stream_id = 1;
static int next_capture_id = 1;
static capture *captures;
static int live_graphs, live_execs;

CUcontext emu_current(void) { return current; }
int emu_ctx_device(CUcontext ctx) { return ctx->dev; }

/* ------------------------------------------------------------------------ */
/* the allocation table, sorted by base */

enum { A_DEVICE, A_HOST, A_GLOBAL };

typedef struct alloc {
	uint64_t base, size;
	int kind, dev;
	CUcontext owner;
} alloc;

static alloc *table;
static int ntable, captable;
static uint64_t table_gen;
/* the last hit: kernels touch few allocations, many times (under the lock) */
static uint64_t cache_gen;
static int cache_idx = -1;

/* find returns the index of the allocation containing addr, or -1. */
static int find(uint64_t addr) {
	if (cache_gen == table_gen && cache_idx >= 0 && cache_idx < ntable && addr >= table[cache_idx].base &&
	    addr - table[cache_idx].base < table[cache_idx].size)
		return cache_idx;
	int lo = 0, hi = ntable - 1, at = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (table[mid].base <= addr) {
			at = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	if (at >= 0 && addr - table[at].base < table[at].size) {
		cache_gen = table_gen;
		cache_idx = at;
		return at;
	}
	return -1;
}

/* nearest returns the index of the allocation that starts at or below addr. */
static int nearest(uint64_t addr) {
	int lo = 0, hi = ntable - 1, at = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (table[mid].base <= addr) {
			at = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return at;
}

static int table_add(uint64_t base, uint64_t size, int kind, int dev, CUcontext owner) {
	if (ntable == captable) {
		int c = captable ? 2 * captable : 256;
		alloc *t = realloc(table, (size_t)c * sizeof *t);
		if (!t) return -1;
		table = t;
		captable = c;
	}
	int i = ntable;
	while (i > 0 && table[i - 1].base > base) {
		table[i] = table[i - 1];
		i--;
	}
	table[i] = (alloc){base, size, kind, dev, owner};
	ntable++;
	table_gen++;
	return 0;
}

static void table_remove(int i) {
	memmove(&table[i], &table[i + 1], (size_t)(ntable - i - 1) * sizeof *table);
	ntable--;
	table_gen++;
}

static const char *kind_name(int k) {
	return k == A_DEVICE ? "device memory" : k == A_HOST ? "pinned host memory" : "a module global";
}

int emu_check_range(CUcontext ctx, uint64_t addr, uint64_t n, int write, char *msg, size_t msglen) {
	if (n == 0) return 0;
	const char *what = write ? "store to" : "load from";
	int i = find(addr);
	if (i < 0) {
		int j = nearest(addr);
		if (j >= 0 && addr - table[j].base < table[j].size + 4096)
			snprintf(msg, msglen, "%s 0x%llx (%llu bytes) is %llu bytes past the end of a %llu-byte allocation at 0x%llx",
			         what, (unsigned long long)addr, (unsigned long long)n,
			         (unsigned long long)(addr - table[j].base - table[j].size), (unsigned long long)table[j].size,
			         (unsigned long long)table[j].base);
		else
			snprintf(msg, msglen, "%s 0x%llx (%llu bytes) is outside every live allocation", what,
			         (unsigned long long)addr, (unsigned long long)n);
		return 1;
	}
	const alloc *a = &table[i];
	if (addr + n < addr || addr + n - a->base > a->size) {
		snprintf(msg, msglen, "%s 0x%llx (%llu bytes) runs %llu bytes past the end of a %llu-byte allocation at 0x%llx",
		         what, (unsigned long long)addr, (unsigned long long)n,
		         (unsigned long long)(addr + n - a->base - a->size), (unsigned long long)a->size,
		         (unsigned long long)a->base);
		return 1;
	}
	switch (a->kind) {
	case A_DEVICE:
		if (a->dev != ctx->dev && !ctx->peer[a->dev]) {
			snprintf(msg, msglen, "%s 0x%llx: it is GPU %d's memory and GPU %d has no peer access to it", what,
			         (unsigned long long)addr, a->dev, ctx->dev);
			return 1;
		}
		return 0;
	case A_HOST:
		return 0;
	default:
		if (a->owner != ctx) {
			snprintf(msg, msglen, "%s 0x%llx: a module global of another context", what, (unsigned long long)addr);
			return 1;
		}
		return 0;
	}
}

/* device_range checks that [p, p+n) is device memory (any GPU's: unified
 * addressing lets copies reach every GPU). dev, when not NULL, gets its GPU. */
static CUresult device_range(const char *call, const char *which, uint64_t p, uint64_t n, int *dev) {
	int i = find(p);
	if (i < 0 || table[i].kind == A_HOST)
		return emu_fail(CUDA_ERROR_INVALID_VALUE, "%s: %s 0x%llx is not device memory", call, which,
		                (unsigned long long)p);
	if (p + n - table[i].base > table[i].size)
		return emu_fail(CUDA_ERROR_INVALID_VALUE,
		                "%s: %s 0x%llx + %llu bytes runs past the end of its %llu-byte allocation", call, which,
		                (unsigned long long)p, (unsigned long long)n, (unsigned long long)table[i].size);
	if (dev) *dev = table[i].dev;
	return 0;
}

/* pinned_range: 1 when [p, p+n) is pinned host memory, 0 when it is
 * pageable, -1 when it overlaps pinned memory without lying inside it. */
static int pinned_range(uint64_t p, uint64_t n) {
	int i = find(p);
	if (i < 0 || table[i].kind != A_HOST) return 0;
	return p + n - table[i].base <= table[i].size ? 1 : -1;
}

/* ------------------------------------------------------------------------ */
/* execution */

static CUstream stream_by_id(uint64_t id);
static void run_until(CUstream s, uint64_t target);

static void free_op(op *o) {
	free(o->blob);
	free(o->arg);
	free(o);
}

static op *clone_op(const op *o) {
	op *c = malloc(sizeof *c);
	if (!c) return NULL;
	*c = *o;
	c->next = NULL;
	c->blob = NULL;
	c->arg = NULL;
	if (o->blob) {
		c->blob = malloc(o->blobsize);
		memcpy(c->blob, o->blob, o->blobsize);
	}
	if (o->arg) {
		c->arg = malloc(o->argsize);
		memcpy(c->arg, o->arg, o->argsize);
	}
	return c;
}

static void fault(CUcontext ctx, CUresult code, const char *msg) {
	if (!ctx->sticky) {
		ctx->sticky = code;
		emu_fail(code, "GPU %d: %s", ctx->dev, msg);
		fprintf(stderr, "cudaemu: GPU %d faulted: %s\n", ctx->dev, msg);
	}
}

static CUresult fault_code(const char *msg) {
	if (strstr(msg, "misaligned")) return CUDA_ERROR_MISALIGNED_ADDRESS;
	if (strstr(msg, "allocation") || strstr(msg, "bounds") || strstr(msg, "peer access") ||
	    strstr(msg, "out of range"))
		return CUDA_ERROR_ILLEGAL_ADDRESS;
	return CUDA_ERROR_LAUNCH_FAILED;
}

static int launch_check(void *c, uint64_t addr, uint64_t n, int write, char *msg, size_t msglen) {
	return emu_check_range((CUcontext)c, addr, n, write, msg, msglen);
}

static double exec_kernel(CUstream s, op *o) {
	CUcontext ctx = s->ctx;
	void *params[MAX_PARAMS];
	for (int i = 0; i < o->nparams; i++) params[i] = o->blob + o->poff[i];
	uint64_t instr = 0;
	ptx_env env = {launch_check, ctx, randomize, seed + stat_launches, &instr};
	char err[512] = "";
	int r = ptx_launch(o->fn->k, o->grid, o->block, o->shmem, params, &env, err, sizeof err);
	stat_launches++;
	stat_instr += instr;
	if (r) {
		char msg[700];
		snprintf(msg, sizeof msg, "kernel %s: %s", o->fn->name, err[0] ? err : "fault");
		fault(ctx, fault_code(err), msg);
	}
	return COST_LAUNCH + (double)instr * COST_PER_INSTR;
}

static void exec_op(CUstream s, op *o) {
	CUcontext ctx = s->ctx;
	double cost = 0;
	if (ctx->sticky && o->kind != OP_RECORD) return; /* a faulted context runs nothing */
	switch (o->kind) {
	case OP_KERNEL:
		cost = exec_kernel(s, o);
		break;
	case OP_COPY: {
		const void *src = o->blob ? (const void *)o->blob : (const void *)(uintptr_t)o->src;
		memmove((void *)(uintptr_t)o->dst, src, o->bytes);
		double bw = o->copy == COPY_D2D ? BW_DEVICE : o->copy == COPY_PEER ? BW_PEER : BW_HOST;
		cost = COST_COPY + (double)o->bytes / bw;
		break;
	}
	case OP_MEMSET:
		memset((void *)(uintptr_t)o->dst, o->value, o->bytes);
		cost = COST_COPY + (double)o->bytes / BW_DEVICE;
		break;
	case OP_RECORD: {
		CUevent e = o->ev;
		if (o->seq >= e->time_seq) {
			e->time_seq = o->seq;
			e->time = s->clock;
		}
		int slot = (int)(s->done % 64);
		s->rec_index[slot] = s->done;
		s->rec_time[slot] = s->clock;
		break;
	}
	case OP_WAIT: {
		CUstream w = stream_by_id(o->wstream);
		if (w && w != s) {
			run_until(w, o->windex + 1);
			double t = w->clock;
			int slot = (int)(o->windex % 64);
			if (w->rec_index[slot] == o->windex) t = w->rec_time[slot];
			if (t > s->clock) s->clock = t;
			if (w->ctx->sticky && !ctx->sticky) {
				char msg[128];
				snprintf(msg, sizeof msg, "waited on an event of GPU %d, which faulted", w->ctx->dev);
				fault(ctx, w->ctx->sticky, msg);
			}
		}
		break;
	}
	case OP_HOST: {
		char err[512] = "";
		if (o->host(ctx, o->arg, err, sizeof err)) fault(ctx, o->code, err);
		cost = o->cost;
		break;
	}
	}
	s->clock += cost;
}

/* run_until runs s's queued ops until target ops have run in all. */
static void run_until(CUstream s, uint64_t target) {
	while (s->done < target && s->head) {
		op *o = s->head;
		s->head = o->next;
		if (!s->head) s->tail = NULL;
		exec_op(s, o);
		s->done++;
		free_op(o);
	}
}

static void run_all(CUstream s) { run_until(s, s->enq); }

static void drain_ctx(CUcontext c) {
	if (!c) return;
	for (CUstream s = c->streams; s; s = s->next) run_all(s);
	run_all(c->null_stream);
}

static void drain_everything(void) {
	for (int i = 0; i < ngpus; i++) drain_ctx(gpus[i].primary);
}

static CUstream stream_by_id(uint64_t id) {
	for (int i = 0; i < ngpus; i++) {
		CUcontext c = gpus[i].primary;
		if (!c) continue;
		if (c->null_stream->id == id) return c->null_stream;
		for (CUstream s = c->streams; s; s = s->next)
			if (s->id == id) return s;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* capture rules */

/* thread_capture returns a capture that forbids unsafe calls on this thread. */
static capture *thread_capture(void) {
	for (capture *c = captures; c; c = c->next) {
		if (c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL) return c;
		if (c->mode == CU_STREAM_CAPTURE_MODE_THREAD_LOCAL && pthread_equal(c->thread, pthread_self())) return c;
	}
	return NULL;
}

static CUresult invalidate(capture *c, CUresult code) {
	if (!c->invalid) c->invalid = code;
	return code;
}

/* unsafe is called by allocation and synchronisation: it fails on a thread
 * whose capture forbids them, and invalidates that capture. */
static CUresult unsafe(const char *call) {
	capture *c = thread_capture();
	if (!c) return 0;
	invalidate(c, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	return emu_fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "%s while this thread captures a stream", call);
}

/* ------------------------------------------------------------------------ */
/* enqueueing */

#define NEED_INIT()                                                 \
	do {                                                            \
		if (!initialised) {                                         \
			emu_unlock();                                           \
			return emu_fail(CUDA_ERROR_NOT_INITIALIZED, "cuInit has not been called"); \
		}                                                           \
	} while (0)

#define NEED_CTX()                                                  \
	do {                                                            \
		NEED_INIT();                                                \
		if (!current) {                                             \
			emu_unlock();                                           \
			return emu_fail(CUDA_ERROR_INVALID_CONTEXT, "no current context"); \
		}                                                           \
	} while (0)

#define RETURN(x)           \
	do {                    \
		CUresult r_ = (x);  \
		emu_unlock();       \
		return r_;          \
	} while (0)

/* resolve_stream turns a stream handle into a stream of the current
 * context (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD: the default one). */
static CUresult resolve_stream(CUstream h, CUstream *out) {
	if (h == NULL || (uintptr_t)h == 1 || (uintptr_t)h == 2) {
		*out = current->null_stream;
		return 0;
	}
	if (h->magic != MAGIC_STREAM) return emu_fail(CUDA_ERROR_INVALID_HANDLE, "not a live stream");
	if (h->ctx != current)
		return emu_fail(CUDA_ERROR_INVALID_HANDLE, "a stream of GPU %d used in GPU %d's context", h->ctx->dev,
		                current->dev);
	*out = h;
	return 0;
}

CUresult emu_stream_check(CUcontext ctx, CUstream s) {
	if (s == NULL) return 0;
	if (s->magic != MAGIC_STREAM) return emu_fail(CUDA_ERROR_INVALID_HANDLE, "not a live stream");
	if (s->ctx != ctx) return emu_fail(CUDA_ERROR_INVALID_HANDLE, "a stream of another context");
	return 0;
}

/* enqueue takes o: into s's capture, or onto its queue. The default stream
 * runs at once (it synchronises with every other stream of the context). */
static CUresult enqueue(CUstream s, op *o) {
	if (s->ctx->sticky) {
		free_op(o);
		return s->ctx->sticky;
	}
	if (s->cap) {
		if (s->cap->invalid) {
			free_op(o);
			return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		}
		if (s->cap->tail) s->cap->tail->next = o;
		else s->cap->head = o;
		s->cap->tail = o;
		return 0;
	}
	o->next = NULL;
	if (s->tail) s->tail->next = o;
	else s->head = o;
	s->tail = o;
	s->enq++;
	if (s == s->ctx->null_stream) {
		for (CUstream t = s->ctx->streams; t; t = t->next)
			if (!(t->flags & CU_STREAM_NON_BLOCKING)) run_all(t);
		run_all(s);
		return s->ctx->sticky;
	}
	return 0;
}

static op *new_op(int kind) {
	op *o = calloc(1, sizeof *o);
	if (o) o->kind = kind;
	return o;
}

CUresult emu_enqueue_host(CUcontext ctx, CUstream h, emu_host_fn run, const void *arg, size_t argsize,
                          double cost_ns, CUresult code) {
	CUstream s = h ? h : ctx->null_stream;
	op *o = new_op(OP_HOST);
	if (!o || !(o->arg = malloc(argsize))) {
		free(o);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memcpy(o->arg, arg, argsize);
	o->argsize = argsize;
	o->host = run;
	o->cost = cost_ns;
	o->code = code;
	stat_gemms++;
	return enqueue(s, o);
}

/* ------------------------------------------------------------------------ */
/* init, devices */

EMU_API CUresult cuInit(unsigned flags) {
	emu_lock();
	if (flags != 0) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuInit: flags must be 0"));
	emu_config();
	if (ngpus == 0) RETURN(emu_fail(CUDA_ERROR_NO_DEVICE, "EMBER_EMU_GPUS=0"));
	initialised = 1;
	RETURN(0);
}

EMU_API CUresult cuDriverGetVersion(int *v) {
	if (!v) return CUDA_ERROR_INVALID_VALUE;
	*v = 12040;
	return 0;
}

EMU_API CUresult cuDeviceGetCount(int *n) {
	emu_lock();
	NEED_INIT();
	*n = ngpus;
	RETURN(0);
}

static CUresult check_dev(CUdevice d) {
	if (!initialised) return emu_fail(CUDA_ERROR_NOT_INITIALIZED, "cuInit has not been called");
	if (d < 0 || d >= ngpus)
		return emu_fail(CUDA_ERROR_INVALID_DEVICE, "GPU %d does not exist (%d emulated)", d, ngpus);
	return 0;
}

EMU_API CUresult cuDeviceGet(CUdevice *d, int ordinal) {
	emu_lock();
	CUresult r = check_dev(ordinal);
	if (!r) *d = ordinal;
	RETURN(r);
}

EMU_API CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
	emu_lock();
	CUresult r = check_dev(d);
	if (!r) {
		if (!name || len <= 0) RETURN(CUDA_ERROR_INVALID_VALUE);
		gpu_name(d, name, (size_t)len);
	}
	RETURN(r);
}

EMU_API CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	emu_lock();
	CUresult r = check_dev(d);
	if (r) RETURN(r);
	int x;
	switch (attr) {
	case 1: x = 1024; break;                /* MAX_THREADS_PER_BLOCK */
	case 2: case 3: x = attr == 2 ? 1024 : 1024; break; /* MAX_BLOCK_DIM_X, Y */
	case 4: x = 64; break;                  /* MAX_BLOCK_DIM_Z */
	case 5: x = 2147483647; break;          /* MAX_GRID_DIM_X */
	case 6: case 7: x = 65535; break;       /* MAX_GRID_DIM_Y, Z */
	case 8: x = STATIC_SHARED_LIMIT; break; /* MAX_SHARED_MEMORY_PER_BLOCK */
	case 9: x = 65536; break;               /* TOTAL_CONSTANT_MEMORY */
	case 10: x = 32; break;                 /* WARP_SIZE */
	case 12: x = 65536; break;              /* MAX_REGISTERS_PER_BLOCK */
	case 13: x = 1410000; break;            /* CLOCK_RATE (kHz) */
	case 16: x = sms; break;                /* MULTIPROCESSOR_COUNT */
	case 36: x = 1215000; break;            /* MEMORY_CLOCK_RATE */
	case 37: x = 5120; break;               /* GLOBAL_MEMORY_BUS_WIDTH */
	case 38: x = 40 << 20; break;           /* L2_CACHE_SIZE */
	case 39: x = 2048; break;               /* MAX_THREADS_PER_MULTIPROCESSOR */
	case 41: x = 1; break;                  /* UNIFIED_ADDRESSING */
	case 75: x = 8; break;                  /* COMPUTE_CAPABILITY_MAJOR */
	case 76: x = 0; break;                  /* COMPUTE_CAPABILITY_MINOR */
	case 81: x = 167936; break;             /* MAX_SHARED_MEMORY_PER_MULTIPROCESSOR */
	case 82: x = 65536; break;              /* MAX_REGISTERS_PER_MULTIPROCESSOR */
	case 97: x = 166912; break;             /* MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */
	default:
		RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetAttribute: attribute %d is not emulated", attr));
	}
	*v = x;
	RETURN(0);
}

EMU_API CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) {
	emu_lock();
	CUresult r = check_dev(d);
	if (!r) *bytes = gpus[d].total;
	RETURN(r);
}

EMU_API CUresult cuDeviceCanAccessPeer(int *can, CUdevice d, CUdevice peer) {
	emu_lock();
	CUresult r = check_dev(d);
	if (!r) r = check_dev(peer);
	if (!r) *can = emu_gpu_peer_possible(d, peer);
	RETURN(r);
}

/* ------------------------------------------------------------------------ */
/* contexts */

static CUstream make_stream(CUcontext c, unsigned flags) {
	CUstream s = calloc(1, sizeof *s);
	if (!s) return NULL;
	s->magic = MAGIC_STREAM;
	s->id = next_stream_id++;
	s->ctx = c;
	s->flags = flags;
	for (int i = 0; i < 64; i++) s->rec_index[i] = UINT64_MAX;
	return s;
}

static void free_stream(CUstream s) {
	for (op *o = s->head, *n; o; o = n) {
		n = o->next;
		free_op(o);
	}
	s->magic = MAGIC_DEAD;
	free(s);
}

static void unload_module(CUmodule m);
static void free_alloc_at(int i);

static void destroy_ctx(CUcontext c) {
	/* pending work is discarded, as when a context is destroyed */
	for (CUstream s = c->streams, n; s; s = n) {
		n = s->next;
		if (s->cap) {
			for (capture **p = &captures; *p; p = &(*p)->next)
				if (*p == s->cap) {
					*p = s->cap->next;
					break;
				}
			for (op *o = s->cap->head, *m; o; o = m) {
				m = o->next;
				free_op(o);
			}
			free(s->cap);
		}
		free_stream(s);
	}
	free_stream(c->null_stream);
	for (CUevent e = c->events, n; e; e = n) {
		n = e->next;
		e->magic = MAGIC_DEAD;
		free(e);
	}
	for (CUmodule m = c->mods, n; m; m = n) {
		n = m->next;
		unload_module(m);
	}
	for (int i = ntable - 1; i >= 0; i--)
		if (table[i].owner == c) free_alloc_at(i);
	for (int i = 0; i < ngpus; i++)
		if (gpus[i].primary && gpus[i].primary != c) gpus[i].primary->peer[c->dev] = 0;
	if (current == c) current = NULL;
	c->magic = MAGIC_DEAD;
	free(c);
}

EMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d) {
	emu_lock();
	CUresult r = check_dev(d);
	if (r) RETURN(r);
	gpu *g = &gpus[d];
	if (!g->primary) {
		CUcontext c = calloc(1, sizeof *c);
		if (!c) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
		c->magic = MAGIC_CTX;
		c->dev = d;
		c->null_stream = make_stream(c, 0);
		g->primary = c;
		g->refs = 0;
	}
	g->refs++;
	*ctx = g->primary;
	RETURN(0);
}

EMU_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
	emu_lock();
	CUresult r = check_dev(d);
	if (r) RETURN(r);
	gpu *g = &gpus[d];
	if (!g->primary || g->refs == 0)
		RETURN(emu_fail(CUDA_ERROR_INVALID_CONTEXT, "GPU %d's primary context is not retained", d));
	if (--g->refs == 0) {
		destroy_ctx(g->primary);
		g->primary = NULL;
	}
	RETURN(0);
}

EMU_API CUresult cuCtxSetCurrent(CUcontext c) {
	emu_lock();
	NEED_INIT();
	if (c && c->magic != MAGIC_CTX) RETURN(emu_fail(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: not a live context"));
	current = c;
	RETURN(0);
}

EMU_API CUresult cuCtxEnablePeerAccess(CUcontext peer, unsigned flags) {
	emu_lock();
	NEED_CTX();
	if (flags) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuCtxEnablePeerAccess: flags must be 0"));
	if (!peer || peer->magic != MAGIC_CTX) RETURN(emu_fail(CUDA_ERROR_INVALID_CONTEXT, "cuCtxEnablePeerAccess: not a live context"));
	if (peer->dev == current->dev)
		RETURN(emu_fail(CUDA_ERROR_INVALID_DEVICE, "cuCtxEnablePeerAccess: GPU %d to itself", peer->dev));
	if (!emu_gpu_peer_possible(current->dev, peer->dev))
		RETURN(emu_fail(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED, "GPU %d cannot access GPU %d", current->dev, peer->dev));
	if (current->peer[peer->dev]) RETURN(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED);
	current->peer[peer->dev] = 1;
	RETURN(0);
}

/* ------------------------------------------------------------------------ */
/* memory */

static void free_alloc_at(int i) {
	alloc a = table[i];
	table_remove(i);
	if (a.kind == A_GLOBAL) return; /* the interpreter owns module globals */
	if (a.kind == A_DEVICE) gpus[a.dev].used -= a.size;
	free((void *)(uintptr_t)a.base);
}

static uint64_t round_up(uint64_t n) { return (n + 255) & ~(uint64_t)255; }

EMU_API CUresult cuMemGetInfo_v2(size_t *free_, size_t *total) {
	emu_lock();
	NEED_CTX();
	gpu *g = &gpus[current->dev];
	*free_ = g->total - g->used;
	*total = g->total;
	RETURN(0);
}

static CUresult mem_alloc(void **p, size_t bytes, int kind) {
	if (bytes == 0) return emu_fail(CUDA_ERROR_INVALID_VALUE, "an allocation of 0 bytes");
	uint64_t n = round_up(bytes);
	gpu *g = &gpus[current->dev];
	if (kind == A_DEVICE && n > g->total - g->used)
		return emu_fail(CUDA_ERROR_OUT_OF_MEMORY, "GPU %d: %zu bytes asked, %llu free", current->dev, bytes,
		                (unsigned long long)(g->total - g->used));
	void *m = aligned_alloc(256, n);
	if (!m) return emu_fail(CUDA_ERROR_OUT_OF_MEMORY, "the host has no %llu bytes", (unsigned long long)n);
	memset(m, 0xFF, n);
	if (table_add((uint64_t)(uintptr_t)m, bytes, kind, current->dev, current)) {
		free(m);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (kind == A_DEVICE) g->used += bytes;
	*p = m;
	return 0;
}

EMU_API CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
	emu_lock();
	NEED_CTX();
	CUresult r = unsafe("cuMemAlloc");
	if (r) RETURN(r);
	if (current->sticky) RETURN(current->sticky);
	void *m = NULL;
	r = mem_alloc(&m, bytes, A_DEVICE);
	if (!r) *p = (CUdeviceptr)(uintptr_t)m;
	RETURN(r);
}

static CUresult mem_free(const char *call, uint64_t p, int kind) {
	CUresult r = unsafe(call);
	if (r) return r;
	int i = find(p);
	if (i < 0 || table[i].base != p || table[i].kind != kind)
		return emu_fail(CUDA_ERROR_INVALID_VALUE, "%s: 0x%llx is not the start of live %s", call,
		                (unsigned long long)p, kind_name(kind));
	drain_everything(); /* freeing waits for the work that may use the memory */
	i = find(p);
	free_alloc_at(i);
	return current->sticky;
}

EMU_API CUresult cuMemFree_v2(CUdeviceptr p) {
	emu_lock();
	NEED_CTX();
	RETURN(mem_free("cuMemFree", p, A_DEVICE));
}

EMU_API CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned flags) {
	emu_lock();
	NEED_CTX();
	CUresult r = unsafe("cuMemHostAlloc");
	if (r) RETURN(r);
	if (flags & ~0xFu) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuMemHostAlloc: flags %#x", flags));
	RETURN(mem_alloc(p, bytes, A_HOST));
}

EMU_API CUresult cuMemFreeHost(void *p) {
	emu_lock();
	NEED_CTX();
	RETURN(mem_free("cuMemFreeHost", (uint64_t)(uintptr_t)p, A_HOST));
}

/* copy_op queues a copy; a pageable source is read now, and a pageable
 * destination makes the call wait for the copy, as CUDA does. */
static CUresult copy_op(const char *call, int kind, uint64_t dst, uint64_t src, size_t n, CUstream h) {
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) return r;
	if (s->ctx->sticky) return s->ctx->sticky;
	if (n == 0) return 0;
	int pageable_src = 0, pageable_dst = 0;
	if (kind == COPY_H2D) {
		if ((r = device_range(call, "dst", dst, n, NULL))) return r;
		int pr = pinned_range(src, n);
		if (pr < 0) return emu_fail(CUDA_ERROR_INVALID_VALUE, "%s: src runs past its pinned allocation", call);
		pageable_src = pr == 0;
	} else if (kind == COPY_D2H) {
		if ((r = device_range(call, "src", src, n, NULL))) return r;
		int pr = pinned_range(dst, n);
		if (pr < 0) return emu_fail(CUDA_ERROR_INVALID_VALUE, "%s: dst runs past its pinned allocation", call);
		pageable_dst = pr == 0;
	} else {
		if ((r = device_range(call, "dst", dst, n, NULL)) || (r = device_range(call, "src", src, n, NULL))) return r;
	}
	if ((pageable_src || pageable_dst) && s->cap) {
		invalidate(s->cap, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
		return emu_fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "%s with pageable host memory in a capture", call);
	}
	op *o = new_op(OP_COPY);
	if (!o) return CUDA_ERROR_OUT_OF_MEMORY;
	o->copy = kind;
	o->dst = dst;
	o->src = src;
	o->bytes = n;
	if (pageable_src) {
		o->blob = malloc(n);
		if (!o->blob) {
			free(o);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		memcpy(o->blob, (const void *)(uintptr_t)src, n);
		o->blobsize = n;
	}
	if ((r = enqueue(s, o))) return r;
	if (pageable_dst) {
		run_all(s);
		return s->ctx->sticky;
	}
	return 0;
}

EMU_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
	emu_lock();
	NEED_CTX();
	RETURN(copy_op("cuMemcpyHtoDAsync", COPY_H2D, dst, (uint64_t)(uintptr_t)src, n, s));
}

EMU_API CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
	emu_lock();
	NEED_CTX();
	RETURN(copy_op("cuMemcpyDtoHAsync", COPY_D2H, (uint64_t)(uintptr_t)dst, src, n, s));
}

EMU_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
	emu_lock();
	NEED_CTX();
	RETURN(copy_op("cuMemcpyDtoDAsync", COPY_D2D, dst, src, n, s));
}

EMU_API CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n,
                                   CUstream s) {
	emu_lock();
	NEED_CTX();
	if (!dctx || dctx->magic != MAGIC_CTX || !sctx || sctx->magic != MAGIC_CTX)
		RETURN(emu_fail(CUDA_ERROR_INVALID_CONTEXT, "cuMemcpyPeerAsync: not a live context"));
	int dd = -1, sd = -1;
	CUresult r;
	if (n && ((r = device_range("cuMemcpyPeerAsync", "dst", dst, n, &dd)) ||
	          (r = device_range("cuMemcpyPeerAsync", "src", src, n, &sd))))
		RETURN(r);
	if (n && (dd != dctx->dev || sd != sctx->dev))
		RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE,
		                "cuMemcpyPeerAsync: dst is GPU %d's memory and src GPU %d's, but the contexts are GPU %d's and %d's",
		                dd, sd, dctx->dev, sctx->dev));
	RETURN(copy_op("cuMemcpyPeerAsync", COPY_PEER, dst, src, n, s));
}

EMU_API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream h) {
	emu_lock();
	NEED_CTX();
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	if (n == 0) RETURN(s->ctx->sticky);
	if ((r = device_range("cuMemsetD8Async", "dst", dst, n, NULL))) RETURN(r);
	op *o = new_op(OP_MEMSET);
	if (!o) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	o->dst = dst;
	o->bytes = n;
	o->value = v;
	RETURN(enqueue(s, o));
}

/* ------------------------------------------------------------------------ */
/* streams */

EMU_API CUresult cuStreamCreate(CUstream *out, unsigned flags) {
	emu_lock();
	NEED_CTX();
	if (flags & ~1u) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuStreamCreate: flags %#x", flags));
	CUstream s = make_stream(current, flags);
	if (!s) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	s->next = current->streams;
	current->streams = s;
	*out = s;
	RETURN(0);
}

static void end_capture(CUstream s) {
	for (capture **p = &captures; *p; p = &(*p)->next)
		if (*p == s->cap) {
			*p = s->cap->next;
			break;
		}
	s->cap = NULL;
}

EMU_API CUresult cuStreamDestroy_v2(CUstream s) {
	emu_lock();
	NEED_CTX();
	if (!s || s->magic != MAGIC_STREAM) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy: not a live stream"));
	if (s->cap) {
		capture *c = s->cap;
		end_capture(s);
		for (op *o = c->head, *n; o; o = n) {
			n = o->next;
			free_op(o);
		}
		free(c);
	}
	run_all(s); /* work queued before the destroy still completes */
	CUcontext c = s->ctx;
	for (CUstream *p = &c->streams; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	free_stream(s);
	RETURN(0);
}

EMU_API CUresult cuStreamSynchronize(CUstream h) {
	emu_lock();
	NEED_CTX();
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	if (s->cap) {
		invalidate(s->cap, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
		RETURN(emu_fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize on a capturing stream"));
	}
	if ((r = unsafe("cuStreamSynchronize"))) RETURN(r);
	run_all(s);
	RETURN(s->ctx->sticky);
}

EMU_API CUresult cuStreamWaitEvent(CUstream h, CUevent e, unsigned flags) {
	emu_lock();
	NEED_CTX();
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	if (!e || e->magic != MAGIC_EVENT) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamWaitEvent: not a live event"));
	if (flags & ~1u) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuStreamWaitEvent: flags %#x", flags));
	if (s->ctx->sticky) RETURN(s->ctx->sticky);
	if (s->cap) {
		if (s->cap->invalid) RETURN(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
		if (e->captured == s->cap->id) RETURN(0); /* ordered already: the graph is one chain */
		if (e->captured > 0) {
			invalidate(s->cap, CUDA_ERROR_STREAM_CAPTURE_MERGE);
			RETURN(emu_fail(CUDA_ERROR_STREAM_CAPTURE_MERGE, "cuStreamWaitEvent on an event of another capture"));
		}
		if (e->seq == 0) RETURN(0); /* never recorded: nothing to wait for */
		invalidate(s->cap, CUDA_ERROR_STREAM_CAPTURE_ISOLATION);
		RETURN(emu_fail(CUDA_ERROR_STREAM_CAPTURE_ISOLATION,
		                "a capturing stream waits on an event recorded outside the capture"));
	}
	if (e->captured) {
		int live = 0;
		for (capture *c = captures; c; c = c->next) live |= c->id == e->captured;
		if (live)
			RETURN(emu_fail(CUDA_ERROR_NOT_SUPPORTED,
			                "cuStreamWaitEvent joins a stream to a capture, which cudaemu does not emulate"));
		RETURN(emu_fail(CUDA_ERROR_CAPTURED_EVENT, "cuStreamWaitEvent on an event last recorded in a capture"));
	}
	if (e->seq == 0 || e->rec_stream == s->id) RETURN(0);
	op *o = new_op(OP_WAIT);
	if (!o) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	o->wstream = e->rec_stream;
	o->windex = e->rec_index;
	RETURN(enqueue(s, o));
}

/* ------------------------------------------------------------------------ */
/* events */

EMU_API CUresult cuEventCreate(CUevent *out, unsigned flags) {
	emu_lock();
	NEED_CTX();
	if (flags & ~0x7u) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuEventCreate: flags %#x", flags));
	CUevent e = calloc(1, sizeof *e);
	if (!e) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	e->magic = MAGIC_EVENT;
	e->ctx = current;
	e->flags = flags;
	e->next = current->events;
	current->events = e;
	*out = e;
	RETURN(0);
}

EMU_API CUresult cuEventDestroy_v2(CUevent e) {
	emu_lock();
	NEED_CTX();
	if (!e || e->magic != MAGIC_EVENT) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventDestroy: not a live event"));
	/* queued records still name it: they run first */
	for (CUstream s = e->ctx->streams;; s = s->next) {
		CUstream t = s ? s : e->ctx->null_stream;
		uint64_t idx = t->done, last = 0;
		int found = 0;
		for (op *o = t->head; o; o = o->next, idx++)
			if (o->kind == OP_RECORD && o->ev == e) last = idx, found = 1;
		if (found) run_until(t, last + 1);
		if (!s) break;
	}
	for (CUevent *p = &e->ctx->events; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	e->magic = MAGIC_DEAD;
	free(e);
	RETURN(0);
}

static CUresult record(CUstream s, CUevent e, int external) {
	if (s->ctx->sticky) return s->ctx->sticky;
	if (e->ctx != s->ctx)
		return emu_fail(CUDA_ERROR_INVALID_HANDLE, "an event of GPU %d recorded on a stream of GPU %d", e->ctx->dev,
		                s->ctx->dev);
	if (s->cap) {
		if (s->cap->invalid) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		if (!external) {
			e->captured = s->cap->id; /* a capture-internal ordering point, not a node */
			return 0;
		}
		op *o = new_op(OP_RECORD);
		if (!o) return CUDA_ERROR_OUT_OF_MEMORY;
		o->ev = e;
		return enqueue(s, o);
	}
	if (external) return emu_fail(CUDA_ERROR_INVALID_VALUE, "CU_EVENT_RECORD_EXTERNAL outside a stream capture");
	op *o = new_op(OP_RECORD);
	if (!o) return CUDA_ERROR_OUT_OF_MEMORY;
	o->ev = e;
	o->seq = ++e->seq;
	e->rec_stream = s->id;
	e->rec_index = s->enq;
	e->captured = 0;
	return enqueue(s, o);
}

EMU_API CUresult cuEventRecord(CUevent e, CUstream h) {
	emu_lock();
	NEED_CTX();
	if (!e || e->magic != MAGIC_EVENT) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: not a live event"));
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	RETURN(record(s, e, 0));
}

EMU_API CUresult cuEventRecordWithFlags(CUevent e, CUstream h, unsigned flags) {
	emu_lock();
	NEED_CTX();
	if (!e || e->magic != MAGIC_EVENT) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventRecordWithFlags: not a live event"));
	if (flags & ~1u) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuEventRecordWithFlags: flags %#x", flags));
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	RETURN(record(s, e, flags & CU_EVENT_RECORD_EXTERNAL));
}

EMU_API CUresult cuEventSynchronize(CUevent e) {
	emu_lock();
	NEED_CTX();
	if (!e || e->magic != MAGIC_EVENT) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventSynchronize: not a live event"));
	if (e->captured) RETURN(emu_fail(CUDA_ERROR_CAPTURED_EVENT, "cuEventSynchronize on an event last recorded in a capture"));
	CUresult r = unsafe("cuEventSynchronize");
	if (r) RETURN(r);
	if (e->seq == 0) RETURN(0);
	CUstream s = stream_by_id(e->rec_stream);
	if (s) run_until(s, e->rec_index + 1);
	RETURN(e->ctx->sticky);
}

EMU_API CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) {
	emu_lock();
	NEED_CTX();
	if (!a || a->magic != MAGIC_EVENT || !b || b->magic != MAGIC_EVENT)
		RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: not a live event"));
	if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING)
		RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime on an event without timing"));
	if (a->captured || b->captured)
		RETURN(emu_fail(CUDA_ERROR_CAPTURED_EVENT, "cuEventElapsedTime on an event last recorded in a capture"));
	if (a->seq == 0 || b->seq == 0)
		RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime on an event never recorded"));
	if (a->time_seq != a->seq || b->time_seq != b->seq)
		RETURN(emu_fail(CUDA_ERROR_NOT_READY, "cuEventElapsedTime: an event's latest record has not run"));
	*ms = (float)((b->time - a->time) / 1e6);
	RETURN(0);
}

/* ------------------------------------------------------------------------ */
/* modules, launches */

static void unload_module(CUmodule m) {
	for (int i = ntable - 1; i >= 0; i--)
		if (table[i].kind == A_GLOBAL && table[i].owner == m->ctx) {
			/* globals of this module: compare against its list */
			int n = ptx_global_count(m->m);
			for (int j = 0; j < n; j++) {
				const char *name;
				void *addr;
				size_t size;
				if (ptx_global_at(m->m, j, &name, &addr, &size) == 0 && (uint64_t)(uintptr_t)addr == table[i].base) {
					table_remove(i);
					break;
				}
			}
		}
	for (struct CUfunc_st *f = m->funcs, *n; f; f = n) {
		n = f->next;
		f->magic = MAGIC_DEAD;
		free(f);
	}
	ptx_unload(m->m);
	m->magic = MAGIC_DEAD;
	free(m);
}

EMU_API CUresult cuModuleLoadData(CUmodule *out, const void *image) {
	emu_lock();
	NEED_CTX();
	if (!image) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuModuleLoadData: no image"));
	if (current->sticky) RETURN(current->sticky);
	const unsigned char *b = image;
	if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F')
		RETURN(emu_fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: cudaemu runs PTX text, not cubin"));
	/* A fatbin (magic 0xBA55ED50, little-endian) holds SASS for real GPUs,
	 * none of which the emulator is: as a driver does for a GPU the fatbin
	 * has no code for, say so, and the caller loads PTX instead. */
	if (b[0] == 0x50 && b[1] == 0xED && b[2] == 0x55 && b[3] == 0xBA)
		RETURN(emu_fail(CUDA_ERROR_NO_BINARY_FOR_GPU, "cuModuleLoadData: cudaemu runs PTX text; a fatbin's SASS is for real GPUs"));
	char err[512] = "";
	ptx_module *pm = ptx_load((const char *)image, err, sizeof err);
	if (!pm) RETURN(emu_fail(CUDA_ERROR_INVALID_PTX, "%s", err[0] ? err : "the PTX did not load"));
	CUmodule m = calloc(1, sizeof *m);
	if (!m) {
		ptx_unload(pm);
		RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	}
	m->magic = MAGIC_MOD;
	m->ctx = current;
	m->m = pm;
	int n = ptx_global_count(pm);
	for (int i = 0; i < n; i++) {
		const char *name;
		void *addr;
		size_t size;
		if (ptx_global_at(pm, i, &name, &addr, &size) == 0 && size > 0)
			table_add((uint64_t)(uintptr_t)addr, size, A_GLOBAL, current->dev, current);
	}
	m->next = current->mods;
	current->mods = m;
	*out = m;
	RETURN(0);
}

EMU_API CUresult cuModuleUnload(CUmodule m) {
	emu_lock();
	NEED_CTX();
	if (!m || m->magic != MAGIC_MOD) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleUnload: not a live module"));
	drain_ctx(m->ctx); /* queued launches of its kernels run first */
	for (CUmodule *p = &m->ctx->mods; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	unload_module(m);
	RETURN(0);
}

EMU_API CUresult cuModuleGetFunction(CUfunction *out, CUmodule m, const char *name) {
	emu_lock();
	NEED_CTX();
	if (!m || m->magic != MAGIC_MOD) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleGetFunction: not a live module"));
	for (struct CUfunc_st *f = m->funcs; f; f = f->next)
		if (strcmp(f->name, name) == 0) {
			*out = f;
			RETURN(0);
		}
	ptx_kernel *k = ptx_kernel_find(m->m, name);
	if (!k) RETURN(emu_fail(CUDA_ERROR_NOT_FOUND, "the module has no kernel %s", name));
	if (strlen(name) >= sizeof m->funcs->name)
		RETURN(emu_fail(CUDA_ERROR_NOT_SUPPORTED, "kernel name %s is too long for cudaemu", name));
	struct CUfunc_st *f = calloc(1, sizeof *f);
	if (!f) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	f->magic = MAGIC_FUNC;
	f->mod = m;
	f->k = k;
	strcpy(f->name, name);
	f->next = m->funcs;
	m->funcs = f;
	*out = f;
	RETURN(0);
}

EMU_API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                unsigned bz, unsigned shmem, CUstream h, void **params, void **extra) {
	emu_lock();
	NEED_CTX();
	if (!f || f->magic != MAGIC_FUNC) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: not a live function"));
	if (f->mod->ctx != current)
		RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: %s is loaded in GPU %d's context, not GPU %d's",
		                f->name, f->mod->ctx->dev, current->dev));
	if (extra) RETURN(emu_fail(CUDA_ERROR_NOT_SUPPORTED, "cuLaunchKernel: extra parameters are not emulated"));
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	if (!gx || !gy || !gz || !bx || !by || !bz || gy > 65535 || gz > 65535 || gx > 2147483647u || bx > 1024 ||
	    by > 1024 || bz > 64 || (uint64_t)bx * by * bz > 1024)
		RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel %s: grid (%u,%u,%u) block (%u,%u,%u)", f->name, gx,
		                gy, gz, bx, by, bz));
	size_t stat = ptx_kernel_static_shared(f->k);
	if (stat + shmem > STATIC_SHARED_LIMIT)
		RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE,
		                "cuLaunchKernel %s: %zu bytes of static and %u of dynamic shared memory exceed 48 KiB", f->name,
		                stat, shmem));
	int np = ptx_kernel_nparams(f->k);
	if (np > MAX_PARAMS) RETURN(emu_fail(CUDA_ERROR_NOT_SUPPORTED, "cuLaunchKernel %s: %d parameters", f->name, np));
	if (np > 0 && !params) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel %s: no kernelParams", f->name));
	op *o = new_op(OP_KERNEL);
	if (!o) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	size_t total = 0;
	for (int i = 0; i < np; i++) {
		size_t sz = ptx_kernel_param_size(f->k, i);
		total = (total + 7) & ~(size_t)7;
		o->poff[i] = total;
		o->psize[i] = sz;
		total += sz;
	}
	o->blob = malloc(total ? total : 1);
	if (!o->blob) {
		free(o);
		RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	}
	o->blobsize = total ? total : 1;
	for (int i = 0; i < np; i++) memcpy(o->blob + o->poff[i], params[i], o->psize[i]);
	o->nparams = np;
	o->fn = f;
	o->grid[0] = gx, o->grid[1] = gy, o->grid[2] = gz;
	o->block[0] = bx, o->block[1] = by, o->block[2] = bz;
	o->shmem = shmem;
	RETURN(enqueue(s, o));
}

/* ------------------------------------------------------------------------ */
/* capture, graphs */

EMU_API CUresult cuStreamBeginCapture_v2(CUstream h, int mode) {
	emu_lock();
	NEED_CTX();
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	if (s == current->null_stream)
		RETURN(emu_fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture on the default stream"));
	if (mode < 0 || mode > 2) RETURN(emu_fail(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCapture: mode %d", mode));
	if (s->cap) RETURN(emu_fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamBeginCapture: the stream is capturing already"));
	if (s->ctx->sticky) RETURN(s->ctx->sticky);
	capture *c = calloc(1, sizeof *c);
	if (!c) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	c->id = next_capture_id++;
	c->mode = mode;
	c->thread = pthread_self();
	c->next = captures;
	captures = c;
	s->cap = c;
	RETURN(0);
}

EMU_API CUresult cuStreamEndCapture(CUstream h, CUgraph *out) {
	emu_lock();
	NEED_CTX();
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	*out = NULL;
	capture *c = s->cap;
	if (!c) RETURN(emu_fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not capturing"));
	if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED && !pthread_equal(c->thread, pthread_self()))
		RETURN(emu_fail(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "cuStreamEndCapture from another thread"));
	end_capture(s);
	for (CUevent e = s->ctx->events; e; e = e->next)
		if (e->captured == c->id) e->captured = -1; /* recorded in a capture that has ended */
	if (c->invalid) {
		for (op *o = c->head, *n; o; o = n) {
			n = o->next;
			free_op(o);
		}
		free(c);
		RETURN(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	}
	CUgraph g = calloc(1, sizeof *g);
	if (!g) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	g->magic = MAGIC_GRAPH;
	g->ctx = s->ctx;
	g->head = c->head;
	for (op *o = g->head; o; o = o->next) g->n++;
	free(c);
	live_graphs++;
	*out = g;
	RETURN(0);
}

static void free_ops(op *o) {
	for (op *n; o; o = n) {
		n = o->next;
		free_op(o);
	}
}

static op *clone_list(const op *o) {
	op *head = NULL, **tail = &head;
	for (; o; o = o->next) {
		*tail = clone_op(o);
		if (!*tail) {
			free_ops(head);
			return NULL;
		}
		tail = &(*tail)->next;
	}
	return head;
}

EMU_API CUresult cuGraphInstantiateWithFlags(CUgraphExec *out, CUgraph g, unsigned long long flags) {
	emu_lock();
	NEED_CTX();
	if (!g || g->magic != MAGIC_GRAPH) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphInstantiate: not a live graph"));
	if (flags) RETURN(emu_fail(CUDA_ERROR_NOT_SUPPORTED, "cuGraphInstantiateWithFlags: flags %#llx", flags));
	CUgraphExec x = calloc(1, sizeof *x);
	if (!x) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	x->magic = MAGIC_EXEC;
	x->ctx = g->ctx;
	x->head = clone_list(g->head);
	x->n = g->n;
	if (g->head && !x->head) {
		free(x);
		RETURN(CUDA_ERROR_OUT_OF_MEMORY);
	}
	live_execs++;
	*out = x;
	RETURN(0);
}

EMU_API CUresult cuGraphLaunch(CUgraphExec x, CUstream h) {
	emu_lock();
	NEED_CTX();
	if (!x || x->magic != MAGIC_EXEC) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: not a live graph exec"));
	CUstream s = NULL;
	CUresult r = resolve_stream(h, &s);
	if (r) RETURN(r);
	if (x->ctx != s->ctx) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: a graph of another context"));
	if (s->cap) RETURN(emu_fail(CUDA_ERROR_NOT_SUPPORTED, "cuGraphLaunch into a capture is not emulated"));
	if (s->ctx->sticky) RETURN(s->ctx->sticky);
	for (const op *n = x->head; n; n = n->next) {
		if (n->kind == OP_RECORD) {
			if (n->ev->magic != MAGIC_EVENT) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphLaunch: the graph records a destroyed event"));
			if ((r = record(s, n->ev, 0))) RETURN(r);
			continue;
		}
		op *o = clone_op(n);
		if (!o) RETURN(CUDA_ERROR_OUT_OF_MEMORY);
		if ((r = enqueue(s, o))) RETURN(r);
	}
	RETURN(0);
}

EMU_API CUresult cuGraphExecDestroy(CUgraphExec x) {
	emu_lock();
	if (!x || x->magic != MAGIC_EXEC) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphExecDestroy: not a live graph exec"));
	free_ops(x->head);
	x->magic = MAGIC_DEAD;
	free(x);
	live_execs--;
	RETURN(0);
}

EMU_API CUresult cuGraphDestroy(CUgraph g) {
	emu_lock();
	if (!g || g->magic != MAGIC_GRAPH) RETURN(emu_fail(CUDA_ERROR_INVALID_HANDLE, "cuGraphDestroy: not a live graph"));
	free_ops(g->head);
	g->magic = MAGIC_DEAD;
	free(g);
	live_graphs--;
	RETURN(0);
}

/* cudaemuLiveObjects reports what is still allocated, for tests: device
 * allocations, pinned allocations, graphs, graph execs. */
EMU_API void cudaemuLiveObjects(int *dev, int *host, int *graphs, int *execs) {
	emu_lock();
	int d = 0, h = 0;
	for (int i = 0; i < ntable; i++) {
		d += table[i].kind == A_DEVICE;
		h += table[i].kind == A_HOST;
	}
	*dev = d, *host = h, *graphs = live_graphs, *execs = live_execs;
	emu_unlock();
}
