#include "bench/sgemm_probe.h"

#include <CLI/CLI.hpp>

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace bs::bench {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 10 independent accumulators hide the FMA latency (4 cycles, 2 ports). Returns FLOPs done.
double fma_loop(double seconds) {
  __m256 acc[10];
  for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  double flops = 0, t0 = now();
  while (now() - t0 < seconds) {
    for (int it = 0; it < 100000; ++it)
      for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    flops += 100000.0 * 10 * 8 * 2;
  }
  float sink = 0;
  for (int i = 0; i < 10; ++i) sink += _mm256_cvtss_f32(acc[i]);
  volatile float keep = sink;  // keeps the loop from being optimised away
  (void)keep;
  return flops;
}

// The same with 512-bit FMAs, for CPUs that have them: on cores with two 512-bit FMA ports
// (Intel Xeon) their peak is twice the 256-bit one.
__attribute__((target("avx512f"))) double fma_loop512(double seconds) {
  __m512 acc[10];
  for (int i = 0; i < 10; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  double flops = 0, t0 = now();
  while (now() - t0 < seconds) {
    for (int it = 0; it < 100000; ++it)
      for (int i = 0; i < 10; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    flops += 100000.0 * 10 * 16 * 2;
  }
  // Stored and summed by hand: GCC 12's _mm512_reduce_add_ps warns falsely (-Wuninitialized).
  alignas(64) float lanes[16];
  float sink = 0;
  for (int i = 0; i < 10; ++i) {
    _mm512_store_ps(lanes, acc[i]);
    for (float v : lanes) sink += v;
  }
  volatile float keep = sink;
  (void)keep;
  return flops;
}

bool have_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

}  // namespace

const char* fma_probe_width() { return have_avx512() ? "512-bit" : "256-bit"; }

int parse_bench_args(int argc, char** argv, const char* name, BenchArgs& a) {
  CLI::App app{std::string(name) + ": throughput beside a same-run sgemm and FMA probe"};
  app.add_option("--repeats", a.repeats, "Timed repeats (the median is reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--threads-list", a.threads, "Thread counts to run, e.g. 1,2")
      ->delimiter(',')
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return -1;
}

double sgemm_gflops(int threads, int M, int N, int K, double seconds) {
  openblas_set_num_threads(threads);
  std::vector<float> A(size_t(M) * K, 0.5f), B(size_t(K) * N, 0.25f), C(size_t(M) * N);
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, A.data(), K, B.data(), N,
                0.f, C.data(), N);
  };
  call();  // warm-up: thread start, page faults
  std::vector<double> t;
  double start = now();
  while (now() - start < seconds || t.size() < 5) {
    double t0 = now();
    call();
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  // Back to one OpenBLAS thread: the kernels' own pool does the threading (kernels/cpu_ops.cpp).
  // Leaving OpenBLAS at `threads` made every later product start its own threads inside each
  // pool thread — 4 threads on 2 cores, spin-waiting — and the 2-thread figures measured after a
  // 1-thread run collapsed (a bug in this probe until 2026-11-23, see docs/BENCHMARKS.md).
  openblas_set_num_threads(1);
  return 2.0 * M * N * K / t[t.size() / 2] / 1e9;
}

double fma_probe_gflops(int threads, double seconds) {
  std::vector<double> flops(threads);
  std::vector<std::thread> pool;
  double t0 = now();
  const bool wide = have_avx512();
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] { flops[i] = wide ? fma_loop512(seconds) : fma_loop(seconds); });
  for (auto& th : pool) th.join();
  double total = 0;
  for (double f : flops) total += f;
  return total / (now() - t0) / 1e9;
}

}  // namespace bs::bench
