#!/bin/bash
# test.sh OUTDIR PKG... builds static test binaries for the given packages into
# OUTDIR and runs each under run.sh twice: with the default kernels and with
# EMBER_KERNELS=avx512bf16. It first checks that the guest's CPU really runs the
# avx512 and avx512bf16 kernels (their tests pass rather than skip), so a
# misconfigured emulator cannot pass. Exits 1 naming every run that failed.
set -euo pipefail

EMU=$(dirname "$0")/run.sh
OUT=$1
shift
mkdir -p "$OUT"
for p in "$@"; do
	CGO_ENABLED=0 go test -c -o "$OUT/$(basename "$p").test" "$p"
done

# EMU_DIR: the package directory becomes the guest program's working
# directory, as under `go test`.
CPU=./ember-core/cpu
CPUBIN=$OUT/cpu.test
[ -f "$CPUBIN" ] || CGO_ENABLED=0 go test -c -o "$CPUBIN" "$CPU"
log=$(EMU_DIR=$CPU "$EMU" "$CPUBIN" -test.v -test.run '^(TestDotRowsAsmMatchesGo|TestDotRowsDPBF16)$') ||
	{ echo "$log"; echo "test-avx512: the kernel check failed in the guest" >&2; exit 1; }
for t in TestDotRowsAsmMatchesGo/avx512 TestDotRowsDPBF16; do
	if ! grep -q -- "--- PASS: $t " <<<"$log"; then
		echo "$log"
		echo "test-avx512: $t did not pass in the guest (it has no AVX-512 or AVX512_BF16?)" >&2
		exit 1
	fi
done
echo "test-avx512: the guest runs the avx512 and avx512bf16 kernels"

failed=
for k in default avx512bf16; do
	for p in "$@"; do
		name=$(basename "$p")
		echo "== $name ($k kernels)"
		t0=$SECONDS
		env=()
		[ "$k" = default ] || env=(EMU_ENV_EMBER_KERNELS="$k")
		if env "${env[@]}" EMU_DIR="$p" "$EMU" "$OUT/$name.test"; then
			echo "-- $name ($k kernels): ok, $((SECONDS - t0))s"
		else
			echo "-- $name ($k kernels): FAILED, $((SECONDS - t0))s"
			failed="$failed $name($k)"
		fi
	done
done
if [ -n "$failed" ]; then
	echo "test-avx512: failed:$failed" >&2
	exit 1
fi
echo "test-avx512: all passed"
