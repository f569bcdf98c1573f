// Kernel tests: every cpu op against the scalar reference on odd shapes and thread counts,
// hand-computed examples that pin down the conventions (rope pairing, masking, bias), bit-exact
// results across thread counts, and the thread pool's contract.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "kernels/packed_matmul.h"
#include "kernels/thread_pool.h"

namespace bs::kernels {
namespace {

const Ops& ref() { return ref_ops(); }
const Ops& cpu() { return cpu_ops(); }

// Sets the pool size for one scope, back to 1 afterwards.
struct Threads {
  explicit Threads(int n) { set_num_threads(n); }
  ~Threads() { set_num_threads(1); }
};

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// ||a - b|| / ||b|| over n floats (absolute when b is all zero).
double nerr(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
double nerr(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return nerr(a.data(), b.data(), a.size());
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  // memcmp must not see the null data() of empty vectors (UBSan flags it even for size 0).
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

constexpr double kTol = 1e-4;

// ---- matmul ----------------------------------------------------------------------------------

TEST(Matmul, MatchesReferenceOnOddShapes) {
  for (int threads : {1, 2, 3}) {
    Threads th(threads);
    for (int T : {1, 3, 17, 65, 130})
      for (int C : {5, 31, 64, 257})
        for (int N : {1, 7, 33, 300})
          for (bool acc : {false, true}) {
            SCOPED_TRACE("threads=" + std::to_string(threads) + " T=" + std::to_string(T) +
                         " C=" + std::to_string(C) + " N=" + std::to_string(N) +
                         " acc=" + std::to_string(acc));
            const auto x = randn(size_t(T) * C, 1 + T * C), w = randn(size_t(N) * C, 2 + N * C);
            const auto y0 = randn(size_t(T) * N, 3 + T * N);
            auto yr = y0, yc = y0;
            ref().matmul(yr.data(), x.data(), w.data(), T, C, N, acc);
            cpu().matmul(yc.data(), x.data(), w.data(), T, C, N, acc);
            EXPECT_LT(nerr(yc, yr), kTol);
          }
  }
}

TEST(Matmul, BitIdenticalAcrossThreadCounts) {
  struct Shape {
    int T, C, N;
  };
  for (Shape s : {Shape{130, 257, 300}, Shape{512, 256, 768}, Shape{300, 1024, 256},
                  Shape{65, 64, 2048}, Shape{17, 31, 7}}) {
    for (bool acc : {false, true}) {
      const auto x = randn(size_t(s.T) * s.C, 11), w = randn(size_t(s.N) * s.C, 12);
      const auto y0 = randn(size_t(s.T) * s.N, 13);
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        Threads th(threads);
        auto y = y0;
        cpu().matmul(y.data(), x.data(), w.data(), s.T, s.C, s.N, acc);
        if (first.empty()) {
          first = y;
        } else {
          EXPECT_TRUE(bit_equal(y, first)) << "T=" << s.T << " C=" << s.C << " N=" << s.N
                                           << " acc=" << acc << " threads=" << threads;
        }
      }
    }
  }
}

// ---- packed matmul ---------------------------------------------------------------------------

// The micro-kernels this CPU can run: AVX2 always, AVX-512 where present.
std::vector<bool> packed_isas() {
  std::vector<bool> v = {false};
  if (set_packed_avx512(true)) v.push_back(true);
  set_packed_avx512(false);
  return v;
}

// Restores the run-time choice of micro-kernel when a test ends.
struct IsaGuard {
  const bool was = std::string(packed_isa()) == "avx512";
  ~IsaGuard() { set_packed_avx512(was); }
};

TEST(PackedMatmul, MatchesReferenceOnOddShapes) {
  // Row counts around the 6- and 8-row tiles, column counts around the 16-column panel and the
  // 32-column panel pair, in both micro-kernels.
  IsaGuard guard;
  for (bool avx512 : packed_isas()) {
    ASSERT_TRUE(set_packed_avx512(avx512));
    for (int threads : {1, 2, 3}) {
      Threads th(threads);
      for (int T : {1, 5, 6, 7, 8, 9, 13, 64, 130})
        for (int C : {1, 5, 64, 257})
          for (int N : {1, 15, 16, 17, 31, 33, 48, 300, 1030})
            for (bool acc : {false, true}) {
              SCOPED_TRACE(std::string(packed_isa()) + " threads=" + std::to_string(threads) +
                           " T=" + std::to_string(T) + " C=" + std::to_string(C) +
                           " N=" + std::to_string(N) + " acc=" + std::to_string(acc));
              const auto x = randn(size_t(T) * C, 1 + T * C), w = randn(size_t(N) * C, 2 + N * C);
              const auto y0 = randn(size_t(T) * N, 3 + T * N);
              auto yr = y0, yp = y0;
              ref().matmul(yr.data(), x.data(), w.data(), T, C, N, acc);
              packed_matmul(yp.data(), x.data(), pack_matrix(w.data(), N, C), T, acc);
              EXPECT_LT(nerr(yp, yr), kTol);
              // Nothing is written past the T rows of N columns.
              auto big = y0;
              big.resize(big.size() + 64, 7.f);
              packed_matmul(big.data(), x.data(), pack_matrix(w.data(), N, C), T, acc);
              for (size_t i = y0.size(); i < big.size(); ++i) ASSERT_EQ(big[i], 7.f);
            }
    }
  }
}

TEST(PackedMatmul, BothMicroKernelsGiveTheSameBits) {
  // Each output is one FMA chain over k in order in either kernel, so switching the kernel (a
  // session resumed on another CPU) changes no generated text.
  IsaGuard guard;
  if (packed_isas().size() < 2) GTEST_SKIP() << "this CPU has no AVX-512";
  for (int T : {1, 7, 8, 64, 108})
    for (int N : {17, 768, 1030})
      for (bool acc : {false, true}) {
        const int C = 257;
        const auto x = randn(size_t(T) * C, 5 + T), w = randn(size_t(N) * C, 6 + N);
        const PackedMatrix pw = pack_matrix(w.data(), N, C);
        auto y2 = randn(size_t(T) * N, 7), y5 = y2;
        ASSERT_TRUE(set_packed_avx512(false));
        packed_matmul(y2.data(), x.data(), pw, T, acc);
        ASSERT_TRUE(set_packed_avx512(true));
        packed_matmul(y5.data(), x.data(), pw, T, acc);
        EXPECT_TRUE(bit_equal(y2, y5)) << "T=" << T << " N=" << N << " acc=" << acc;
      }
}

TEST(PackedMatmul, RowResultsDoNotDependOnTheCallOrThreads) {
  // What the prefix cache relies on: a row's result is the same bits whether it is computed in a
  // call of 108 rows (naive recompute) or of 64 (cached prefix), at any thread count. (In the
  // micro-kernel chosen for this CPU.)
  const int C = 256, N = 768, T = 108, tail = 64;
  const auto x = randn(size_t(T) * C, 21), w = randn(size_t(N) * C, 22);
  const PackedMatrix pw = pack_matrix(w.data(), N, C);
  std::vector<float> all(size_t(T) * N);
  {
    Threads th(1);
    packed_matmul(all.data(), x.data(), pw, T, false);
  }
  for (int threads : {1, 2, 3}) {
    Threads th(threads);
    std::vector<float> part(size_t(tail) * N);
    packed_matmul(part.data(), x.data() + size_t(T - tail) * C, pw, tail, false);
    const std::vector<float> want(all.end() - part.size(), all.end());
    EXPECT_TRUE(bit_equal(part, want)) << "threads=" << threads;
  }
}

TEST(PackedMatmul, PackingLayoutIsPanelsOfSixteenColumns) {
  // w (17, 2): element (n, k) = 10n + k. Panel 0 row k holds columns 0..15; panel 1 holds
  // column 16 and zeros.
  std::vector<float> w(17 * 2);
  for (int n = 0; n < 17; ++n)
    for (int k = 0; k < 2; ++k) w[size_t(n) * 2 + k] = float(10 * n + k);
  const PackedMatrix p = pack_matrix(w.data(), 17, 2);
  ASSERT_EQ(p.panels(), 2);
  ASSERT_EQ(p.data.size(), size_t(2 * 2 * 16));
  EXPECT_EQ(p.data[0 * 16 + 3], 30.f);        // panel 0, k 0, column 3
  EXPECT_EQ(p.data[1 * 16 + 3], 31.f);        // panel 0, k 1, column 3
  EXPECT_EQ(p.data[32 + 1 * 16 + 0], 161.f);  // panel 1, k 1, column 16
  EXPECT_EQ(p.data[32 + 0 * 16 + 1], 0.f);    // padding
}

// ---- attention -------------------------------------------------------------------------------

enum class Limits { kAll, kBlock, kRandom };

// key_limit(Tq). kBlock is the block-context layout: the first third of the rows (the prefix)
// sees only the prefix, the next third (the block) sees prefix + block, the rest (slots) all keys.
std::vector<int> make_limits(Limits kind, int Tq, int Tk, uint32_t seed) {
  std::vector<int> lim(Tq, Tk);
  if (kind == Limits::kBlock) {
    const int p = std::max(1, Tk / 3), b = std::max(p, 2 * Tk / 3);
    for (int i = 0; i < Tq; ++i) lim[i] = i < Tq / 3 ? p : i < 2 * Tq / 3 ? b : Tk;
  } else if (kind == Limits::kRandom) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(1, Tk);
    for (auto& l : lim) l = d(rng);
  }
  return lim;
}

// q, k, v live interleaved in one (rows, 3*H*D + 3) buffer like a fused qkv projection; out has
// padding between rows that must stay untouched.
struct AttnCase {
  int Tq, Tk, H, D;
  Limits limits;
  bool bias, want_probs;
};

struct AttnResult {
  std::vector<float> out, probs;
};

constexpr float kSentinel = 777.0f;

AttnResult run_attention(const Ops& ops, const AttnCase& c, uint32_t seed) {
  const int HD = c.H * c.D, stride = 3 * HD + 3, out_stride = HD + 5;
  const int rows = std::max(c.Tq, c.Tk);
  const auto qkv = randn(size_t(rows) * stride, seed);
  const auto kb = randn(c.Tk, seed + 1), beta = randn(c.H, seed + 2);
  const auto lim = make_limits(c.limits, c.Tq, c.Tk, seed + 3);
  AttnArgs a;
  a.Tq = c.Tq, a.Tk = c.Tk, a.H = c.H, a.D = c.D;
  a.q_stride = stride, a.kv_stride = stride, a.out_stride = out_stride;
  a.key_limit = lim.data();
  if (c.bias) a.key_bias = kb.data(), a.beta = beta.data(), a.bias_from = c.Tq / 2;
  a.scale = 1.0f / std::sqrt(float(c.D));
  AttnResult r;
  r.out.assign(size_t(c.Tq) * out_stride, kSentinel);
  if (c.want_probs) r.probs.assign(size_t(c.H) * c.Tq * c.Tk, kSentinel);
  ops.attention(r.out.data(), c.want_probs ? r.probs.data() : nullptr, qkv.data(), qkv.data() + HD,
                qkv.data() + 2 * HD, a);
  for (int i = 0; i < c.Tq; ++i)  // padding untouched
    for (int j = HD; j < out_stride; ++j) EXPECT_EQ(r.out[size_t(i) * out_stride + j], kSentinel);
  if (c.want_probs) {
    for (int h = 0; h < c.H; ++h)
      for (int i = 0; i < c.Tq; ++i) {
        const float* p = &r.probs[(size_t(h) * c.Tq + i) * c.Tk];
        double sum = 0;
        for (int j = 0; j < c.Tk; ++j) {
          if (j >= lim[i]) {
            EXPECT_EQ(p[j], 0.0f) << ops.name << " masked prob h=" << h << " i=" << i;
          } else {
            EXPECT_GE(p[j], 0.0f);
          }
          sum += p[j];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5) << ops.name << " row sum h=" << h << " i=" << i;
      }
  }
  return r;
}

TEST(Attention, MatchesReference) {
  struct Size {
    int Tq, Tk;
  };
  for (int H : {1, 3, 4})
    for (int D : {2, 8, 64})
      for (Size s :
           {Size{1, 1}, Size{3, 5}, Size{17, 17}, Size{65, 40}, Size{130, 130}, Size{70, 200}})
        for (Limits lk : {Limits::kAll, Limits::kBlock, Limits::kRandom})
          for (bool bias : {false, true})
            for (bool probs : {false, true}) {
              const AttnCase c{s.Tq, s.Tk, H, D, lk, bias, probs};
              SCOPED_TRACE("H=" + std::to_string(H) + " D=" + std::to_string(D) +
                           " Tq=" + std::to_string(s.Tq) + " Tk=" + std::to_string(s.Tk) +
                           " limits=" + std::to_string(int(lk)) + " bias=" + std::to_string(bias) +
                           " probs=" + std::to_string(probs));
              const uint32_t seed = 100 + H * 7 + D * 13 + s.Tq;
              const auto want = run_attention(ref(), c, seed);
              for (int threads : {1, 2, 3}) {
                Threads th(threads);
                const auto got = run_attention(cpu(), c, seed);
                EXPECT_LT(nerr(got.out, want.out), kTol) << "threads=" << threads;
                if (probs) {
                  EXPECT_LT(nerr(got.probs, want.probs), kTol) << "threads=" << threads;
                }
              }
            }
}

TEST(Attention, BitIdenticalAcrossThreadCounts) {
  for (Limits lk : {Limits::kAll, Limits::kBlock, Limits::kRandom})
    for (bool probs : {false, true}) {
      const AttnCase c{300, 300, 4, 64, lk, true, probs};
      AttnResult first;
      for (int threads : {1, 2, 3}) {
        Threads th(threads);
        auto r = run_attention(cpu(), c, 42);
        if (threads == 1) {
          first = std::move(r);
        } else {
          EXPECT_TRUE(bit_equal(r.out, first.out)) << "threads=" << threads;
          EXPECT_TRUE(bit_equal(r.probs, first.probs)) << "threads=" << threads;
        }
      }
    }
}

// Tq = Tk = 2, H = 1, D = 1: row 0 sees key 0 only, row 1 sees both.
TEST(Attention, HandComputedTinyExample) {
  const float q[2] = {1, 2}, k[2] = {1, -1}, v[2] = {10, 20};
  const int lim[2] = {1, 2};
  const float kb[2] = {0, 4}, beta[1] = {0.5f};
  for (bool bias : {false, true}) {
    AttnArgs a;
    a.Tq = 2, a.Tk = 2, a.H = 1, a.D = 1, a.q_stride = 1, a.kv_stride = 1, a.out_stride = 1;
    a.key_limit = lim, a.scale = 1.0f;
    if (bias) a.key_bias = kb, a.beta = beta, a.bias_from = 1;
    // row 1 logits: (2, -2), with bias (2, -2 + 0.5 * 4) = (2, 0)
    const double p0 = 1.0 / (1.0 + std::exp(bias ? -2.0 : -4.0));
    for (const Ops* ops : {&ref(), &cpu()}) {
      float out[2], probs[4];
      ops->attention(out, probs, q, k, v, a);
      EXPECT_NEAR(out[0], 10.0, 1e-5) << ops->name;
      EXPECT_EQ(probs[0], 1.0f) << ops->name;
      EXPECT_EQ(probs[1], 0.0f) << ops->name;
      EXPECT_NEAR(probs[2], p0, 1e-6) << ops->name;
      EXPECT_NEAR(probs[3], 1.0 - p0, 1e-6) << ops->name;
      EXPECT_NEAR(out[1], 10.0 * p0 + 20.0 * (1.0 - p0), 1e-4) << ops->name;
    }
  }
}

TEST(Attention, RejectsBadKeyLimit) {
  const float q[2] = {1, 2}, k[2] = {1, -1}, v[2] = {10, 20};
  float out[2];
  for (int bad : {0, 3}) {
    const int lim[2] = {1, bad};
    AttnArgs a;
    a.Tq = 2, a.Tk = 2, a.H = 1, a.D = 1, a.q_stride = 1, a.kv_stride = 1, a.out_stride = 1;
    a.key_limit = lim, a.scale = 1.0f;
    EXPECT_THROW(cpu().attention(out, nullptr, q, k, v, a), std::invalid_argument);
  }
}

// ---- rmsnorm, rope, swiglu -------------------------------------------------------------------

TEST(RMSNorm, MatchesReference) {
  for (int threads : {1, 2, 3}) {
    Threads th(threads);
    for (int T : {1, 3, 17, 65, 130, 600})
      for (int C : {5, 31, 64, 257}) {
        SCOPED_TRACE("threads=" + std::to_string(threads) + " T=" + std::to_string(T) +
                     " C=" + std::to_string(C));
        const auto x = randn(size_t(T) * C, T + C, 3.0f), w = randn(C, C);
        std::vector<float> yr(size_t(T) * C), yc(size_t(T) * C), rr(T), rc(T);
        ref().rmsnorm(yr.data(), rr.data(), x.data(), w.data(), T, C, 1e-5f);
        cpu().rmsnorm(yc.data(), rc.data(), x.data(), w.data(), T, C, 1e-5f);
        EXPECT_LT(nerr(yc, yr), kTol);
        EXPECT_LT(nerr(rc, rr), kTol);
        std::vector<float> y2(size_t(T) * C);
        cpu().rmsnorm(y2.data(), nullptr, x.data(), w.data(), T, C, 1e-5f);  // rstd optional
        EXPECT_TRUE(bit_equal(y2, yc));
      }
  }
}

// One head, D = 4, pos = 1, base = 10000: pairs are (0, 2) at angle 1 and (1, 3) at angle
// 10000^(-1/2) = 0.01. An interleaved (0, 1), (2, 3) pairing gives different numbers.
TEST(Rope, HandComputedHalfSplitPairing) {
  const int pos[1] = {1};
  const double c1 = std::cos(1.0), s1 = std::sin(1.0), c2 = std::cos(0.01), s2 = std::sin(0.01);
  const double want[4] = {1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 1 * s1 + 3 * c1, 2 * s2 + 4 * c2};
  for (const Ops* ops : {&ref(), &cpu()}) {
    float x[4] = {1, 2, 3, 4};
    ops->rope(x, pos, 1, 1, 4, 4, 10000.0f);
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(x[j], want[j], 1e-6) << ops->name << " j=" << j;
  }
}

TEST(Rope, MatchesReference) {
  for (int threads : {1, 2, 3}) {
    Threads th(threads);
    for (int T : {1, 3, 17, 130})
      for (int H : {1, 3, 4})
        for (int D : {2, 8, 64})
          for (float base : {10000.0f, 500000.0f})
            for (int spread : {1, 7, 3000000}) {  // the last is too wide for the table
              SCOPED_TRACE("threads=" + std::to_string(threads) + " T=" + std::to_string(T) +
                           " H=" + std::to_string(H) + " D=" + std::to_string(D) +
                           " spread=" + std::to_string(spread));
              const int stride = H * D + 3;
              std::vector<int> pos(T);
              std::mt19937 rng(T + D);
              for (int t = 0; t < T; ++t) pos[t] = spread == 1 ? t : int(rng() % spread);
              const auto x = randn(size_t(T) * stride, T * H + D);
              auto xr = x, xc = x;
              ref().rope(xr.data(), pos.data(), T, H, D, stride, base);
              cpu().rope(xc.data(), pos.data(), T, H, D, stride, base);
              EXPECT_LT(nerr(xc, xr), kTol);
              for (int t = 0; t < T; ++t)  // the gap after the heads is untouched
                for (int j = H * D; j < stride; ++j)
                  EXPECT_EQ(xc[size_t(t) * stride + j], x[size_t(t) * stride + j]);
            }
  }
}

TEST(SwiGLU, MatchesReference) {
  for (int threads : {1, 2, 3}) {
    Threads th(threads);
    for (int T : {1, 3, 17, 65, 130, 600})
      for (int F : {1, 5, 31, 64, 257}) {
        SCOPED_TRACE("threads=" + std::to_string(threads) + " T=" + std::to_string(T) +
                     " F=" + std::to_string(F));
        const auto gu = randn(size_t(T) * 2 * F, T * F, 4.0f);
        std::vector<float> yr(size_t(T) * F), yc(size_t(T) * F);
        ref().swiglu(yr.data(), gu.data(), T, F);
        cpu().swiglu(yc.data(), gu.data(), T, F);
        EXPECT_LT(nerr(yc, yr), kTol);
      }
  }
}

TEST(SwiGLU, ExtremeInputsStayFinite) {
  const float gu[8] = {-200, -90, 90, 200, 1, 1, 1, 1};
  for (const Ops* ops : {&ref(), &cpu()}) {
    float y[4];
    ops->swiglu(y, gu, 1, 4);
    EXPECT_NEAR(y[0], 0.0, 1e-30) << ops->name;
    EXPECT_NEAR(y[1], 0.0, 1e-30) << ops->name;
    EXPECT_FLOAT_EQ(y[2], 90.0f) << ops->name;
    EXPECT_FLOAT_EQ(y[3], 200.0f) << ops->name;
  }
}

// ---- thread pool -----------------------------------------------------------------------------

// The row moves, hand-computed: gather, broadcast add, and the scatter-add that is their
// backward (a repeated id sums in row order).
TEST(RowOps, GatherAddAndScatterAddByHand) {
  const std::vector<float> table = {0, 1, 10, 11, 20, 21};  // (3, 2)
  const int ids[] = {2, 0, 2};
  for (const Ops* o : {&ref(), &cpu()}) {
    std::vector<float> y(6, -1.f);
    o->gather_rows(y.data(), table.data(), ids, 3, 2);
    EXPECT_EQ(y, (std::vector<float>{20, 21, 0, 1, 20, 21})) << o->name;
    const float b[] = {0.5f, -1.f};
    o->add_rows(y.data(), y.data(), b, 3, 2);
    EXPECT_EQ(y, (std::vector<float>{20.5f, 20, 0.5f, 0, 20.5f, 20})) << o->name;
    std::vector<float> z(3, 0.f);
    o->copy(z.data(), y.data() + 1, 3);
    EXPECT_EQ(z, (std::vector<float>{20, 0.5f, 0})) << o->name;
  }
  for (const GradOps* g : {&ref_grad_ops(), &cpu_grad_ops()}) {
    std::vector<float> grad(6, 1.f);
    const std::vector<float> dy = {1, 2, 3, 4, 5, 6};
    g->scatter_add_rows(grad.data(), dy.data(), ids, 3, 2);
    EXPECT_EQ(grad, (std::vector<float>{4, 5, 1, 1, 7, 9})) << g->name;
  }
}

// The CPU's prepared products (the packed panels) against the reference's raw-weight matmul;
// the reference prepares nothing.
TEST(PreparedMatmul, CpuMatchesReferenceMatmul) {
  EXPECT_EQ(ref().prepare, nullptr);
  for (auto [T, C, N] : {std::tuple{1, 7, 5}, {13, 33, 50}, {64, 256, 768}}) {
    auto x = randn(size_t(T) * C, 1), w = randn(size_t(N) * C, 2), y0 = randn(size_t(T) * N, 3);
    std::vector<float> want = y0, got = y0;
    ref().matmul(want.data(), x.data(), w.data(), T, C, N, true);
    const Prepared p = cpu().prepare(w.data(), N, C);
    EXPECT_EQ(p.N, N);
    EXPECT_EQ(p.C, C);
    cpu().prepared_matmul(got.data(), x.data(), p, T, true);
    EXPECT_LT(nerr(got, want), 1e-6) << T << " " << C << " " << N;
  }
}

// choose_unmask: k = ceil(n / steps_left) best scores (ties: lower index), returned in index
// order; the threshold widens it to every prob above it.
TEST(ChooseUnmask, TopScoresAndThresholdByHand) {
  const float score[] = {0.1f, 0.9f, 0.5f, 0.9f, 0.2f};
  const float prob[] = {0.95f, 0.1f, 0.96f, 0.2f, 0.3f};
  int chosen[5];
  for (const Ops* o : {&ref(), &cpu()}) {
    ASSERT_EQ(o->choose_unmask(chosen, score, prob, 5, 3, 0.f), 2);  // ceil(5/3) = 2
    EXPECT_EQ(chosen[0], 1);
    EXPECT_EQ(chosen[1], 3);
    ASSERT_EQ(o->choose_unmask(chosen, score, prob, 5, 1, 0.f), 5);
    ASSERT_EQ(o->choose_unmask(chosen, score, prob, 5, 5, 0.9f), 2);  // two probs > 0.9
    EXPECT_EQ(chosen[0], 1);  // ... but the two best scores are chosen, as the rule says
    EXPECT_EQ(chosen[1], 3);
    EXPECT_EQ(o->choose_unmask(chosen, score, prob, 0, 1, 0.f), 0);
  }
}

// The optimizer ops: the threaded CPU update and sum of squares give the reference's bits
// (element-wise arithmetic, fixed-order sums), and a non-finite update changes nothing.
TEST(OptimOps, CpuAdamWAndSumOfSquaresAreTheReferencesBits) {
  Threads threads(2);
  const size_t n = 70001;  // more than one chunk of each
  auto p = randn(n, 1), g = randn(n, 2), m = randn(n, 3, 0.1f), v = randn(n, 4, 0.1f);
  for (float& x : v) x = x * x;
  std::vector<uint8_t> decay(n);
  for (size_t i = 0; i < n; ++i) decay[i] = i % 3 != 0;
  EXPECT_EQ(cpu_grad_ops().sum_squares(g.data(), n), ref_grad_ops().sum_squares(g.data(), n));
  AdamArgs a;
  a.lr = 3e-4f, a.b1 = 0.9f, a.b2 = 0.95f, a.wd = 0.1f, a.eps = 1e-8f, a.c1 = 1.3f, a.c2 = 1.7f;
  a.clip = 0.7f;
  auto p2 = p, g2 = g, m2 = m, v2 = v;
  EXPECT_EQ(cpu_grad_ops().adamw(p.data(), m.data(), v.data(), g.data(), decay.data(), n, a), n);
  EXPECT_EQ(ref_grad_ops().adamw(p2.data(), m2.data(), v2.data(), g2.data(), decay.data(), n, a),
            n);
  EXPECT_TRUE(bit_equal(p, p2) && bit_equal(m, m2) && bit_equal(v, v2) && bit_equal(g, g2));
  // A gradient that overflows v: nothing changes, its index comes back.
  g[40000] = 3e38f;
  const auto before = p;
  for (const GradOps* o : {&cpu_grad_ops(), &ref_grad_ops()})
    EXPECT_EQ(o->adamw(p.data(), m.data(), v.data(), g.data(), decay.data(), n, a), 40000u)
        << o->name;
  EXPECT_TRUE(bit_equal(p, before));
}

TEST(ThreadPool, CoversEveryIndexOnceForSmallN) {
  for (int threads : {1, 2, 3, 5}) {
    Threads th(threads);
    EXPECT_EQ(num_threads(), threads);
    for (int n : {1, 2, 3, 4, 7, 100}) {
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int> calls{0};
      parallel_for(n, [&](int b, int e) {
        ++calls;
        EXPECT_LT(b, e);
        for (int i = b; i < e; ++i) ++hits[i];
      });
      for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i], 1) << "n=" << n << " i=" << i;
      EXPECT_EQ(calls, std::min(n, threads)) << "n=" << n << " threads=" << threads;
    }
  }
}

TEST(ThreadPool, ZeroAndNegativeNDoNothing) {
  Threads th(2);
  bool called = false;
  parallel_for(0, [&](int, int) { called = true; });
  parallel_for(-3, [&](int, int) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPool, ChunkZeroRunsOnCaller) {
  Threads th(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::thread::id chunk0;
  parallel_for(3, [&](int b, int) {
    std::lock_guard<std::mutex> lk(mu);
    ids.insert(std::this_thread::get_id());
    if (b == 0) chunk0 = std::this_thread::get_id();
  });
  EXPECT_EQ(chunk0, std::this_thread::get_id());
  EXPECT_EQ(ids.size(), 3u);
}

TEST(ThreadPool, ExceptionsReachTheCaller) {
  Threads th(3);
  for (int bad_chunk : {0, 1, 2}) {
    std::atomic<int> done{0};
    try {
      parallel_for(3, [&](int b, int) {
        if (b == bad_chunk) throw std::runtime_error("chunk " + std::to_string(b));
        ++done;
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "chunk " + std::to_string(bad_chunk));
    }
    EXPECT_EQ(done, 2);  // the other chunks still ran to the end
  }
  // The pool still works afterwards.
  std::atomic<int> sum{0};
  parallel_for(10, [&](int b, int e) { sum += e - b; });
  EXPECT_EQ(sum, 10);
}

TEST(ThreadPool, NestedCallRunsInline) {
  Threads th(2);
  std::atomic<int> bad{0}, inner_calls{0};
  parallel_for(2, [&](int, int) {
    const auto me = std::this_thread::get_id();
    parallel_for(8, [&](int b, int e) {
      ++inner_calls;
      if (b != 0 || e != 8 || std::this_thread::get_id() != me) ++bad;
    });
  });
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(inner_calls, 2);
  EXPECT_THROW(parallel_for(2, [](int, int) { set_num_threads(3); }), std::logic_error);
}

TEST(ThreadPool, ManyJobsAndResizes) {
  for (int round = 0; round < 20; ++round) {
    Threads th(1 + round % 4);
    std::atomic<int64_t> sum{0};
    for (int it = 0; it < 200; ++it)
      parallel_for(1 + it % 7, [&](int b, int e) {
        for (int i = b; i < e; ++i) sum += i;
      });
    int64_t want = 0;
    for (int it = 0; it < 200; ++it) want += int64_t(it % 7) * (1 + it % 7) / 2;
    EXPECT_EQ(sum, want);
  }
}

// Regression: a job published right after a resize, before a new worker had read the generation
// counter, was never picked up and the caller waited forever. Resize-then-run many times.
TEST(ThreadPool, JobRightAfterResizeIsRun) {
  for (int round = 0; round < 3000; ++round) {
    Threads th(2 + round % 2);
    std::atomic<int> count{0};
    parallel_for(8, [&](int b, int e) { count += e - b; });
    ASSERT_EQ(count, 8) << "round " << round;
  }
}

TEST(ThreadPool, CallsFromTwoOutsideThreadsAreSerialised) {
  Threads th(2);
  std::atomic<int64_t> total{0};
  auto work = [&] {
    for (int it = 0; it < 300; ++it) parallel_for(4, [&](int b, int e) { total += e - b; });
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(total, 2 * 300 * 4);
}

}  // namespace
}  // namespace bs::kernels
