// Optimised CPU ops: Eigen maps whose products go to OpenBLAS sgemm (EIGEN_USE_BLAS), simple
// loops the compiler vectorises, and coarse splits across the kernels thread pool.
//
// Determinism: every result is independent of num_threads(). Work is cut into pieces whose
// boundaries depend only on the shape (and, for matmul, the machine's core count), never on the
// thread count; the pool only decides which thread runs which piece. This matters because an
// sgemm row is NOT independent of the number of rows in the call (measured: OpenBLAS 0.3.21 gives
// different last bits for the same row in a 512-row call and in a 256-row call), so "one chunk per
// thread" would make results depend on the thread count. No reduction is ever split across threads.
#include <cblas.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/fast_exp.h"
#include "kernels/kernels.h"
#include "kernels/row_ops.h"
#include "kernels/thread_pool.h"

namespace bs::kernels {
namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::OuterStride<>;
using CMap = Eigen::Map<const MatR, Eigen::Unaligned, Strided>;
using MMap = Eigen::Map<MatR, Eigen::Unaligned, Strided>;

// Below this much work (flops or elements) a piece is not worth waking a thread for.
constexpr double kMinPieceFlops = 4e6;     // ~40 us of sgemm
constexpr int64_t kMinPieceElems = 32768;  // ~10-20 us of a streaming loop
constexpr int kAttnRowsPerTask = 64;       // query rows per attention task

// Matmul row blocks per call (for large products): the machine's core count, so both cores get a
// block; fixed for the process, hence independent of num_threads().
int matmul_max_blocks() {
  static const int n = [] {
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    return std::clamp(hw, 1, 16);
  }();
  return n;
}

// Runs fn(b, e) over [0, n) rows split into at most num_threads() chunks, fewer when the total
// work is small. Only for ops whose rows are independent and computed the same in any chunk.
template <class Fn>
void for_rows(int n, int64_t work, Fn&& fn) {
  const int64_t want = work / kMinPieceElems;
  const int pieces = static_cast<int>(std::min<int64_t>({want, num_threads(), n}));
  if (pieces <= 1) {
    fn(0, n);
    return;
  }
  parallel_for(pieces, [&](int b, int e) {
    fn(static_cast<int>(int64_t(n) * b / pieces), static_cast<int>(int64_t(n) * e / pieces));
  });
}

// ---- elementwise helpers: loops GCC vectorises (checked with -fopt-info-vec) or AVX intrinsics
// for the reductions, which GCC leaves scalar. std::fma is exact, so a vectorised lane and the
// scalar tail give the same bits for the same input.

// max of x[0, n), n >= 1.
inline float row_max(const float* x, int n) {
  float r = x[0];
  int j = 0;
#ifdef __AVX__
  if (n >= 8) {
    __m256 m = _mm256_loadu_ps(x);
    for (j = 8; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
    alignas(32) float lane[8];
    _mm256_store_ps(lane, m);
    for (float v : lane) r = std::max(r, v);
  }
#endif
  for (; j < n; ++j) r = std::max(r, x[j]);
  return r;
}

// x[j] = exp(x[j] - mx) for j < n; returns the sum (eight lanes, fixed order).
inline float exp_sub_sum(float* x, int n, float mx) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int l = 0; l < 8; ++l) {
      const float e = exp_approx(x[j + l] - mx);
      x[j + l] = e;
      s[l] += e;
    }
  }
  for (; j < n; ++j) {
    x[j] = exp_approx(x[j] - mx);
    s[0] += x[j];
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// sum of x[c]^2 over [0, n); the order depends only on n.
inline float sum_squares(const float* x, int n) {
  float r = 0.0f;
  int j = 0;
#if defined(__AVX__) && defined(__FMA__)
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (; j + 16 <= n; j += 16) {
    const __m256 a = _mm256_loadu_ps(x + j), b = _mm256_loadu_ps(x + j + 8);
    s0 = _mm256_fmadd_ps(a, a, s0);
    s1 = _mm256_fmadd_ps(b, b, s1);
  }
  alignas(32) float lane[8];
  _mm256_store_ps(lane, _mm256_add_ps(s0, s1));
  for (float v : lane) r += v;
#endif
  for (; j < n; ++j) r = std::fma(x[j], x[j], r);
  return r;
}

// ---- matmul ----------------------------------------------------------------------------------

// y(T,N) = x(T,C) · w(N,C)^T: T is cut into blocks of whole rows (boundaries multiples of 16),
// one Eigen product (= one sgemm) per block, blocks spread over the pool.
void cpu_matmul(float* y, const float* x, const float* w, int T, int C, int N, bool accumulate) {
  if (T <= 0 || N <= 0) return;
  if (C <= 0) {
    if (!accumulate) std::fill(y, y + size_t(T) * N, 0.0f);
    return;
  }
  const double flops = 2.0 * T * C * N;
  const int blocks = static_cast<int>(std::max<double>(
      1, std::min<double>({double(matmul_max_blocks()), flops / kMinPieceFlops, double(T / 16)})));
  auto row_at = [&](int blk) {
    if (blk >= blocks) return T;
    return static_cast<int>((int64_t(T) * blk / blocks + 8) / 16 * 16);
  };
  const CMap W(w, N, C, Strided(C));
  auto run = [&](int b, int e) {
    for (int blk = b; blk < e; ++blk) {
      const int r0 = row_at(blk), r1 = row_at(blk + 1);
      const CMap X(x + size_t(r0) * C, r1 - r0, C, Strided(C));
      MMap Y(y + size_t(r0) * N, r1 - r0, N, Strided(N));
      if (accumulate) {
        Y.noalias() += X * W.transpose();
      } else {
        Y.noalias() = X * W.transpose();
      }
    }
  };
  if (blocks == 1) {
    run(0, 1);
  } else {
    parallel_for(blocks, run);
  }
}

// ---- rmsnorm ---------------------------------------------------------------------------------

void cpu_rmsnorm(float* y, float* rstd, const float* x, const float* w, int T, int C, float eps) {
  if (T <= 0 || C <= 0) return;
  for_rows(T, int64_t(T) * C, [&](int b, int e) {
    for (int t = b; t < e; ++t) {
      const float* xr = x + size_t(t) * C;
      float* yr = y + size_t(t) * C;
      const float r = 1.0f / std::sqrt(sum_squares(xr, C) / float(C) + eps);
      for (int c = 0; c < C; ++c) yr[c] = xr[c] * r * w[c];
      if (rstd) rstd[t] = r;
    }
  });
}

// ---- rope ------------------------------------------------------------------------------------

// cos/sin of pos * base^(-2j/D) for pos in [pmin, pmax], j < D/2, computed in double exactly as
// the reference does and rounded to float. Cached: the layers of one forward pass share it.
struct RopeTable {
  int D = 0;
  float base = 0;
  int pmin = 0, pmax = -1;
  std::vector<float> cos, sin;  // (pmax-pmin+1, D/2)

  bool covers(int d, float b, int lo, int hi) const {
    return D == d && base == b && lo >= pmin && hi <= pmax;
  }
};

constexpr int64_t kMaxRopeTable = int64_t(1) << 20;  // entries (positions x D/2), 8 MB

std::shared_ptr<const RopeTable> build_rope_table(int D, float base, int lo, int hi) {
  auto t = std::make_shared<RopeTable>();
  const int half = D / 2;
  t->D = D;
  t->base = base;
  t->pmin = lo;
  t->pmax = hi;
  const size_t P = size_t(hi) - lo + 1;
  t->cos.resize(P * half);
  t->sin.resize(P * half);
  std::vector<double> inv(half);
  for (int j = 0; j < half; ++j) inv[j] = std::pow(double(base), -2.0 * j / D);
  for (size_t p = 0; p < P; ++p) {
    for (int j = 0; j < half; ++j) {
      const double angle = double(int64_t(lo) + int64_t(p)) * inv[j];
      t->cos[p * half + j] = float(std::cos(angle));
      t->sin[p * half + j] = float(std::sin(angle));
    }
  }
  return t;
}

// The cached table if it covers [lo, hi], else a new one (grown to include the cached range when
// D and base match and the union stays small). Null when the range is too large to tabulate.
std::shared_ptr<const RopeTable> rope_table(int D, float base, int lo, int hi) {
  static std::mutex mu;
  static std::shared_ptr<const RopeTable> cached;
  const int64_t half = D / 2;
  if ((int64_t(hi) - lo + 1) * half > kMaxRopeTable) return nullptr;
  std::lock_guard<std::mutex> lk(mu);
  if (cached && cached->covers(D, base, lo, hi)) return cached;
  if (cached && cached->D == D && cached->base == base) {
    const int ulo = std::min(lo, cached->pmin), uhi = std::max(hi, cached->pmax);
    if ((int64_t(uhi) - ulo + 1) * half <= kMaxRopeTable) lo = ulo, hi = uhi;
  }
  cached = build_rope_table(D, base, lo, hi);
  return cached;
}

inline void rotate(float* v, const float* c, const float* s, int half) {
  for (int j = 0; j < half; ++j) {
    const float a = v[j], b = v[j + half];
    v[j] = a * c[j] - b * s[j];
    v[j + half] = a * s[j] + b * c[j];
  }
}

void cpu_rope(float* x, const int* pos, int T, int H, int D, int stride, float base) {
  if (T <= 0 || H <= 0 || D <= 0) return;
  if (D % 2 != 0)
    throw std::invalid_argument("rope: head dim D must be even, got " + std::to_string(D));
  const int half = D / 2;
  const auto [lo, hi] = std::minmax_element(pos, pos + T);
  const auto table = rope_table(D, base, *lo, *hi);
  for_rows(T, int64_t(T) * H * D, [&](int b, int e) {
    std::vector<float> cs, sn;  // (D/2) per-row fallback when there is no table
    if (!table) cs.resize(half), sn.resize(half);
    for (int t = b; t < e; ++t) {
      const float* c;
      const float* s;
      if (table) {
        c = &table->cos[size_t(pos[t] - table->pmin) * half];
        s = &table->sin[size_t(pos[t] - table->pmin) * half];
      } else {
        for (int j = 0; j < half; ++j) {
          const double angle = double(pos[t]) * std::pow(double(base), -2.0 * j / D);
          cs[j] = float(std::cos(angle));
          sn[j] = float(std::sin(angle));
        }
        c = cs.data();
        s = sn.data();
      }
      for (int h = 0; h < H; ++h) rotate(x + size_t(t) * stride + size_t(h) * D, c, s, half);
    }
  });
}

// ---- attention -------------------------------------------------------------------------------

// One task: head h, query rows [i0, i1). Scores for keys [0, kmax) with kmax the largest
// key_limit in the task (keys beyond it are masked for every row), softmax, then p · v.
// s: scratch (rows, kmax) with row stride lds, or the probs rows themselves.
void attn_task(float* out, float* probs, const float* q, const float* k, const float* v,
               const AttnArgs& a, int h, int i0, int i1, std::vector<float>& scratch) {
  const int rows = i1 - i0;
  const int kmax = *std::max_element(a.key_limit + i0, a.key_limit + i1);
  float* s;
  int lds;
  if (probs) {
    s = probs + (size_t(h) * a.Tq + i0) * a.Tk;
    lds = a.Tk;
  } else {
    lds = (kmax + 15) / 16 * 16;
    if (scratch.size() < size_t(rows) * lds) scratch.resize(size_t(rows) * lds);
    s = scratch.data();
  }
  const size_t hd = size_t(h) * a.D;
  const CMap Q(q + size_t(i0) * a.q_stride + hd, rows, a.D, Strided(a.q_stride));
  const CMap K(k + hd, kmax, a.D, Strided(a.kv_stride));
  const CMap V(v + hd, kmax, a.D, Strided(a.kv_stride));
  MMap S(s, rows, kmax, Strided(lds));
  S.noalias() = Q * K.transpose();  // (rows, kmax)

  const bool bias = a.key_bias != nullptr && a.beta != nullptr;
  const float scale = a.scale;
  for (int r = 0; r < rows; ++r) {
    const int i = i0 + r, lim = a.key_limit[i];
    float* sr = s + size_t(r) * lds;
    if (bias && i >= a.bias_from) {
      const float bh = a.beta[h];
      for (int j = 0; j < lim; ++j) sr[j] = sr[j] * scale + bh * a.key_bias[j];
    } else {
      for (int j = 0; j < lim; ++j) sr[j] *= scale;
    }
    const float mx = row_max(sr, lim);
    const float inv = 1.0f / exp_sub_sum(sr, lim, mx);
    for (int j = 0; j < lim; ++j) sr[j] *= inv;
    const int end = probs ? a.Tk : kmax;  // masked keys get exactly 0
    std::fill(sr + lim, sr + end, 0.0f);
  }

  MMap O(out + size_t(i0) * a.out_stride + hd, rows, a.D, Strided(a.out_stride));
  O.noalias() = S * V;  // (rows, D)
}

void check_attn(const AttnArgs& a) {
  if (a.Tq < 0 || a.Tk < 1 || a.H < 1 || a.D < 1 || a.key_limit == nullptr) {
    throw std::invalid_argument("attention: bad shape Tq=" + std::to_string(a.Tq) +
                                " Tk=" + std::to_string(a.Tk) + " H=" + std::to_string(a.H) +
                                " D=" + std::to_string(a.D) + " or no key_limit");
  }
  for (int i = 0; i < a.Tq; ++i) {
    if (a.key_limit[i] < 1 || a.key_limit[i] > a.Tk) {
      throw std::invalid_argument("attention: key_limit[" + std::to_string(i) +
                                  "] = " + std::to_string(a.key_limit[i]) +
                                  ", must be in [1, Tk=" + std::to_string(a.Tk) + "]");
    }
  }
}

// Tasks are (head, 64-row query chunk) pairs in head-major order: fixed by the shape. They are
// handed to threads as contiguous runs of roughly equal cost (rows x visible keys).
void cpu_attention(float* out, float* probs, const float* q, const float* k, const float* v,
                   const AttnArgs& a) {
  if (a.Tq == 0) return;
  check_attn(a);
  const int chunks = (a.Tq + kAttnRowsPerTask - 1) / kAttnRowsPerTask;
  const int tasks = a.H * chunks;
  std::vector<double> cum(tasks + 1, 0.0);  // cost prefix sums
  for (int t = 0; t < tasks; ++t) {
    const int c = t % chunks, i0 = c * kAttnRowsPerTask;
    const int i1 = std::min(a.Tq, i0 + kAttnRowsPerTask);
    const int kmax = *std::max_element(a.key_limit + i0, a.key_limit + i1);
    cum[t + 1] = cum[t] + double(i1 - i0) * kmax;
  }
  const double flops = 4.0 * a.D * cum[tasks];
  const int groups = static_cast<int>(std::max<double>(
      1, std::min<double>({double(num_threads()), double(tasks), flops / kMinPieceFlops})));
  // Group g takes the tasks whose cost midpoint lies in [g, g+1) * total / groups.
  std::vector<int> first(groups + 1, tasks);
  for (int t = tasks - 1; t >= 0; --t) {
    const double mid = 0.5 * (cum[t] + cum[t + 1]);
    const int g = std::min(groups - 1, static_cast<int>(mid * groups / cum[tasks]));
    for (int u = 0; u <= g; ++u) first[u] = std::min(first[u], t);
  }
  first[0] = 0;
  auto run = [&](int gb, int ge) {
    thread_local std::vector<float> scratch;
    for (int t = first[gb]; t < first[ge]; ++t) {
      const int h = t / chunks, c = t % chunks, i0 = c * kAttnRowsPerTask;
      attn_task(out, probs, q, k, v, a, h, i0, std::min(a.Tq, i0 + kAttnRowsPerTask), scratch);
    }
  };
  if (groups == 1) {
    run(0, 1);
  } else {
    parallel_for(groups, run);
  }
}

// ---- swiglu ----------------------------------------------------------------------------------

void cpu_swiglu(float* y, const float* gu, int T, int F) {
  if (T <= 0 || F <= 0) return;
  for_rows(T, int64_t(T) * F, [&](int b, int e) {
    for (int t = b; t < e; ++t) {
      const float* g = gu + size_t(t) * 2 * F;
      const float* u = g + F;
      float* yr = y + size_t(t) * F;
      for (int f = 0; f < F; ++f) yr[f] = g[f] / (1.0f + exp_approx(-g[f])) * u[f];
    }
  });
}

}  // namespace

const Ops& cpu_ops() {
  static const Ops ops = [] {
    openblas_set_num_threads(1);  // our pool does the threading; OpenBLAS threads would spin
    return Ops{"cpu",        cpu_matmul, cpu_rmsnorm, cpu_rope,    cpu_attention,       cpu_swiglu,
               gather_rows,  add_rows,   copy_floats, cpu_prepare, cpu_prepared_matmul, sample_rows,
               choose_unmask};
  }();
  return ops;
}

}  // namespace bs::kernels
