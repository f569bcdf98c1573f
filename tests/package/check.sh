#!/usr/bin/env bash
# The `package` test: installs the build in BUILD_DIR into a temporary prefix, then configures,
# builds and runs tests/package (a program that finds blockscribe with find_package).
set -euo pipefail
build_dir="$1"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
cmake -S "$here" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/build" >/dev/null
test -x "$tmp/prefix/bin/blockscribe"
test -f "$tmp/prefix/include/blockscribe/session/session.h"
"$tmp/build/uses_blockscribe"
