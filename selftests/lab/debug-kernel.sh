#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (once), cache and install the lab's debug kernel: Debian's kernel
# source (package linux-source-<series>) with selftests/lab/debug.config on
# top of allnoconfig: KASAN, lockdep, kmemleak, DEBUG_LIST, DEBUG_OBJECTS,
# hung-task detection and fault injection, with all the lab needs built in.
#
#   selftests/lab/debug-kernel.sh [--series 6.12] [--jobs N] [--print-kver]
#
# The build is cached outside the clone, in $TDSM_CACHE (default
# /var/cache/tinydsm) under kernel/<series>/, with the key it was built for:
# a hash of the source package's version, debug.config and RECIPE below. A
# second run on the same machine reuses it; a change to any of them builds
# it anew in the same place (the path is fixed: the module's build reads
# absolute paths from the tree).
#
# It is then installed like any kernel, so that the lab and the module's
# build find it by its release, <version>-tdsm-debug:
#   /boot/vmlinuz-<release>               the bzImage
#   /lib/modules/<release>/               modules.builtin & co (depmod)
#   /lib/modules/<release>/build ->       the cached build tree (for M=)
# Prints the release on its last line (only that with --print-kver, which
# builds nothing: it fails if the kernel is not built yet).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
series=6.12
jobs=$(nproc)
print_only=0
while (($#)); do
	case $1 in
	--series) series=${2:?}; shift 2 ;;
	--jobs) jobs=${2:?}; shift 2 ;;
	--print-kver) print_only=1; shift ;;
	*) echo "usage: $0 [--series 6.12] [--jobs N] [--print-kver]" >&2; exit 2 ;;
	esac
done

say() { echo "debug-kernel: $*" >&2; }
# The kernel's make, quiet, in the cached tree; no "Entering directory"
# lines, which a parent make would otherwise ask for (the release is read
# from its output).
kmake() { make -s --no-print-directory -C "$src" O="$obj" "$@"; }
die() { say "$*"; exit 1; }

pkg=linux-source-$series
tarball=/usr/src/$pkg.tar.xz
pkgver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
	die "Debian package $pkg is not installed (make deps installs it)"
[[ -r $tarball ]] || die "$tarball missing (reinstall $pkg)"

# Bump when a change to this script changes what it builds.
RECIPE=1
cache=${TDSM_CACHE:-/var/cache/tinydsm}
key=$( {
	echo "$pkg $pkgver recipe $RECIPE"
	cat "$here/debug.config"
} | sha256sum | cut -c1-16)
dir=$cache/kernel/$series
src=$dir/src
obj=$dir/obj

install_kernel() {
	local kver
	kver=$(cat "$dir/kernelrelease")
	if [[ $(readlink "/lib/modules/$kver/build" 2>/dev/null) != "$obj" ||
		! -e /boot/vmlinuz-$kver ||
		! /boot/vmlinuz-$kver -ef $dir/bzImage ]]; then
		say "installing $kver (/boot/vmlinuz-$kver, /lib/modules/$kver)"
		rm -rf "/lib/modules/$kver"
		kmake INSTALL_MOD_PATH=/ modules_install >&2
		ln -sfn "$obj" "/lib/modules/$kver/build"
		ln -f "$dir/bzImage" "/boot/vmlinuz-$kver" 2>/dev/null ||
			cp -f "$dir/bzImage" "/boot/vmlinuz-$kver"
	fi
	echo "$kver"
}

# One build or install at a time per series: a make check left building
# in the background (selftests/debug_build.sh) and a new one share $dir.
mkdir -p "$cache/kernel"
exec 9>"$cache/kernel/$series.lock"
flock -w 7200 9 || die "another build of $dir held its lock for 2 hours"

if [[ -e $dir/done && $(cat "$dir/key" 2>/dev/null) == "$key" ]]; then
	install_kernel
	exit 0
fi
((!print_only)) || die "no debug kernel built for $pkg $pkgver and this debug.config: run $0"

for c in gcc make bc flex bison perl xz; do
	command -v "$c" >/dev/null || die "missing $c (make deps installs it)"
done
[[ -e /usr/include/libelf.h ]] || die "missing libelf.h (Debian package libelf-dev)"

t0=$SECONDS
[[ -e $dir ]] && say "replacing $dir (built for another key)"
rm -rf "$dir"
mkdir -p "$src" "$obj"
echo "$key" >"$dir/key"
say "extracting $tarball ($pkg $pkgver)"
tar -xJf "$tarball" -C "$src" --strip-components=1
say "configuring (allnoconfig + debug.config) in $obj"
kmake KCONFIG_ALLCONFIG="$here/debug.config" allnoconfig >&2

# Every option asked for must be in the result as asked: Kconfig drops a
# symbol whose dependencies are not met without a word.
missing=$(grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' "$here/debug.config" |
	while IFS= read -r line; do
		grep -qxF "$line" "$obj/.config" || echo "  $line"
	done)
[[ -z $missing ]] || die "options not taken by Kconfig (see $obj/.config):
$missing"

say "building with $jobs jobs (the first time takes a while)"
nice -n 5 make -s --no-print-directory -C "$src" O="$obj" -j"$jobs" bzImage modules >"$dir/build.log" 2>&1 ||
	{ tail -n 40 "$dir/build.log" >&2; die "kernel build failed (log: $dir/build.log)"; }
cp "$obj/arch/x86/boot/bzImage" "$dir/bzImage"
kmake kernelrelease >"$dir/kernelrelease"
say "built $(cat "$dir/kernelrelease") in $((SECONDS - t0)) s"
touch "$dir/done"
install_kernel
