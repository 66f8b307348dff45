/* ptx_tensor_test.c - the tensor-core instructions the CUDA speed work brings
 * in: cp.async (groups, zero fill, stale data before the wait), ldmatrix
 * (x1/x2/x4, .trans) and mma.sync.m16n8k16 (bf16 and f16 into f32), checked
 * end to end: tiles copied with cp.async, fragments loaded with ldmatrix,
 * D = A·B + C against a plain matrix product. */
#include "ptx_common.h"

static const char *MMA_PTX =
	".version 7.8\n.target sm_80\n.address_size 64\n"
	".visible .entry mm(.param .u64 out, .param .u64 pa, .param .u64 pbt, .param .u64 pc)\n{\n"
	".shared .align 16 .b8 sA[512];\n.shared .align 16 .b8 sB[256];\n"
	".reg .pred %p<4>;\n.reg .b32 %r<40>;\n.reg .b64 %rd<20>;\n.reg .f32 %f<12>;\n"
	"ld.param.u64 %rd1, [out];\nld.param.u64 %rd2, [pa];\nld.param.u64 %rd3, [pbt];\nld.param.u64 %rd4, [pc];\n"
	"mov.u32 %r0, %tid.x;\n"
	/* cp.async: A in 32 chunks of 16 bytes, B^T in 16 */
	"shl.b32 %r1, %r0, 4;\nmov.u32 %r2, sA;\nadd.s32 %r3, %r2, %r1;\ncvt.u64.u32 %rd5, %r1;\nadd.s64 %rd6, %rd2, %rd5;\n"
	"cp.async.cg.shared.global [%r3], [%rd6], 16;\n"
	"setp.lt.u32 %p1, %r0, 16;\nmov.u32 %r4, sB;\nadd.s32 %r5, %r4, %r1;\nadd.s64 %rd7, %rd3, %rd5;\n"
	"@%p1 cp.async.ca.shared.global [%r5], [%rd7], 16;\n"
	"cp.async.commit_group;\ncp.async.wait_group 0;\nbar.sync 0;\n"
	/* ldmatrix x4 of A: lane l points at row l%16, column 8*(l/16) */
	"and.b32 %r6, %r0, 15;\nshl.b32 %r6, %r6, 5;\nshr.u32 %r7, %r0, 4;\nshl.b32 %r7, %r7, 4;\nadd.s32 %r8, %r6, %r7;\nadd.s32 %r8, %r8, %r2;\n"
	"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r10, %r11, %r12, %r13}, [%r8];\n"
	/* ldmatrix x2 of B^T: lane l points at row l%8, column 8*((l/8)%2) */
	"and.b32 %r14, %r0, 7;\nshl.b32 %r14, %r14, 5;\nshr.u32 %r15, %r0, 3;\nand.b32 %r15, %r15, 1;\nshl.b32 %r15, %r15, 4;\n"
	"add.s32 %r16, %r14, %r15;\nadd.s32 %r16, %r16, %r4;\n"
	"ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%r17, %r18}, [%r16];\n"
	/* C and D fragments: row g (+8), columns 2*tg, 2*tg+1 */
	"shr.u32 %r20, %r0, 2;\nand.b32 %r21, %r0, 3;\nshl.b32 %r22, %r20, 5;\nshl.b32 %r23, %r21, 3;\nadd.s32 %r24, %r22, %r23;\n"
	"cvt.u64.u32 %rd8, %r24;\nadd.s64 %rd9, %rd4, %rd8;\nadd.s64 %rd10, %rd1, %rd8;\n"
	"ld.global.f32 %f1, [%rd9];\nld.global.f32 %f2, [%rd9+4];\nld.global.f32 %f3, [%rd9+256];\nld.global.f32 %f4, [%rd9+260];\n"
	"mma.sync.aligned.m16n8k16.row.col.f32.TYPE.TYPE.f32 {%f5, %f6, %f7, %f8}, {%r10, %r11, %r12, %r13}, {%r17, %r18}, {%f1, %f2, %f3, %f4};\n"
	"st.global.f32 [%rd10], %f5;\nst.global.f32 [%rd10+4], %f6;\nst.global.f32 [%rd10+256], %f7;\nst.global.f32 [%rd10+260], %f8;\n"
	"ret;\n}\n";

static uint16_t enc(float v, int bf)
{
	if (bf) {
		uint32_t u;
		memcpy(&u, &v, 4);
		return (uint16_t)(u >> 16); /* small integers: exact */
	}
	_Float16 h = (_Float16)v;
	uint16_t u;
	memcpy(&u, &h, 2);
	return u;
}

static void test_mma(int bf)
{
	char text[8192], err[300];
	const char *ty = bf ? "bf16" : "f16";
	/* substitute TYPE */
	const char *at = strstr(MMA_PTX, "TYPE");
	size_t pre = (size_t)(at - MMA_PTX);
	snprintf(text, sizeof text, "%.*s%s.%s%s", (int)pre, MMA_PTX, ty, ty, at + strlen("TYPE.TYPE"));
	ptx_module *m = ptx_load(text, err, sizeof err);
	EXPECT(m != NULL, "load: %s", err);
	if (!m)
		return;
	t_reset();
	uint16_t *A = t_alloc(512), *BT = t_alloc(256);
	float *C = t_alloc(512), *D = t_alloc(512);
	float a[16][16], bt[8][16], c[16][8];
	for (int i = 0; i < 16; i++)
		for (int k = 0; k < 16; k++) {
			a[i][k] = (float)((i * 3 + k * 5) % 7 - 3);
			A[i * 16 + k] = enc(a[i][k], bf);
		}
	for (int n = 0; n < 8; n++)
		for (int k = 0; k < 16; k++) {
			bt[n][k] = (float)((n * 7 + k * 2) % 5 - 2);
			BT[n * 16 + k] = enc(bt[n][k], bf);
		}
	for (int i = 0; i < 16; i++)
		for (int n = 0; n < 8; n++)
			C[i * 8 + n] = c[i][n] = (float)(i - n) * 0.5f;
	void *p[4] = {&D, &A, &BT, &C};
	EXPECT(t_launch(ptx_kernel_find(m, "mm"), 1, 1, 32, 0, p, 1, 4, err, sizeof err, NULL) == 0, "%s", err);
	int bad = 0;
	for (int i = 0; i < 16; i++)
		for (int n = 0; n < 8; n++) {
			float want = c[i][n];
			for (int k = 0; k < 16; k++)
				want += a[i][k] * bt[n][k];
			if (D[i * 8 + n] != want && bad++ < 3)
				fprintf(stderr, "%s D[%d][%d] = %g, want %g\n", ty, i, n, D[i * 8 + n], want);
		}
	EXPECT(bad == 0, "mma %s: %d of 128 wrong", ty, bad);
	/* the .aligned rule: a warp of 16 threads cannot run it */
	EXPECT(t_launch(ptx_kernel_find(m, "mm"), 1, 1, 16, 0, p, 0, 0, err, sizeof err, NULL) == -1 &&
	       strstr(err, "which does not exist"), "16-thread mma: %s", err);
	ptx_unload(m);
}

static const char *SMALL_HEAD =
	".version 7.8\n.target sm_80\n.address_size 64\n"
	".visible .entry k(.param .u64 out, .param .u64 in)\n{\n"
	".shared .align 16 .b8 s[256];\n"
	".reg .pred %p<4>;\n.reg .b32 %r<16>;\n.reg .b64 %rd<8>;\n"
	"ld.param.u64 %rd1, [out];\nld.param.u64 %rd2, [in];\nmov.u32 %r0, %tid.x;\n"
	"mul.wide.u32 %rd3, %r0, 4;\nadd.s64 %rd4, %rd1, %rd3;\nmov.u32 %r1, s;\n";

static int run_small(const char *body, unsigned threads, uint32_t *out, const uint16_t *in, size_t inlen, char *err, size_t errlen)
{
	char text[8192];
	snprintf(text, sizeof text, "%s%s\nst.global.u32 [%%rd4], %%r5;\nret;\n}\n", SMALL_HEAD, body);
	ptx_module *m = ptx_load(text, err, errlen);
	if (!m)
		return -2;
	t_reset();
	uint32_t *o = t_alloc(32 * 4);
	uint16_t *i = t_alloc(inlen);
	memcpy(i, in, inlen);
	void *p[2] = {&o, &i};
	int r = t_launch(ptx_kernel_find(m, "k"), 1, 1, threads, 0, p, 0, 0, err, errlen, NULL);
	memcpy(out, o, 32 * 4);
	ptx_unload(m);
	return r;
}

static void test_ldmatrix_cp_async(void)
{
	uint16_t M[128];
	for (int i = 0; i < 128; i++)
		M[i] = (uint16_t)(i + 1);
	uint32_t out[32];
	char err[300];
	/* copy the 8x8 matrix (128 bytes) into s with cp.async, each of 8 lanes 16 bytes */
	const char *copy = "setp.lt.u32 %p1, %r0, 8;\nshl.b32 %r2, %r0, 4;\nadd.s32 %r3, %r1, %r2;\ncvt.u64.u32 %rd5, %r2;\n"
	                   "add.s64 %rd6, %rd2, %rd5;\n@%p1 cp.async.ca.shared.global [%r3], [%rd6], 16;\n"
	                   "cp.async.commit_group;\n";
	char body[2048];
	/* x1 .trans: lane l gets M[2(l%4)][l/4] and M[2(l%4)+1][l/4] */
	snprintf(body, sizeof body, "%scp.async.wait_group 0;\nbar.sync 0;\nand.b32 %%r6, %%r0, 7;\nshl.b32 %%r6, %%r6, 4;\n"
	         "add.s32 %%r6, %%r6, %%r1;\nldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%%r5}, [%%r6];", copy);
	int rc = run_small(body, 32, out, M, 256, err, sizeof err);
	int bad = 0;
	for (int l = 0; l < 32; l++) {
		uint32_t want = (uint32_t)M[(2 * (l % 4)) * 8 + l / 4] | ((uint32_t)M[(2 * (l % 4) + 1) * 8 + l / 4] << 16);
		bad += out[l] != want;
	}
	EXPECT(rc == 0 && bad == 0, "ldmatrix .trans: rc %d %s, %d wrong (lane 1: %08x)", rc, err, bad, out[1]);
	/* x1: lane l gets M[l/4][2(l%4)], M[l/4][2(l%4)+1] */
	snprintf(body, sizeof body, "%scp.async.wait_all;\nbar.sync 0;\nand.b32 %%r6, %%r0, 7;\nshl.b32 %%r6, %%r6, 4;\n"
	         "add.s32 %%r6, %%r6, %%r1;\nldmatrix.sync.aligned.m8n8.x1.shared.b16 {%%r5}, [%%r6];", copy);
	rc = run_small(body, 32, out, M, 256, err, sizeof err);
	bad = 0;
	for (int l = 0; l < 32; l++)
		bad += out[l] != ((uint32_t)M[(l / 4) * 8 + 2 * (l % 4)] | ((uint32_t)M[(l / 4) * 8 + 2 * (l % 4) + 1] << 16));
	EXPECT(rc == 0 && bad == 0, "ldmatrix: rc %d %s, %d wrong", rc, err, bad);
	/* reading before the wait sees the poisoned shared memory, after it the data */
	snprintf(body, sizeof body, "%sld.shared.u32 %%r5, [s];\ncp.async.wait_group 0;\nld.shared.u32 %%r6, [s];\n"
	         "setp.eq.s32 %%p2, %%r0, 1;\n@%%p2 mov.u32 %%r5, %%r6;", copy);
	rc = run_small(body, 32, out, M, 256, err, sizeof err);
	EXPECT(rc == 0 && out[0] == 0xffffffffu && out[1] == 0x00020001u, "stale before wait: %08x, after: %08x %s", out[0], out[1], err);
	/* wait_group 1 leaves the newest group in flight */
	rc = run_small("setp.eq.s32 %p1, %r0, 0;\n@%p1 cp.async.ca.shared.global [s], [%rd2], 4;\ncp.async.commit_group;\n"
	               "@%p1 cp.async.ca.shared.global [s+4], [%rd2+4], 4;\ncp.async.commit_group;\n"
	               "cp.async.wait_group 1;\nld.shared.u32 %r5, [s];\nld.shared.u32 %r6, [s+4];\nsetp.eq.s32 %p2, %r0, 1;\n"
	               "@%p2 mov.u32 %r5, %r6;", 2, out, M, 256, err, sizeof err);
	EXPECT(rc == 0 && out[0] == 0x00020001u, "wait_group 1: first group %08x %s", out[0], err);
	/* zero fill: a source size of 6 of 16 bytes */
	rc = run_small("mov.u32 %r7, 6;\ncp.async.ca.shared.global [s], [%rd2], 16, %r7;\ncp.async.wait_all;\n"
	               "ld.shared.u32 %r5, [s+4];\nsetp.eq.s32 %p2, %r0, 1;\nld.shared.u32 %r6, [s+8];\n@%p2 mov.u32 %r5, %r6;",
	               2, out, M, 256, err, sizeof err);
	EXPECT(rc == 0 && out[0] == 0x00000003u && out[1] == 0, "zero fill: %08x %08x %s", out[0], out[1], err);
	/* faults */
	rc = run_small("cp.async.ca.shared.global [s+4], [%rd2], 16;", 1, out, M, 256, err, sizeof err);
	EXPECT(rc == -1 && strstr(err, "misaligned shared store of 16 bytes"), "cp.async misaligned: %s", err);
	rc = run_small("cp.async.ca.shared.global [s], [%rd2+256], 16;", 1, out, M, 256, err, sizeof err);
	EXPECT(rc == -1 && strstr(err, "global load of 16 bytes"), "cp.async out of bounds: %s", err);
	rc = run_small("and.b32 %r6, %r0, 7;\nshl.b32 %r6, %r6, 3;\nadd.s32 %r6, %r6, %r1;\n"
	               "ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%r5}, [%r6];", 32, out, M, 256, err, sizeof err);
	EXPECT(rc == -1 && strstr(err, "thread (1,0,0)") && strstr(err, "misaligned shared load of 16 bytes"), "ldmatrix misaligned: %s", err);
	rc = run_small("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r5, %r6, %r7, %r8}, [s+256];", 32, out, M, 256, err, sizeof err);
	EXPECT(rc == -1 && strstr(err, "outside the 256 bytes"), "ldmatrix out of bounds: %s", err);
}

int main(void)
{
	test_mma(1);
	test_mma(0);
	test_ldmatrix_cp_async();
	FINISH();
}
