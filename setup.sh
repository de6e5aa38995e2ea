#!/usr/bin/env bash
# setup.sh — installs what weft needs on Debian 12 (as root, non-interactive), builds it and
# runs the demo, which writes traces to weft-traces.jsonl with no account needed.
#
#   sudo ./setup.sh          install packages, build, run the demo   (README, first command)
#   ./setup.sh --test        the same build, then the whole test suite (README, second command)
#   ./setup.sh --deps-only   only install the packages
set -euo pipefail
cd "$(dirname "$0")"

# openssl: the TLS test makes its own certificate for the loopback receiver.
# chromium: the browser test of `weft view --html` (headless, no network).
# protobuf-c-compiler, libprotobuf-c-dev, zlib1g-dev: the otlp exporter (code generated from proto/, gzip).
PACKAGES=(build-essential cmake ninja-build pkg-config clang
          libuv1-dev libcurl4-openssl-dev libmsgpack-dev
          libcriterion-dev libmicrohttpd-dev libjansson-dev openssl chromium
          protobuf-c-compiler libprotobuf-c-dev zlib1g-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
      echo "setup.sh: run as root to install: ${missing[*]}" >&2; exit 1; fi
  else SUDO=; fi
  echo "setup.sh: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ "${1:-}" = "--deps-only" ] && exit 0

BUILD=${WEFT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

if [ "${1:-}" = "--test" ]; then
  cd "$BUILD" && exec ctest --output-on-failure
fi
exec "$BUILD/examples/weft_demo"
