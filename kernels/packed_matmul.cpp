#include "kernels/packed_matmul.h"

#ifdef __AVX__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/thread_pool.h"

namespace bs::kernels {

namespace {

constexpr int kNR = 16;  // columns per panel: two 8-float vectors
constexpr int kMR = 6;   // rows per micro-tile: 6 x 2 accumulators + 2 panel loads + 1 broadcast
                         // = 15 of the 16 vector registers

// y(R, 16) (or += ) for R <= kMR rows of x against one panel p (C, 16); ncols <= 16 columns are
// stored. ldx/ldy: floats between rows.
template <int R>
void tile(const float* x, int ldx, const float* p, int C, float* y, int ldy, int ncols,
          bool accumulate) {
#if defined(__AVX__) && defined(__FMA__)
  // Named accumulators, not arrays: GCC keeps arrays of vectors in memory and stores them back
  // on every iteration (measured 38 GFLOP/s instead of ~90).
  const __m256 z = _mm256_setzero_ps();
  __m256 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z,
         c50 = z, c51 = z;
  const float* x0 = x;
  const float* x1 = x + ldx;
  const float* x2 = x + 2 * size_t(ldx);
  const float* x3 = x + 3 * size_t(ldx);
  const float* x4 = x + 4 * size_t(ldx);
  const float* x5 = x + 5 * size_t(ldx);
#define BS_ROW(i)                                   \
  if constexpr (R > i) {                            \
    const __m256 a = _mm256_broadcast_ss(x##i + k); \
    c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);      \
    c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);      \
  }
  for (int k = 0; k < C; ++k) {
    const __m256 b0 = _mm256_loadu_ps(p + size_t(k) * kNR);
    const __m256 b1 = _mm256_loadu_ps(p + size_t(k) * kNR + 8);
    BS_ROW(0) BS_ROW(1) BS_ROW(2) BS_ROW(3) BS_ROW(4) BS_ROW(5)
  }
#undef BS_ROW
  const __m256 acc[2 * kMR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int i = 0; i < R; ++i) {
    alignas(32) float out[kNR];
    _mm256_store_ps(out, acc[2 * i]);
    _mm256_store_ps(out + 8, acc[2 * i + 1]);
    float* yr = y + size_t(i) * ldy;
    if (accumulate)
      for (int j = 0; j < ncols; ++j) yr[j] += out[j];
    else
      std::memcpy(yr, out, sizeof(float) * ncols);
  }
#else
  // Portable path with the same arithmetic: one fused multiply-add chain per element.
  for (int i = 0; i < R; ++i) {
    float acc[kNR] = {};
    for (int k = 0; k < C; ++k)
      for (int j = 0; j < kNR; ++j)
        acc[j] = std::fma(x[size_t(i) * ldx + k], p[size_t(k) * kNR + j], acc[j]);
    float* yr = y + size_t(i) * ldy;
    for (int j = 0; j < ncols; ++j) yr[j] = accumulate ? yr[j] + acc[j] : acc[j];
  }
#endif
}

using TileFn = void (*)(const float*, int, const float*, int, float*, int, int, bool);
constexpr TileFn kTiles[kMR + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

#if defined(__x86_64__) && defined(__GNUC__)
#define BS_PACKED_AVX512 1
// The AVX-512 tile: R <= 8 rows against two neighbouring panels (32 columns), or one (TWO =
// false) when the matrix has an odd number of panels; one 16-float zmm per panel row.
// 16 accumulators + 2 panel loads + 1 broadcast of the 32 registers. On cores with two 512-bit
// FMA ports (Intel Xeon) this doubles the AVX2 tile's peak (measured 1.5-1.7x on generation,
// docs/BENCHMARKS.md); Zen 4 splits a zmm FMA in two, where it should gain little (not
// measured). Same arithmetic as tile(): each output is one FMA chain over k in order from
// zero, then stored or added, so both tiles give the same bits.
template <int R, bool TWO>
__attribute__((target("avx512f"))) void tile512(const float* x, int ldx, const float* p0,
                                                const float* p1, int C, float* y, int ldy,
                                                int ncols_last, bool accumulate) {
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z,
         c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
  const float* xr[8];
  for (int i = 0; i < 8; ++i) xr[i] = x + size_t(std::min(i, R - 1)) * ldx;
#define BS_ROW512(i)                                              \
  if constexpr (R > i) {                                          \
    const __m512 a = _mm512_set1_ps(xr[i][k]);                    \
    c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                    \
    if constexpr (TWO) c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1); \
  }
  for (int k = 0; k < C; ++k) {
    const __m512 b0 = _mm512_loadu_ps(p0 + size_t(k) * kNR);
    const __m512 b1 = TWO ? _mm512_loadu_ps(p1 + size_t(k) * kNR) : z;
    BS_ROW512(0)
    BS_ROW512(1) BS_ROW512(2) BS_ROW512(3) BS_ROW512(4) BS_ROW512(5) BS_ROW512(6) BS_ROW512(7)
  }
#undef BS_ROW512
  const __m512 acc[16] = {c00, c01, c10, c11, c20, c21, c30, c31,
                          c40, c41, c50, c51, c60, c61, c70, c71};
  // Only the last panel of the matrix may be partial: the second of a pair, or a single one.
  const __mmask16 last = __mmask16((1u << ncols_last) - 1);
  const __mmask16 m0 = TWO ? __mmask16(0xFFFF) : last;
  for (int i = 0; i < R; ++i) {
    float* yr = y + size_t(i) * ldy;
    __m512 v0 = acc[2 * i];
    if (accumulate) v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), v0);
    _mm512_mask_storeu_ps(yr, m0, v0);
    if constexpr (TWO) {
      __m512 v1 = acc[2 * i + 1];
      if (accumulate) v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(last, yr + kNR), v1);
      _mm512_mask_storeu_ps(yr + kNR, last, v1);
    }
  }
}

using Tile512Fn = void (*)(const float*, int, const float*, const float*, int, float*, int, int,
                           bool);
constexpr int kMR512 = 8;
template <bool TWO>
constexpr Tile512Fn kTiles512[kMR512 + 1] = {nullptr,         tile512<1, TWO>, tile512<2, TWO>,
                                             tile512<3, TWO>, tile512<4, TWO>, tile512<5, TWO>,
                                             tile512<6, TWO>, tile512<7, TWO>, tile512<8, TWO>};

bool avx512_default() {
  if (const char* e = std::getenv("BS_NO_AVX512"); e && *e && *e != '0') return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
#endif

bool& use_avx512() {
#ifdef BS_PACKED_AVX512
  static bool on = avx512_default();
#else
  static bool on = false;
#endif
  return on;
}

// Work below this many multiply-adds per thread is not worth a hand-off to the pool.
constexpr double kMinThreadMacs = 1 << 18;

}  // namespace

PackedMatrix pack_matrix(const float* w, int N, int C) {
  PackedMatrix m;
  m.N = N, m.C = C;
  m.data.assign(size_t(m.panels()) * C * kNR, 0.f);
  for (int n = 0; n < N; ++n) {
    float* panel = m.data.data() + size_t(n / kNR) * C * kNR;
    for (int k = 0; k < C; ++k) panel[size_t(k) * kNR + n % kNR] = w[size_t(n) * C + k];
  }
  return m;
}

const char* packed_isa() { return use_avx512() ? "avx512" : "avx2"; }

bool set_packed_avx512(bool on) {
#ifdef BS_PACKED_AVX512
  if (on && !avx512_default()) return false;
  use_avx512() = on;
  return true;
#else
  return !on;
#endif
}

void packed_matmul(float* y, const float* x, const PackedMatrix& w, int T, bool accumulate) {
  const int N = w.N, C = w.C, P = w.panels();
  if (T <= 0 || N <= 0) return;
#ifdef BS_PACKED_AVX512
  if (use_avx512()) {
    // Work items are panel pairs (the last one may be a single panel).
    const int pairs = (P + 1) / 2;
    auto run = [&](int q0, int q1) {
      for (int q = q0; q < q1; ++q) {
        const int p = 2 * q;
        const bool two = p + 1 < P;
        const float* panel0 = w.data.data() + size_t(p) * C * kNR;
        const float* panel1 = two ? panel0 + size_t(C) * kNR : panel0;
        const int ncols1 = std::min(kNR, N - (two ? p + 1 : p) * kNR);
        for (int i = 0; i < T; i += kMR512) {
          const int r = std::min(kMR512, T - i);
          (two ? kTiles512<true> : kTiles512<false>)[r](x + size_t(i) * C, C, panel0, panel1, C,
                                                        y + size_t(i) * N + size_t(p) * kNR, N,
                                                        ncols1, accumulate);
        }
      }
    };
    const double macs = double(T) * C * N;
    if (num_threads() <= 1 || pairs < 2 || macs < 2 * kMinThreadMacs)
      run(0, pairs);
    else
      parallel_for(pairs, run);
    return;
  }
#endif
  auto run = [&](int p0, int p1) {
    // Panel-major: a panel (C·16 floats, 16-64 KiB here) stays in L1/L2 while every row tile
    // passes over it; the rows x (T, C) stay in L2.
    for (int p = p0; p < p1; ++p) {
      const float* panel = w.data.data() + size_t(p) * C * kNR;
      const int ncols = std::min(kNR, N - p * kNR);
      for (int i = 0; i < T; i += kMR) {
        const int r = std::min(kMR, T - i);
        kTiles[r](x + size_t(i) * C, C, panel, C, y + size_t(i) * N + size_t(p) * kNR, N, ncols,
                  accumulate);
      }
    }
  };
  const double macs = double(T) * C * N;
  if (num_threads() <= 1 || P < 2 || macs < 2 * kMinThreadMacs) {
    run(0, P);
    return;
  }
  parallel_for(P, run);
}

}  // namespace bs::kernels
