#!/bin/bash
# setup.sh [DIR] builds what run.sh needs to run a Go test binary on an emulated
# AVX-512 CPU: Bochs 3.0 (AVX/EVEX, plus the BF16 fix), a small Linux 6.1 kernel
# and the guest's /init. DIR defaults to $EMBER_EMU_DIR, then
# $HOME/.cache/ember-avx512emu. Each step is skipped when its output exists, so a
# rerun only redoes what is missing. Debian bookworm amd64; installs its apt
# packages (as root, or through sudo). About 15-20 minutes on two cores.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-${EMBER_EMU_DIR:-$HOME/.cache/ember-avx512emu}}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
JOBS=$(nproc)

BOCHS_TAR=bochs_3.0+dfsg.orig.tar.xz
# Debian's bochs 2.7 (bookworm) has no AVX at all; 3.0 is only in trixie's pool.
BOCHS_URL=http://deb.debian.org/debian/pool/main/b/bochs/$BOCHS_TAR
BOCHS_SHA256=78f6c73d4a6472d5130a87ab9dc306d02c7c71ed8e25b3a8ef642e2a7acd282b

step() { echo "== avx512emu: $*"; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# quiet LOG CMD... keeps a build's chatter in LOG and shows its tail if it fails.
quiet() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "setup.sh: failed: $* (log: $log)" >&2; exit 1; }
}

# --- 0. packages: build tools, plus the BIOS images and ISO tools run.sh uses ---
PKGS="bochsbios vgabios isolinux syslinux-common xorriso cpio curl xz-utils python3
  build-essential flex bison bc libelf-dev libssl-dev libncurses-dev"
# shellcheck disable=SC2086
if ! dpkg -s $PKGS >/dev/null 2>&1; then
	step "installing packages"
	sudo_ apt-get update
	# shellcheck disable=SC2086
	sudo_ apt-get install -y $PKGS
fi
command -v go >/dev/null || { echo "setup.sh: go is not on PATH (needed for the guest init)" >&2; exit 1; }

# --- 1. Bochs 3.0 ---
if [ -x "$DIR/bochs/bin/bochs" ]; then
	step "bochs: $DIR/bochs/bin/bochs exists, skipping"
else
	step "bochs: building"
	mkdir -p "$DIR/src"
	cd "$DIR/src"
	[ -f "$BOCHS_TAR" ] || curl -fsSLO "$BOCHS_URL"
	echo "$BOCHS_SHA256  $BOCHS_TAR" | sha256sum -c -
	rm -rf bochs-3.0
	tar xf "$BOCHS_TAR"
	cd bochs-3.0
	patch -p1 < "$HERE/bochs-3.0-bf16-fix.patch"
	# Only what the guest needs: a CPU with AVX-512, a CD-ROM to boot from and
	# serial ports; no GUI, no plugins. -march=native: this build stays on this
	# machine and emulation speed is all that matters.
	quiet configure.log ./configure --prefix="$DIR/bochs" --enable-x86-64 --enable-cpu-level=6 \
		--enable-avx --enable-evex --enable-amx --enable-all-optimizations \
		--enable-pci --enable-usb=no --enable-cdrom --enable-a20-pin \
		--enable-clgd54xx=no --enable-sb16=no --enable-es1370=no \
		--enable-ne2000=no --enable-e1000=no \
		--with-nogui --without-term --disable-plugins --disable-docbook \
		CFLAGS="-O2 -march=native" CXXFLAGS="-O2 -march=native"
	quiet make.log make -j"$JOBS"
	quiet install.log make install
	cd "$DIR/src"
	rm -rf bochs-3.0
fi

# --- 2. Linux 6.1: tinyconfig plus the few options kernel.config names ---
if [ -f "$DIR/kernel/bzImage" ]; then
	step "kernel: $DIR/kernel/bzImage exists, skipping"
else
	step "kernel: building"
	B=$DIR/src/linux
	rm -rf "$B"
	mkdir -p "$B" "$DIR/kernel"
	cd "$B"
	# (As root, apt warns that it downloads unsandboxed here: harmless.)
	apt-get download linux-source-6.1
	dpkg-deb -x linux-source-6.1_*.deb deb
	tar xf deb/usr/src/linux-source-6.1.tar.xz
	cd linux-source-6.1
	quiet config.log make ARCH=x86_64 tinyconfig
	quiet merge.log ./scripts/kconfig/merge_config.sh -m .config "$HERE/kernel.config"
	quiet olddefconfig.log make ARCH=x86_64 olddefconfig
	quiet make.log make ARCH=x86_64 -j"$JOBS" bzImage
	cp .config "$DIR/kernel/config"
	cp arch/x86/boot/bzImage "$DIR/kernel/bzImage"
	cd "$DIR"
	rm -rf "$B"
fi

# --- 3. the guest's /init: a static Go program, its own module ---
if [ -x "$DIR/emuinit" ] && [ -z "$(find "$HERE/emuinit" -newer "$DIR/emuinit" -type f)" ]; then
	step "emuinit: $DIR/emuinit is current, skipping"
else
	step "emuinit: building"
	(cd "$HERE/emuinit" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$DIR/emuinit" .)
fi

step "done: EMBER_EMU_DIR=$DIR"
