#!/usr/bin/env bash
# check.sh BUILD_DIR — installs the build into a temporary prefix and builds separate programs
# against it: with pkg-config (shared library), with find_package(weft) linking weft::weft and
# weft::weft_static, and a WEFT_NO_TRACING program compiled and linked with no libweft at all.
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
# weft::weft_static: libweft.a and its dependencies, no libweft.so at run time.
if ldd "$prefix/cmake-build/consumer_static" | grep -q 'libweft\.so'; then
  echo "consumer_static links libweft.so"; exit 1
fi
"$prefix/cmake-build/consumer_static"

# WEFT_NO_TRACING: only the headers, no -lweft, and nothing of weft in the binary.
cc -std=c11 -Wall -Wextra -Werror -I"$prefix/include" -o "$prefix/notrace" "$here/notrace.c"
if nm "$prefix/notrace" | grep -q ' U weft'; then
  echo "the WEFT_NO_TRACING program needs weft symbols"; exit 1
fi
"$prefix/notrace"
# The command-line tool lands in bin/ (when built) and runs from there.
if [ -f "$build/tools/weft" ]; then
  "$prefix/bin/weft" --version
  "$prefix/bin/weft" traces list --help >/dev/null
fi
echo "install check: pkg-config, find_package(weft) with weft::weft and weft::weft_static, WEFT_NO_TRACING without libweft, and bin/weft all work"
