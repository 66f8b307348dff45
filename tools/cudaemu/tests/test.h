/*
 * test.h - the tests' harness: CHECK counts, names the failing line, and
 * DONE prints "N passed, N failed" and gives the exit status.
 */
#ifndef CUDAEMU_TEST_H
#define CUDAEMU_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                      \
	do {                                                                      \
		if (cond) {                                                           \
			test_passed++;                                                    \
		} else {                                                              \
			test_failed++;                                                    \
			fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                     \
			fputc('\n', stderr);                                              \
		}                                                                     \
	} while (0)

/* CHECK_CU: the call returns want. */
#define CHECK_CU(call, want)                                                  \
	do {                                                                      \
		int got_ = (call);                                                    \
		CHECK(got_ == (want), "%s returned %d, want %d", #call, got_, (int)(want)); \
	} while (0)

#define OK(call) CHECK_CU(call, 0)

#define DONE()                                                                \
	do {                                                                      \
		printf("%d passed, %d failed\n", test_passed, test_failed);           \
		return test_failed ? 1 : 0;                                           \
	} while (0)

#endif
