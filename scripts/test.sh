#!/usr/bin/env bash
# Builds and runs every test: the release build runs the unit and slow suites; the debug build
# (no optimisation: it shows what the optimiser can hide, such as two types of one name linked
# into one program) and the AddressSanitizer + UBSan build run the unit suite (which includes the
# CLI's bad-input tests and every kept fuzz input); then each libFuzzer target runs for 15 s
# (scripts/fuzz.sh). Where nvcc is installed the CUDA tree builds the CUDA kernels and the gpu
# tests; those are skipped, and reported as skipped, where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
scripts/build.sh cpu-release
ctest --preset cpu-release -j "$jobs" -L 'unit|slow' --timeout 300
if [ "${BS_SKIP_DEBUG:-0}" != 1 ]; then
  scripts/build.sh cpu-debug
  ctest --preset cpu-debug -j "$jobs" -L unit --timeout 600
fi
if [ "${BS_SKIP_ASAN:-0}" != 1 ]; then
  scripts/build.sh cpu-asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --preset cpu-asan -j "$jobs" -L unit --timeout 300
fi
# The CUDA backend wherever nvcc is installed (a GPU is not needed to build it): the kernels
# and the gpu tests, which run where a GPU is and are reported as skipped where none is.
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  scripts/build.sh cuda-release bs_cuda gpu_ops
  ctest --test-dir build/cuda-release -L gpu --timeout 600 --output-on-failure
else
  echo "test.sh: no nvcc: the CUDA backend is not built" >&2
fi
if [ "${BS_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh 15
fi
