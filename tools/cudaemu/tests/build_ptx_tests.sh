#!/bin/sh
# Builds the PTX interpreter's tests and benchmark without the Makefile:
#   tools/cudaemu/tests/build_ptx_tests.sh [run]
# Binaries go to tools/cudaemu/build/ptx/; "run" runs the tests from
# tools/cudaemu (where they find ../../ember-cuda/kernels).
set -e
cd "$(dirname "$0")/.."
mkdir -p build/ptx
CFLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter ${EXTRA_CFLAGS:-}"
for t in tests/ptx_*_test.c tests/ptx_bench.c; do
	b=build/ptx/$(basename "$t" .c)
	gcc $CFLAGS -I. -o "$b" "$t" ptx_parse.c ptx_exec.c -lm
done
if [ "$1" = run ]; then
	for t in build/ptx/ptx_*_test; do
		echo "== $t"
		"$t"
	done
fi
