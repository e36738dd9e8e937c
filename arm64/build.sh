#!/bin/sh
# Builds the emulated ARM64 environment of `make arm64` into $1 (.arm64): QEMU user mode with
# plugins (Debian 12's dynamic qemu-aarch64 7.2), an arm64 Python 3.11 unpacked from Debian's arm64
# packages (no chroot, no root filesystem), the aarch64 wheels of LiteRT 2.3 and tflite-runtime 2.14,
# and the instruction-counting plugin. Needs apt (as root) and the Debian and PyPI registries.
set -eu
out=$1
pip="$2 -m pip"
here=$(dirname "$0")
rm -rf "$out" && mkdir -p "$out/debs" "$out/sysroot"

# apt changes the system (qemu-user, Debian's arm64 architecture): say so in one line rather than fail halfway.
needs_root() {
    [ "$(id -u)" -eq 0 ] || { echo "arm64: $1 needs root (apt); run \`sudo make arm64\` once, then make test" >&2; exit 1; }
}

if ! qemu-aarch64 -h 2>/dev/null | grep -q -- '^-plugin'; then
    needs_root "installing qemu-user"
    echo "arm64: apt-get install qemu-user (the dynamic qemu-aarch64, which takes -plugin)"
    apt-get install -y -q qemu-user >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q qemu-user >/dev/null; }
fi

dpkg --print-foreign-architectures | grep -qx arm64 || {
    needs_root "adding Debian's arm64 architecture"
    dpkg --add-architecture arm64 && apt-get update -q >/dev/null
}
apt-cache show libc6:arm64 >/dev/null 2>&1 || { needs_root "apt-get update" && apt-get update -q >/dev/null; }
echo "arm64: Debian arm64 packages of arm64/packages.txt -> $out/sysroot"
grep -v '^#' "$here/packages.txt" | while IFS='=' read -r name version; do
    [ -n "$name" ] || continue
    (cd "$out/debs" && apt-get download -q "$name:arm64=$version" >/dev/null 2>&1) || {
        echo "arm64: $name:arm64=$version is no longer in the archive; taking its current version (update packages.txt)"
        (cd "$out/debs" && apt-get download -q "$name:arm64" >/dev/null)
    }
done
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out/sysroot"; done
rm -rf "$out/debs"

wheels="--quiet --only-binary=:all: --python-version 3.11 --implementation cp --platform manylinux2014_aarch64"
wheels="$wheels --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64"
echo "arm64: aarch64 wheels -> $out/litert, $out/tflite-runtime"
$pip install $wheels --no-deps --target "$out/litert" -r "$here/requirements-litert.txt"
$pip install $wheels --no-deps --target "$out/tflite-runtime" -r "$here/requirements-tflite-runtime.txt"

gcc -shared -fPIC -O2 -Wall -Werror -o "$out/count_instructions.so" "$here/count_instructions.c"
qemu-aarch64 --version | head -1 > "$out/versions.txt"
touch "$out/.installed"
