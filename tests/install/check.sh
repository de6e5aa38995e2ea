#!/usr/bin/env bash
# check.sh BUILD_DIR — installs the build into a temporary prefix and builds a separate
# program against it twice: with pkg-config (shared library) and with find_package(weft).
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n1 | xargs dirname)

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -o "$prefix/consumer-pc" "$here/consumer.c" $(pkg-config --cflags --libs weft)
LD_LIBRARY_PATH="$libdir" "$prefix/consumer-pc"

cmake -S "$here" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$prefix/cmake-build/consumer"
# The command-line tool lands in bin/ (when built) and runs from there.
if [ -f "$build/tools/weft" ]; then
  "$prefix/bin/weft" --version
  "$prefix/bin/weft" traces list --help >/dev/null
fi
echo "install check: pkg-config and find_package(weft) both work; bin/weft runs"
