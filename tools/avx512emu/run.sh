#!/bin/bash
# run.sh BINARY [ARGS...] boots a static linux/amd64 binary as the only program of
# a Linux guest under Bochs with an AVX-512 CPU model, prints the program's
# combined stdout and stderr, and exits with its exit status (128+N if signal N
# killed it; 124 on timeout; 125 if the guest died). Needs setup.sh's output in
# $EMBER_EMU_DIR (default $HOME/.cache/ember-avx512emu).
#
# Environment:
#   EMU_TIMEOUT      wall-clock seconds (default 1200)
#   EMU_CPU          Bochs CPU model (default sapphire_rapids; also tigerlake,
#                    corei7_icelake_u, corei7_skylake_x)
#   EMU_CPU_EXCLUDE  Bochs exclude_features (default for sapphire_rapids:
#                    la57,amx,amx_int8,amx_bf16; " " excludes nothing)
#   EMU_ENV_FOO=x    sets FOO=x for the guest program (GOMAXPROCS=1 is preset)
#   EMU_DIR          host directory copied to the program's working dir /work
#   EMU_CMDLINE      extra kernel arguments
#   EMU_IPS, EMU_MEGS  Bochs instructions per emulated second (default 1e8), RAM MB (1024)
#   EMU_KEEP=1       keep the scratch directory; EMU_VERBOSE=1 progress on stderr
set -u

DIR=${EMBER_EMU_DIR:-$HOME/.cache/ember-avx512emu}
BOCHS=$DIR/bochs/bin/bochs
KERNEL=$DIR/kernel/bzImage
INIT=$DIR/emuinit

[ $# -ge 1 ] || { echo "usage: $0 BINARY [ARGS...]" >&2; exit 2; }
if [ ! -x "$BOCHS" ] || [ ! -f "$KERNEL" ] || [ ! -x "$INIT" ]; then
	echo "run.sh: the AVX-512 emulator is not set up in $DIR; run tools/avx512emu/setup.sh first." >&2
	exit 2
fi
BIN=$(readlink -f "$1")
shift
[ -f "$BIN" ] || { echo "run.sh: no such binary: $BIN" >&2; exit 2; }

TIMEOUT=${EMU_TIMEOUT:-1200}
CPU=${EMU_CPU:-sapphire_rapids}
# Bochs 3.0's sapphire_rapids breaks two ways under this kernel: with LA57 the
# SMM resume (RSM) fails its CR4 check and Bochs panics, and with AMX the kernel
# takes a #GP in XSETBV. Nothing here needs either.
case "$CPU" in
sapphire_rapids) DEF_EXCL=la57,amx,amx_int8,amx_bf16 ;;
*) DEF_EXCL= ;;
esac
EXCL=${EMU_CPU_EXCLUDE-$DEF_EXCL}
CPU_EXTRA=
[ -n "${EXCL// /}" ] && CPU_EXTRA=", exclude_features=\"$EXCL\""
log() { [ -n "${EMU_VERBOSE:-}" ] && echo "[emu $(date +%T)] $*" >&2; return 0; }

W=$(mktemp -d "${TMPDIR:-/tmp}/ember-avx512emu.XXXXXX")
BPID=
cleanup() {
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	if [ -n "${EMU_KEEP:-}" ]; then echo "[emu] kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The initramfs: emuinit as /init, the program, its args and env (NUL-separated)
# and a nonce, so a program printing an exit marker cannot fake its status.
R=$W/root
mkdir -p "$R/emu" "$R/work" "$R/dev" "$R/proc" "$R/sys" "$R/tmp" "$W/iso"
install -m 755 "$INIT" "$R/init"
install -m 755 "$BIN" "$R/emu/bin"
NONCE=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '%s' "$NONCE" >"$R/emu/nonce"
: >"$R/emu/args"
for a in "$@"; do printf '%s\0' "$a" >>"$R/emu/args"; done
: >"$R/emu/env"
while IFS= read -r -d '' kv; do
	case "$kv" in EMU_ENV_*=*) printf '%s\0' "${kv#EMU_ENV_}" >>"$R/emu/env" ;; esac
done < <(env -0)
[ -n "${EMU_DIR:-}" ] && cp -a "$EMU_DIR"/. "$R/work/"
(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/iso/initrd.img"

# A bootable ISO: the Bochs BIOS boots CD-ROMs through isolinux without fuss.
# clearcpuid=fsrm: with FSRM advertised the guest kernel hangs under Bochs 3.0.
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$W/iso/"
cp "$KERNEL" "$W/iso/vmlinuz"
cat >"$W/iso/isolinux.cfg" <<CFG
DEFAULT emu
PROMPT 0
TIMEOUT 0
LABEL emu
  KERNEL /vmlinuz
  APPEND initrd=/initrd.img earlyprintk=serial,ttyS0,115200 console=ttyS0,115200 loglevel=4 clearcpuid=fsrm ${EMU_CMDLINE:-} nokaslr mitigations=off maxcpus=1 nosmp tsc=reliable no_timer_check lpj=1000000 panic=-1 rdinit=/init
CFG
xorriso -as mkisofs -quiet -o "$W/boot.iso" -b isolinux.bin -c boot.cat -no-emul-boot \
	-boot-load-size 4 -boot-info-table "$W/iso" 2>"$W/xorriso.log" || { cat "$W/xorriso.log" >&2; exit 125; }

# The kernel console goes to com1, the program's output to com2.
cat >"$W/bochsrc" <<RC
megs: ${EMU_MEGS:-1024}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=$CPU, count=1, ips=${EMU_IPS:-100000000}, reset_on_triple_fault=0$CPU_EXTRA
pci: enabled=1, chipset=i440fx
ata0-master: type=cdrom, path=$W/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$W/console.out
com2: enabled=1, mode=file, dev=$W/prog.out
display_library: nogui
mouse: enabled=0
clock: sync=none, time0=local
log: $W/bochs.log
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
RC
: >"$W/prog.out"
: >"$W/console.out"
log "booting $BOCHS cpu=$CPU work=$W"
T0=$(date +%s)
"$BOCHS" -q -f "$W/bochsrc" </dev/null >"$W/bochs.stdout" 2>&1 &
BPID=$!

# emuinit ends the program's output with "EMU-EXIT-<nonce> <status>" and then
# asks Bochs to quit; watch for the marker rather than trusting Bochs's exit.
exited() { tail -c 200 "$W/prog.out" | grep -aq "^EMU-EXIT-$NONCE [0-9]*\$"; }
state=
while :; do
	if exited; then state=done; break; fi
	if ! kill -0 "$BPID" 2>/dev/null; then
		sleep 0.5
		if exited; then state=done; else state=died; fi
		break
	fi
	if [ $(($(date +%s) - T0)) -ge "$TIMEOUT" ]; then state=timeout; break; fi
	sleep 0.5
done
log "$state after $(($(date +%s) - T0))s"
kill "$BPID" 2>/dev/null
wait "$BPID" 2>/dev/null
BPID=

if [ "$state" != done ]; then
	echo "[emu] $state after $(($(date +%s) - T0))s with no exit marker; console tail:" >&2
	tail -c 3000 "$W/console.out" >&2
	echo >&2
	tail -n 5 "$W/bochs.log" >&2
	# Whatever the program printed before it was cut off.
	python3 - "$W/prog.out" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'EMU-BEGIN\n')
sys.stdout.buffer.write(d[i + 10:] if i >= 0 else d)
PY
	[ "$state" = timeout ] && exit 124
	exit 125
fi
python3 - "$W/prog.out" "$NONCE" <<'PY'
import re, sys
d = open(sys.argv[1], 'rb').read()
d = d[d.find(b'EMU-BEGIN\n') + 10:]
m = b'\nEMU-EXIT-' + sys.argv[2].encode() + b' '
j = d.rfind(m)
sys.stdout.buffer.write(d[:j])
sys.stdout.flush()
sys.exit(int(re.match(rb'(\d+)', d[j + len(m):]).group(1)))
PY
