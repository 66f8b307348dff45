/* ptx_sync_test.c - memory fences, bar.warp.sync, cache-operator loads and
 * the "last block to finish merges" pattern (a per-group atomic count) that
 * decode attention uses.
 *
 * What these tests can and cannot show. The interpreter runs a grid's
 * blocks one after another, each to completion, over one coherent memory, so
 * every store of an earlier block is visible to every later one whether or
 * not a fence or an L2 load (.cg) stands between them. The tests therefore
 * prove that the fence and cache-operator forms load and run as the
 * sequentially consistent no-ops they are here, that a counting kernel's
 * logic is right (exactly one block per group sees the final count, whichever
 * order the blocks run in: a random schedule also permutes the blocks, so the
 * last block is not always the highest index), that the merging block reads
 * every partial, and that the count is set back for the next launch. They
 * cannot show that a fence is where the hardware needs it, nor that a load
 * that must bypass L1 does: a missing __threadfence() or a plain ld.global
 * where ld.global.cg is needed passes here and is a GPU-only bug. */
#include "ptx_common.h"

static char err[400];

static ptx_module *load(const char *text)
{
	char lerr[300];
	ptx_module *m = ptx_load(text, lerr, sizeof lerr);
	if (!m)
		snprintf(err, sizeof err, "load: %s", lerr);
	return m;
}

/* Each fence form loads and leaves a stored value and the thread's
 * registers as they were: st 41, fence, ld, add 1 gives 42. */
static void test_fences(void)
{
	static const char *forms[] = {"membar.cta", "membar.gl", "membar.sys", "fence.sc.cta", "fence.sc.gpu",
	                              "fence.sc.sys", "fence.acq_rel.cta", "fence.acq_rel.gpu", "fence.acq_rel.sys"};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		EXPECT(ptx_opcode_known(forms[i]), "%s not known", forms[i]);
		char text[2048];
		snprintf(text, sizeof text,
		         ".version 7.8\n.target sm_80\n.address_size 64\n"
		         ".visible .entry t(.param .u64 out)\n{\n.reg .b32 %%r<4>;\n.reg .b64 %%rd<4>;\n"
		         "ld.param.u64 %%rd1, [out];\nmov.u32 %%r1, 41;\nst.global.u32 [%%rd1], %%r1;\n%s;\n"
		         "ld.global.cg.u32 %%r2, [%%rd1];\nadd.s32 %%r2, %%r2, 1;\nst.global.cg.u32 [%%rd1+4], %%r2;\nret;\n}\n",
		         forms[i]);
		ptx_module *m = load(text);
		EXPECT(m != NULL, "%s: %s", forms[i], err);
		if (!m)
			continue;
		t_reset();
		uint32_t *o = t_alloc(8);
		void *p[1] = {&o};
		int rc = t_launch(ptx_kernel_find(m, "t"), 1, 1, 32, 0, p, 0, 0, err, sizeof err, NULL);
		EXPECT(rc == 0 && o[0] == 41 && o[1] == 42, "%s: rc %d out %u %u %s", forms[i], rc, o[0], o[1], err);
		ptx_unload(m);
	}
	/* what is still refused: fences with scopes PTX does not have */
	EXPECT(!ptx_opcode_known("membar.gpu"), "membar.gpu accepted");
	EXPECT(!ptx_opcode_known("fence.cta"), "fence.cta accepted");
	/* every cache operator of ld.global, vector forms too */
	static const char *ld[] = {"ld.global.ca.u32", "ld.global.cg.f32", "ld.global.cs.u64", "ld.global.lu.b32",
	                           "ld.global.cv.s32", "ld.global.cg.v4.f32", "st.global.wb.u32", "st.global.cg.v2.f32",
	                           "st.global.cs.u8", "st.global.wt.f64"};
	for (size_t i = 0; i < sizeof ld / sizeof ld[0]; i++)
		EXPECT(ptx_opcode_known(ld[i]), "%s not known", ld[i]);
	EXPECT(!ptx_opcode_known("ld.global.wb.u32"), "a store cache operator accepted on ld");
	EXPECT(!ptx_opcode_known("st.global.lu.u32"), "a load cache operator accepted on st");
	EXPECT(!ptx_opcode_known("ld.shared.cg.u32"), ".cg accepted on shared");
}

/* A warp-wide exchange through shared memory: lane l stores 3·l to s[l],
 * waits (or not), and reads s[l^1]. The interpreter runs one lane until it
 * reaches a synchronisation point, so without bar.warp.sync lane 0 reads
 * s[1] before lane 1 wrote it: the 0xffffffff shared memory starts as. */
static const char *XHEAD =
	".version 7.8\n.target sm_80\n.address_size 64\n"
	".visible .entry t(.param .u64 out)\n{\n"
	".shared .align 4 .b8 s[256];\n.reg .pred %p<4>;\n.reg .b32 %r<16>;\n.reg .b64 %rd<8>;\n"
	"ld.param.u64 %rd1, [out];\nmov.u32 %r0, %tid.x;\n"
	"mul.wide.u32 %rd2, %r0, 4;\nadd.s64 %rd3, %rd1, %rd2;\n"
	"mov.u32 %r10, s;\nshl.b32 %r11, %r0, 2;\nadd.s32 %r12, %r10, %r11;\n"
	"xor.b32 %r13, %r0, 1;\nshl.b32 %r13, %r13, 2;\nadd.s32 %r13, %r10, %r13;\n"
	"mul.lo.s32 %r1, %r0, 3;\nst.shared.u32 [%r12], %r1;\nmov.u32 %r5, 0;\n";

static uint32_t xout[64];

static int xrun(const char *body, unsigned threads, int randomize, uint64_t seed)
{
	char text[8192];
	snprintf(text, sizeof text, "%s%s\nst.global.u32 [%%rd3], %%r5;\nret;\n}\n", XHEAD, body);
	ptx_module *m = load(text);
	if (!m)
		return -2;
	t_reset();
	uint32_t *o = t_alloc(sizeof xout);
	memset(o, 0, sizeof xout);
	void *p[1] = {&o};
	err[0] = 0;
	int r = t_launch(ptx_kernel_find(m, "t"), 1, 1, threads, 0, p, randomize, seed, err, sizeof err, NULL);
	memcpy(xout, o, sizeof xout);
	ptx_unload(m);
	return r;
}

#define XFAULTS(body, threads, want)                                                                          \
	do {                                                                                                      \
		int rc_ = xrun(body, threads, 0, 0);                                                                  \
		EXPECT(rc_ == -1 && strstr(err, want) && strstr(err, "kernel t block ("), "%s: rc %d, error '%s', want '%s'", \
		       body, rc_, err, want);                                                                         \
	} while (0)

static void test_warp_sync(void)
{
	int rc = xrun("ld.shared.u32 %r5, [%r13];", 32, 0, 0);
	EXPECT(rc == 0 && xout[0] == 0xffffffffu && xout[3] == 6, "no sync: lane 0 %08x lane 3 %u (%s)", xout[0], xout[3], err);
	for (int seed = 0; seed < 4; seed++) {
		rc = xrun("bar.warp.sync -1;\nld.shared.u32 %r5, [%r13];", 64, seed > 0, (uint64_t)seed);
		int ok = rc == 0;
		for (int l = 0; l < 64; l++)
			ok = ok && xout[l] == 3u * ((unsigned)l ^ 1u);
		EXPECT(ok, "bar.warp.sync -1 seed %d: rc %d lane 0 %u lane 1 %u lane 33 %u (%s)", seed, rc, xout[0], xout[1],
		       xout[33], err);
	}
	/* Two halves, each with its own mask at its own instruction: both pass
	 * (lanes 0-15 give 3·(l^1), lanes 16-31 the same). */
	rc = xrun("setp.lt.u32 %p1, %r0, 16;\n@%p1 bra $lo;\nbar.warp.sync 0xffff0000;\nbra $done;\n"
	          "$lo:\nbar.warp.sync 0x0000ffff;\n$done:\nld.shared.u32 %r5, [%r13];",
	          32, 0, 0);
	EXPECT(rc == 0 && xout[0] == 3 && xout[15] == 42 && xout[16] == 51 && xout[31] == 90,
	       "half masks: rc %d %u %u %u %u (%s)", rc, xout[0], xout[15], xout[16], xout[31], err);
	/* the member-mask faults of shfl */
	XFAULTS("setp.eq.s32 %p1, %r0, 5;\n@%p1 ret;\nbar.warp.sync -1;", 32, "names lane 5, which has exited");
	XFAULTS("bar.warp.sync 0x0000ffff;", 32, "is not in its member mask");
	XFAULTS("bar.warp.sync -1;", 16, "names lane 16, which does not exist");
	XFAULTS("setp.lt.u32 %p1, %r0, 16;\n@%p1 bra $a;\nbar.warp.sync -1;\nbra $done;\n$a:\nbar.warp.sync -1;\n$done:", 32,
	        "divergent warp exchange");
	XFAULTS("setp.lt.u32 %p1, %r0, 16;\nselp.u32 %r6, -1, 0xffff7fff, %p1;\nbar.warp.sync %r6;", 32,
	        "lane 16 uses member mask 0xffff7fff, lane 0 0xffffffff");
	/* a warp that never reaches the exchange a mask names: other lanes
	 * wait at a barrier instead */
	XFAULTS("setp.eq.s32 %p1, %r0, 3;\n@%p1 bar.sync 0;\nbar.warp.sync -1;", 32, "names lane 3, which is waiting at a barrier");
	EXPECT(!ptx_opcode_known("bar.warp.sync.aligned"), "bar.warp.sync.aligned accepted");
	char lerr[300];
	ptx_module *m = ptx_load(".version 7.8\n.target sm_80\n.address_size 64\n.visible .entry t()\n{\nbar.warp.sync;\nret;\n}\n",
	                         lerr, sizeof lerr);
	EXPECT(!m && strstr(lerr, "ptx line 6"), "bar.warp.sync without a mask: %s", m ? "loaded" : lerr);
	if (m)
		ptx_unload(m);
}

/* The decode-attention pattern on a grid (heads, splits): block (h, s) of
 * 64 threads writes its partial part[h][s] = 100·h + s + 1 from thread 0,
 * fences, syncs, and thread 0 adds 1 to done[h]; the block that sees
 * splits-1 (the last of head h) reads the head's partials with ld.global.cg,
 * writes out[h] = their sum and its block index (out[heads + h] = s·16+1, so
 * 0 means "no block merged"), and sets done[h] back to 0. With 2 heads and
 * 3 splits: out[0] = 1+2+3 = 6, out[1] = 101+102+103 = 306. */
static const char *MERGE =
	".version 7.8\n.target sm_80\n.address_size 64\n"
	".visible .entry merge(.param .u64 part, .param .u64 done, .param .u64 out)\n{\n"
	".shared .align 4 .u32 last;\n.reg .pred %p<4>;\n.reg .b32 %r<16>;\n.reg .b64 %rd<16>;\n"
	"ld.param.u64 %rd1, [part];\nld.param.u64 %rd2, [done];\nld.param.u64 %rd3, [out];\n"
	"mov.u32 %r0, %tid.x;\nmov.u32 %r1, %ctaid.x;\nmov.u32 %r2, %ctaid.y;\nmov.u32 %r3, %nctaid.y;\n"
	"setp.ne.s32 %p1, %r0, 0;\n"
	"mad.lo.s32 %r4, %r1, %r3, %r2;\nmul.wide.u32 %rd4, %r4, 4;\nadd.s64 %rd5, %rd1, %rd4;\n" /* &part[h][s] */
	"mul.lo.s32 %r5, %r1, 100;\nadd.s32 %r5, %r5, %r2;\nadd.s32 %r5, %r5, 1;\n"
	"@!%p1 st.global.u32 [%rd5], %r5;\n"
	"membar.gl;\nbar.sync 0;\n"
	"mul.wide.u32 %rd6, %r1, 4;\nadd.s64 %rd7, %rd2, %rd6;\n" /* &done[h] */
	"@%p1 bra $wait;\n"
	"atom.global.add.u32 %r6, [%rd7], 1;\nadd.s32 %r7, %r3, -1;\nsetp.eq.s32 %p2, %r6, %r7;\n"
	"selp.u32 %r8, 1, 0, %p2;\nst.shared.u32 [last], %r8;\n"
	"$wait:\nbar.sync 0;\nld.shared.u32 %r8, [last];\nsetp.eq.s32 %p3, %r8, 0;\n@%p3 bra $end;\n"
	"membar.gl;\n@%p1 bra $end;\n"
	"mul.lo.s32 %r9, %r1, %r3;\nmul.wide.u32 %rd8, %r9, 4;\nadd.s64 %rd9, %rd1, %rd8;\n" /* &part[h][0] */
	"mov.u32 %r10, 0;\nmov.u32 %r11, 0;\n"
	"$sum:\nld.global.cg.u32 %r12, [%rd9];\nadd.s32 %r10, %r10, %r12;\nadd.s64 %rd9, %rd9, 4;\n"
	"add.s32 %r11, %r11, 1;\nsetp.lt.s32 %p2, %r11, %r3;\n@%p2 bra $sum;\n"
	"add.s64 %rd10, %rd3, %rd6;\nst.global.u32 [%rd10], %r10;\n"
	"mov.u32 %r13, %nctaid.x;\nmul.wide.u32 %rd11, %r13, 4;\nadd.s64 %rd12, %rd10, %rd11;\n"
	"shl.b32 %r14, %r2, 4;\nadd.s32 %r14, %r14, 1;\nst.global.u32 [%rd12], %r14;\n"
	"mov.u32 %r15, 0;\nst.global.u32 [%rd7], %r15;\n"
	"$end:\nret;\n}\n";

static void test_last_block_merges(void)
{
	ptx_module *m = load(MERGE);
	EXPECT(m != NULL, "merge kernel: %s", err);
	if (!m)
		return;
	ptx_kernel *k = ptx_kernel_find(m, "merge");
	t_reset();
	uint32_t *part = t_alloc(6 * 4), *done = t_alloc(2 * 4), *out = t_alloc(4 * 4);
	memset(done, 0, 8);
	int mergers_seen = 0; /* bit s·2+h: split s merged head h in some run */
	/* Two launches in a row (a graph replayed) in block order, then under
	 * random schedules that permute the blocks: every run finds done[]
	 * zeroed by the previous one. */
	for (int run = 0; run < 12; run++) {
		memset(part, 0xff, 6 * 4);
		memset(out, 0, 4 * 4);
		void *p[3] = {&part, &done, &out};
		int rc = t_launch(k, 2, 3, 64, 0, p, run >= 2, (uint64_t)run, err, sizeof err, NULL);
		EXPECT(rc == 0 && out[0] == 6 && out[1] == 306 && done[0] == 0 && done[1] == 0,
		       "run %d: rc %d out %u %u done %u %u (%s)", run, rc, out[0], out[1], done[0], done[1], err);
		EXPECT(out[2] % 16 == 1 && out[3] % 16 == 1, "run %d: no merger recorded (%u %u)", run, out[2], out[3]);
		if (run < 2)
			EXPECT(out[2] == 2 * 16 + 1 && out[3] == 2 * 16 + 1, "block order: merged by splits %u %u, want 2 2",
			       out[2] / 16, out[3] / 16);
		for (int h = 0; h < 2; h++)
			if (out[2 + h] / 16 < 3)
				mergers_seen |= 1 << (out[2 + h] / 16 * 2 + h);
	}
	/* the random schedules let splits other than the last merge */
	EXPECT((mergers_seen & ~0x30) != 0, "only split 2 ever merged (mask 0x%x)", mergers_seen);
	/* A count left at 1 (a launch that did not reset it) makes the merge
	 * come one block early, from a partial still 0xffffffff: 0xffffffff +
	 * 1 + 2 (or + 101 + 102) in 32 bits. */
	memset(part, 0xff, 6 * 4);
	memset(out, 0, 4 * 4);
	done[0] = 1;
	done[1] = 1;
	void *p[3] = {&part, &done, &out};
	int rc = t_launch(k, 2, 3, 64, 0, p, 0, 0, err, sizeof err, NULL);
	EXPECT(rc == 0 && out[0] == 2 && out[1] == 202 && out[2] == 1 * 16 + 1 && done[0] == 1 && done[1] == 1,
	       "stale count: rc %d out %u %u merger %u done %u %u", rc, out[0], out[1], out[2], done[0], done[1]);
	ptx_unload(m);
}

int main(void)
{
	test_fences();
	test_warp_sync();
	test_last_block_merges();
	FINISH();
}
