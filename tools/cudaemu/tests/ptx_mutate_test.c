/* ptx_mutate_test.c - ptx_load on damaged modules: truncated, with bytes
 * flipped, deleted or duplicated, it either loads or fails with a
 * "ptx line N: ..." sentence; it never crashes (run it under ASan). (Damaged
 * modules that still load are not launched: a damaged loop may never end.) */
#include "ptx_common.h"

static uint64_t st = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
	st ^= st << 13;
	st ^= st >> 7;
	st ^= st << 17;
	return st;
}

int main(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/elementwise.ptx", t_kernels_dir());
	char *orig = t_read_file(path);
	EXPECT(orig != NULL, "cannot read %s", path);
	if (!orig)
		FINISH();
	size_t n = strlen(orig);
	char *buf = malloc(n * 2 + 16);
	const char junk[] = "{}[];,.%@!|+-0123456789abcdefxyz_$ \n\t\"<>";
	int loaded = 0, refused = 0, badmsg = 0;
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = n;
		memcpy(buf, orig, n + 1);
		int kind = (int)(rnd() % 4);
		int edits = 1 + (int)(rnd() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = rnd() % (len ? len : 1);
			switch (kind) {
			case 0: len = at; buf[len] = 0; break; /* truncate */
			case 1: buf[at] = junk[rnd() % (sizeof junk - 1)]; break;
			case 2: memmove(buf + at, buf + at + 1, len - at); len--; break;
			default: {
				size_t span = 1 + rnd() % 40;
				if (at + span > len)
					span = len - at;
				memmove(buf + at + span, buf + at, len - at + 1);
				len += span;
				break;
			}
			}
		}
		char err[300];
		err[0] = 0;
		ptx_module *m = ptx_load(buf, err, sizeof err);
		if (!m) {
			refused++;
			if (strncmp(err, "ptx line ", 9) != 0) {
				if (badmsg++ < 3)
					fprintf(stderr, "message without a line: %s\n", err);
			}
			continue;
		}
		loaded++;
		/* what loads must be self-consistent: kernels findable, params sized */
		ptx_kernel *k = ptx_kernel_find(m, "add_f32");
		if (k)
			for (int i = 0; i < ptx_kernel_nparams(k); i++)
				if (ptx_kernel_param_size(k, i) == 0)
					badmsg++;
		ptx_unload(m);
	}
	EXPECT(refused > 1000, "only %d of 3000 damaged modules refused", refused);
	EXPECT(badmsg == 0, "%d refusals without a line number", badmsg);
	printf("damaged modules: %d refused, %d loaded\n", refused, loaded);
	free(buf);
	free(orig);
	FINISH();
}
