#!/usr/bin/env bash
# Configures and builds one CMake preset (default cpu-release) into build/<preset>; further
# arguments name the targets to build (default: all), e.g. `scripts/build.sh cpu-release blockscribe`.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-cpu-release}"
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
