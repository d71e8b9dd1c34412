#!/usr/bin/env bash
# setup.sh — installs everything vitc's build and tests need, on Debian 12 (bookworm).
#
# Idempotent: run it as often as you like (scripts/main.sh and scripts/test.sh do). Needs
# root (or sudo). PyTorch is never needed: the reference vectors are committed.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config flex bison python3
  # the demo (scripts/main.sh): `time` for the compile timing, binutils for nm
  time binutils
  # unit tests
  libcmocka-dev
  # LLVM 15: the CPU backend (C API), FileCheck/not/lit for the golden tests, clang with
  # libFuzzer and the sanitizer runtimes (libclang-common-15-dev holds libclang_rt.*)
  llvm-15-dev llvm-15-tools clang-15 libclang-common-15-dev
  # what LLVM 15's CMake package and `llvm-config-15 --system-libs` link against
  # (LLVMConfig.cmake: FFI, Terminfo, ZLIB, LibXml2, Z3; zstd and libedit are off in this build)
  libffi-dev libncurses-dev zlib1g-dev libxml2-dev libz3-dev
  # OpenCL on the CPU through PoCL (the same LLVM 15)
  pocl-opencl-icd ocl-icd-opencl-dev opencl-headers clinfo
  # images for `vitc run`
  libpng-dev libjpeg62-turbo-dev
)

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: run as root (or install sudo)" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

missing() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

retry() {
  local i
  for i in 1 2 3; do
    "$@" && return 0
    [ "$i" -lt 3 ] && { echo "setup.sh: '$*' failed; retrying in 15 s" >&2; sleep 15; }
  done
  return 1
}

if ! retry $SUDO apt-get update -q; then
  # No package index: fine only when everything is installed already.
  if [ -n "$(missing)" ]; then
    echo "setup.sh: apt-get update failed and these are missing: $(missing | tr '\n' ' ')" >&2
    exit 1
  fi
  echo "setup.sh: warning: apt-get update failed, but every package is installed" >&2
fi
if [ -n "$(missing)" ]; then
  retry $SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${PACKAGES[@]}"
fi

# What the build and the tests look for, by path.
fail=0
for f in /usr/lib/llvm-15/bin/clang /usr/lib/llvm-15/bin/llvm-config /usr/lib/llvm-15/bin/FileCheck \
         /usr/lib/llvm-15/bin/not /usr/lib/llvm-15/build/utils/lit/lit.py /usr/include/cmocka.h; do
  [ -e "$f" ] || { echo "setup.sh: missing $f" >&2; fail=1; }
done
compgen -G '/usr/lib/llvm-15/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' >/dev/null ||
  { echo "setup.sh: missing libFuzzer (libclang_rt.fuzzer-x86_64.a)" >&2; fail=1; }
[ "$fail" -eq 0 ] || exit 1
echo "setup.sh: all ${#PACKAGES[@]} packages present ($(cmake --version | head -n 1), $(/usr/lib/llvm-15/bin/clang --version | head -n 1))"
