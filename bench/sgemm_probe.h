// Same-run reference rates for the benchmarks: a plain OpenBLAS sgemm and a pure-FMA loop.
// Each benchmark prints its own GFLOP/s next to these, measured in the same process moments
// earlier, so ratios survive the noise of a shared 2-core machine.
#pragma once
#include <vector>

namespace bs::bench {

// Command line shared by the benchmarks: [--repeats N] [--threads-list 1,2].
struct BenchArgs {
  int repeats;
  std::vector<int> threads = {1, 2};
};
// Parses argv into a (whose fields hold the defaults) with CLI11. Returns -1 to go on, or the exit
// code for main: 0 after --help, 2 after a usage error (CLI11 printed it).
int parse_bench_args(int argc, char** argv, const char* name, BenchArgs& a);

// GFLOP/s (2·M·N·K per call) of cblas_sgemm C(M,N) = A(M,K)·B(K,N) with `threads` OpenBLAS
// threads, median over repeated calls filling at least `seconds`. Leaves OpenBLAS at 1 thread.
double sgemm_gflops(int threads, int M, int N, int K, double seconds);

// GFLOP/s of independent FMA chains on `threads` threads: the machine's peak as seen now, with
// 512-bit FMAs where the CPU has AVX-512, else 256-bit ones (fma_probe_width() says which).
double fma_probe_gflops(int threads, double seconds);
const char* fma_probe_width();

}  // namespace bs::bench
