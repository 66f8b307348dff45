/* ptx_faults_test.c - each fault detector fires with a sentence naming the
 * kernel, block, thread and PTX line; warp exchanges and barriers give the
 * right values when used correctly. */
#include "ptx_common.h"

static const char *HEAD =
	".version 7.8\n.target sm_80\n.address_size 64\n"
	".visible .entry t(.param .u64 out)\n{\n"
	".shared .align 4 .b8 s[128];\n.local .align 4 .b8 depot[16];\n"
	".reg .pred %p<8>;\n.reg .b32 %r<16>;\n.reg .b64 %rd<8>;\n"
	"ld.param.u64 %rd1, [out];\nmov.u32 %r0, %tid.x;\n"
	"mul.wide.u32 %rd2, %r0, 4;\nadd.s64 %rd3, %rd1, %rd2;\n" /* %rd3 = &out[tid] */
	"mov.u32 %r10, s;\nshl.b32 %r11, %r0, 2;\nadd.s32 %r12, %r10, %r11;\n"; /* %r12 = &s[tid] */
/* BODY leaves the thread's result in %r5 */
static const char *TAIL = "st.global.u32 [%rd3], %r5;\nret;\n}\n";

static uint32_t out[64];
static char err[400];

static int runk(const char *body, unsigned threads, int randomize, uint64_t seed)
{
	char text[8192];
	snprintf(text, sizeof text, "%smov.u32 %%r5, 0;\n%s\n%s", HEAD, body, TAIL);
	char lerr[300];
	ptx_module *m = ptx_load(text, lerr, sizeof lerr);
	if (!m) {
		snprintf(err, sizeof err, "load: %s", lerr);
		return -2;
	}
	t_reset();
	uint32_t *o = t_alloc(sizeof out);
	memset(o, 0, sizeof out);
	void *p[1] = {&o};
	err[0] = 0;
	int r = t_launch(ptx_kernel_find(m, "t"), 2, 1, threads, 0, p, randomize, seed, err, sizeof err, NULL);
	memcpy(out, o, sizeof out);
	ptx_unload(m);
	return r;
}

#define FAULTS(body, threads, want)                                                          \
	do {                                                                                     \
		int rc_ = runk(body, threads, 0, 0);                                                 \
		EXPECT(rc_ == -1 && strstr(err, want) && strstr(err, "kernel t block ("),            \
		       "%s: rc %d, error '%s', want '%s'", body, rc_, err, want);                   \
	} while (0)

static void test_memory_faults(void)
{
	/* global: one element past the 64-word buffer (thread 0 of block 0 reads out[64]) */
	FAULTS("ld.global.u32 %r5, [%rd1+256];", 32, "global load of 4 bytes at");
	FAULTS("ld.global.u32 %r5, [%rd1+256];", 32, "thread (0,0,0): ptx line 19:");
	FAULTS("st.global.u32 [%rd1+-4], %r0;", 32, "global store of 4 bytes");
	FAULTS("ld.global.u32 %r5, [%rd1+2];", 32, "misaligned global load of 4 bytes");
	FAULTS("ld.global.v4.u32 {%r5, %r6, %r7, %r8}, [%rd1+4];", 32, "misaligned global load of 16 bytes");
	/* shared: s is 128 bytes */
	FAULTS("st.shared.u32 [s+128], %r0;", 32, "shared store of 4 bytes at offset 128 is outside the 128 bytes");
	FAULTS("ld.shared.u32 %r5, [%r12+4];", 32, "thread (31,0,0)"); /* s[32] */
	FAULTS("ld.shared.u32 %r5, [s+2];", 32, "misaligned shared load");
	/* local: the 16-byte depot */
	FAULTS("mov.u64 %rd4, depot;\nst.local.u32 [%rd4+16], %r0;", 1, "local store of 4 bytes at offset 16 is outside the 16 bytes");
	FAULTS("mov.u64 %rd4, depot;\nld.local.u32 %r5, [%rd4+-4];", 1, "local load");
	FAULTS("mov.u64 %rd4, depot;\nld.local.u32 %r5, [%rd4+1];", 1, "misaligned local load");
	FAULTS("mov.u32 %r6, 0;\ndiv.u32 %r5, %r0, %r6;", 1, "integer division by zero");
	FAULTS("trap;", 1, "trap");
	ptx_set_loop_limit(1000);
	FAULTS("$spin:\nbra $spin;", 1, "more than 1000 backward branches (an endless loop?)");
	/* 999 iterations pass */
	EXPECT(runk("mov.u32 %r6, 0;\n$loop:\nadd.s32 %r6, %r6, 1;\nsetp.lt.s32 %p1, %r6, 1000;\n@%p1 bra $loop;\nmov.u32 %r5, %r6;", 1, 0, 0) == 0 &&
	       out[0] == 1000, "a loop of 999 back jumps: %u %s", out[0], err);
	ptx_set_loop_limit(0);
	/* fresh shared and local memory read as 0xFF bytes (a NaN) */
	EXPECT(runk("ld.shared.u32 %r5, [%r12];", 32, 0, 0) == 0 && out[7] == 0xffffffffu, "poisoned shared: %08x %s", out[7], err);
	EXPECT(runk("mov.u64 %rd4, depot;\nld.local.u32 %r5, [%rd4+12];", 4, 0, 0) == 0 && out[3] == 0xffffffffu,
	       "poisoned local: %08x %s", out[3], err);
	/* the dimension limits */
	EXPECT(runk("", 1025, 0, 0) == -1 && strstr(err, "1024"), "1025 threads: %s", err);
}

static void test_warp(void)
{
	/* butterfly sum of tid over the warp: 0+..+31 = 496 in every lane */
	const char *sum =
		"mov.u32 %r5, %r0;\n"
		"shfl.sync.bfly.b32 %r6|%p1, %r5, 16, 31, -1;\nadd.s32 %r5, %r5, %r6;\n"
		"shfl.sync.bfly.b32 %r6|%p1, %r5, 8, 31, -1;\nadd.s32 %r5, %r5, %r6;\n"
		"shfl.sync.bfly.b32 %r6|%p1, %r5, 4, 31, -1;\nadd.s32 %r5, %r5, %r6;\n"
		"shfl.sync.bfly.b32 %r6|%p1, %r5, 2, 31, -1;\nadd.s32 %r5, %r5, %r6;\n"
		"shfl.sync.bfly.b32 %r6|%p1, %r5, 1, 31, -1;\nadd.s32 %r5, %r5, %r6;\n";
	int rc = runk(sum, 64, 0, 0);
	int bad = 0;
	for (int i = 0; i < 64; i++)
		bad += out[i] != (i < 32 ? 496u : 496u + 32 * 32);
	EXPECT(rc == 0 && bad == 0, "bfly sum: rc %d %s, out[0]=%u out[40]=%u", rc, err, out[0], out[40]);
	rc = runk(sum, 64, 1, 99);
	bad = 0;
	for (int i = 0; i < 64; i++)
		bad += out[i] != (i < 32 ? 496u : 496u + 32 * 32);
	EXPECT(rc == 0 && bad == 0, "bfly sum randomised: %s", err);
	/* shfl.down with clamp 31: lane 31 - 1 gives lane 31 its own value, p false */
	rc = runk("shfl.sync.down.b32 %r5|%p1, %r0, 1, 31, -1;\n@!%p1 add.s32 %r5, %r5, 1000;", 32, 0, 0);
	EXPECT(rc == 0 && out[0] == 1 && out[30] == 31 && out[31] == 1031, "down: %u %u %u %s", out[0], out[30], out[31], err);
	/* idx with a 16-lane segment (c = 0x0f | 0x10 << 8... segmask 0x10): lane reads lane 3 of its half */
	rc = runk("shfl.sync.idx.b32 %r5|%p1, %r0, 3, 0x100f, -1;", 32, 0, 0);
	EXPECT(rc == 0 && out[0] == 3 && out[15] == 3 && out[16] == 19 && out[31] == 19, "idx: %u %u %u %u %s", out[0],
	       out[15], out[16], out[31], err);
	/* two groups at one instruction: each half of the warp names only itself */
	rc = runk("setp.lt.u32 %p2, %r0, 16;\nselp.b32 %r7, 0x0000ffff, 0xffff0000, %p2;\n"
	          "shfl.sync.bfly.b32 %r5|%p1, %r0, 8, 31, %r7;", 32, 0, 0);
	EXPECT(rc == 0 && out[0] == 8 && out[8] == 0 && out[16] == 24, "half masks: %u %u %u %s", out[0], out[8], out[16], err);
	/* vote */
	rc = runk("and.b32 %r6, %r0, 1;\nsetp.eq.s32 %p1, %r6, 1;\nvote.sync.ballot.b32 %r5, %p1, -1;", 32, 0, 0);
	EXPECT(rc == 0 && out[0] == 0xaaaaaaaau && out[31] == 0xaaaaaaaau, "ballot %08x %s", out[0], err);
	rc = runk("setp.lt.u32 %p1, %r0, 40;\nvote.sync.all.pred %p2, %p1, -1;\nselp.u32 %r5, 1, 2, %p2;", 64, 0, 0);
	EXPECT(rc == 0 && out[0] == 1 && out[32] == 2, "vote.all %u %u %s", out[0], out[32], err);
	/* faults */
	FAULTS("setp.eq.s32 %p1, %r0, 5;\n@%p1 ret;\nshfl.sync.bfly.b32 %r5|%p2, %r0, 1, 31, -1;", 32,
	       "member mask 0xffffffff names lane 5, which has exited");
	FAULTS("setp.lt.u32 %p1, %r0, 16;\n@%p1 bra $a;\nshfl.sync.bfly.b32 %r5|%p2, %r0, 1, 31, -1;\nbra $done;\n"
	       "$a:\nshfl.sync.bfly.b32 %r5|%p2, %r0, 2, 31, -1;\n$done:", 32, "divergent warp exchange");
	FAULTS("shfl.sync.bfly.b32 %r5|%p2, %r0, 1, 31, -1;", 16, "names lane 16, which does not exist");
	FAULTS("shfl.sync.bfly.b32 %r5|%p2, %r0, 1, 31, 0x0000ffff;", 32, "is not in its member mask");
	FAULTS("shfl.sync.idx.b32 %r5|%p2, %r0, 20, 31, 0x0000ffff;", 16, "shfl reads lane 20, which is not in the member mask");
}

static void test_barriers(void)
{
	/* a correct barrier: every thread reads its neighbour's store */
	const char *nb = "st.shared.u32 [%r12], %r0;\nbar.sync 0;\nadd.s32 %r6, %r0, 1;\nand.b32 %r6, %r6, 31;\n"
	                 "shl.b32 %r6, %r6, 2;\nadd.s32 %r6, %r10, %r6;\nld.shared.u32 %r5, [%r6];";
	for (int rnd = 0; rnd < 2; rnd++) {
		int rc = runk(nb, 32, rnd, 5);
		int bad = 0;
		for (int i = 0; i < 32; i++)
			bad += out[i] != (uint32_t)((i + 1) & 31);
		EXPECT(rc == 0 && bad == 0, "barrier neighbour (randomised %d): %d wrong %s", rnd, bad, err);
	}
	/* exited threads do not hold a barrier up */
	int rc = runk("setp.ge.u32 %p1, %r0, 8;\n@%p1 ret;\nst.shared.u32 [%r12], %r0;\nbar.sync 0;\nld.shared.u32 %r5, [s+4];", 64, 0, 0);
	EXPECT(rc == 0 && out[0] == 1 && out[7] == 1, "barrier after exits: %s", err);
	/* a missing barrier: thread i reads s[i-1] right after the stores. In
	 * thread order every store comes first; a randomised order shows it. */
	const char *racy = "st.shared.u32 [%r12], %r0;\nsetp.eq.s32 %p1, %r0, 0;\n@%p1 bra $done;\n"
	                   "ld.shared.u32 %r5, [%r12+-4];\n$done:";
	rc = runk(racy, 32, 0, 0);
	int bad = 0;
	for (int i = 1; i < 32; i++)
		bad += out[i] != (uint32_t)(i - 1);
	EXPECT(rc == 0 && bad == 0, "in order the race hides: %d %s", bad, err);
	int exposed = 0;
	for (uint64_t seed = 1; seed <= 4; seed++) {
		rc = runk(racy, 32, 1, seed);
		for (int i = 1; i < 32; i++)
			exposed += out[i] == 0xffffffffu;
	}
	EXPECT(exposed > 0, "randomised schedules never read the poisoned shared word");
	/* deadlocks */
	FAULTS("setp.lt.u32 %p1, %r0, 8;\n@%p1 bar.sync 1;\n@!%p1 bar.sync 0;", 32, "barrier deadlock");
	FAULTS("bar.sync 0, 64;", 32, "barrier deadlock: 32 of 32 live threads wait");
	FAULTS("bar.sync 0, 48;", 64, "not a nonzero multiple of 32");
	/* a thread waits at a barrier while its warp exchanges */
	FAULTS("setp.eq.s32 %p1, %r0, 3;\n@%p1 bar.sync 0;\nshfl.sync.bfly.b32 %r5|%p2, %r0, 1, 31, -1;", 32,
	       "names lane 3, which is waiting at a barrier");
}

int main(void)
{
	test_memory_faults();
	test_warp();
	test_barriers();
	FINISH();
}
