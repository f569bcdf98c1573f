// Every CUDA op against the CPU op on odd shapes, forward and backward: the normalised error
// ||gpu − cpu|| / ||cpu|| per output must stay under a tolerance that a wrong index, a missed
// row or a dropped term exceeds by orders of magnitude. Skipped (and reported as skipped by
// ctest) where no CUDA device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "kernels/backward.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/kernels.h"

namespace {

using bs::kernels::AttnArgs;
const bs::kernels::Ops& cpu() { return bs::kernels::cpu_ops(); }
const bs::kernels::GradOps& cpu_g() { return bs::kernels::cpu_grad_ops(); }
const bs::kernels::Ops& gpu() { return bs::cuda::cuda_ops(); }
const bs::kernels::GradOps& gpu_g() { return bs::cuda::cuda_grad_ops(); }

constexpr double kTol = 2e-5;

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> zeros(size_t n) { return std::vector<float>(n, 0.f); }

double nerr(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// A device copy of a host vector; back() reads it.
template <class T>
struct Dev {
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    p = static_cast<T*>(bs::cuda::device_alloc(n * sizeof(T)));
    bs::cuda::copy_to_device(p, h.data(), n * sizeof(T));
  }
  ~Dev() { bs::cuda::device_free(p); }
  std::vector<T> back() const {
    std::vector<T> h(n);
    bs::cuda::copy_to_host(h.data(), p, n * sizeof(T));
    return h;
  }
  T* p = nullptr;
  size_t n;
};
using DevF = Dev<float>;

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!bs::cuda::device_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  }
};

TEST_F(Gpu, MatmulAndItsBackward) {
  for (auto [T, C, N] : {std::tuple{1, 7, 5}, {13, 33, 50}, {65, 256, 770}}) {
    auto x = randn(size_t(T) * C, 1), w = randn(size_t(N) * C, 2), y = randn(size_t(T) * N, 3);
    auto want = y;
    cpu().matmul(want.data(), x.data(), w.data(), T, C, N, true);
    DevF dx(x), dw(w), dy(y);
    gpu().matmul(dy.p, dx.p, dw.p, T, C, N, true);
    EXPECT_LT(nerr(dy.back(), want), kTol) << T << "x" << C << "x" << N;

    auto gdy = randn(size_t(T) * N, 4), gx = randn(size_t(T) * C, 5), gw = randn(size_t(N) * C, 6);
    auto want_dx = gx, want_dw = gw;
    cpu_g().matmul_backward(want_dx.data(), want_dw.data(), gdy.data(), x.data(), w.data(), T, C, N,
                            true);
    DevF ddy(gdy), ddx(gx), ddw(gw);
    gpu_g().matmul_backward(ddx.p, ddw.p, ddy.p, dx.p, dw.p, T, C, N, true);
    EXPECT_LT(nerr(ddx.back(), want_dx), kTol);
    EXPECT_LT(nerr(ddw.back(), want_dw), kTol);
  }
}

TEST_F(Gpu, RmsnormAndItsBackward) {
  for (auto [T, C] : {std::pair{1, 5}, {17, 256}, {3, 1031}}) {
    auto x = randn(size_t(T) * C, 1), w = randn(C, 2, 0.5f);
    std::vector<float> y(size_t(T) * C), r(T);
    cpu().rmsnorm(y.data(), r.data(), x.data(), w.data(), T, C, 1e-5f);
    DevF dx(x), dw(w), dy(zeros(y.size())), dr(zeros(T));
    gpu().rmsnorm(dy.p, dr.p, dx.p, dw.p, T, C, 1e-5f);
    EXPECT_LT(nerr(dy.back(), y), kTol);
    EXPECT_LT(nerr(dr.back(), r), kTol);

    auto g = randn(size_t(T) * C, 3), gx0 = randn(size_t(T) * C, 4), gw0 = randn(C, 5);
    auto want_dx = gx0, want_dw = gw0;
    cpu_g().rmsnorm_backward(want_dx.data(), want_dw.data(), g.data(), x.data(), w.data(), r.data(),
                             T, C, true);
    DevF dg(g), dgx(gx0), dgw(gw0);
    gpu_g().rmsnorm_backward(dgx.p, dgw.p, dg.p, dx.p, dw.p, dr.p, T, C, true);
    EXPECT_LT(nerr(dgx.back(), want_dx), kTol);
    EXPECT_LT(nerr(dgw.back(), want_dw), kTol);
  }
}

TEST_F(Gpu, RopeOnStridedHeads) {
  const int T = 9, H = 3, D = 16, stride = 3 * H * D;
  auto x = randn(size_t(T) * stride, 1);
  std::vector<int> pos(T);
  for (int t = 0; t < T; ++t) pos[t] = 5 * t - 7;  // negative: the backward's rotation
  auto want = x;
  cpu().rope(want.data(), pos.data(), T, H, D, stride, 10000.f);
  DevF dx(x);
  Dev<int> dp(pos);
  gpu().rope(dx.p, dp.p, T, H, D, stride, 10000.f);
  EXPECT_LT(nerr(dx.back(), want), kTol);
}

TEST_F(Gpu, AttentionWithPrefixLimitsBiasAndProbs) {
  for (auto [Tq, Tk, H, D] : {std::tuple{5, 9, 2, 8}, {37, 101, 4, 64}, {3, 700, 1, 32}}) {
    const int qs = 3 * H * D;
    auto q = randn(size_t(Tq) * qs, 1), k = randn(size_t(Tk) * qs, 2),
         v = randn(size_t(Tk) * qs, 3);
    std::vector<int> limit(Tq);
    for (int i = 0; i < Tq; ++i) limit[i] = 1 + (i * 7919) % Tk;
    auto kb = randn(Tk, 4), beta = randn(H, 5, 0.3f);
    AttnArgs a;
    a.Tq = Tq, a.Tk = Tk, a.H = H, a.D = D, a.q_stride = qs, a.kv_stride = qs, a.out_stride = H * D;
    a.bias_from = Tq / 2, a.scale = 1.f / std::sqrt(float(D));
    std::vector<float> out(size_t(Tq) * H * D), probs(size_t(H) * Tq * Tk);
    a.key_limit = limit.data(), a.key_bias = kb.data(), a.beta = beta.data();
    cpu().attention(out.data(), probs.data(), q.data(), k.data(), v.data(), a);
    DevF dq(q), dk(k), dv(v), dkb(kb), dbeta(beta), dout(zeros(out.size())),
        dprobs(zeros(probs.size()));
    Dev<int> dl(limit);
    AttnArgs g = a;
    g.key_limit = dl.p, g.key_bias = dkb.p, g.beta = dbeta.p;
    gpu().attention(dout.p, dprobs.p, dq.p, dk.p, dv.p, g);
    EXPECT_LT(nerr(dout.back(), out), kTol) << Tq << " " << Tk;
    EXPECT_LT(nerr(dprobs.back(), probs), kTol);
  }
}

TEST_F(Gpu, SwigluAndItsBackward) {
  const int T = 7, F = 333;
  auto gu = randn(size_t(T) * 2 * F, 1, 3.f), dy = randn(size_t(T) * F, 2);
  std::vector<float> y(size_t(T) * F), dgu(gu.size());
  cpu().swiglu(y.data(), gu.data(), T, F);
  cpu_g().swiglu_backward(dgu.data(), dy.data(), gu.data(), T, F);
  DevF dg(gu), dd(dy), dyo(zeros(y.size())), ddgu(zeros(gu.size()));
  gpu().swiglu(dyo.p, dg.p, T, F);
  gpu_g().swiglu_backward(ddgu.p, dd.p, dg.p, T, F);
  EXPECT_LT(nerr(dyo.back(), y), kTol);
  EXPECT_LT(nerr(ddgu.back(), dgu), kTol);
}

TEST_F(Gpu, SoftmaxCrossEntropy) {
  const int T = 6, V = 4099;
  auto logits = randn(size_t(T) * V, 1, 2.f);
  std::vector<int> targets = {0, 17, -1, 4098, 3, 2048};
  std::vector<float> w = {1.f, 0.5f, 1.f, 2.f, 0.25f, 1.f}, nll(T);
  auto want = logits;
  cpu_g().softmax_xent(want.data(), nll.data(), targets.data(), w.data(), T, V);
  DevF dl(logits), dw(w), dn(zeros(T));
  Dev<int> dt(targets);
  gpu_g().softmax_xent(dl.p, dn.p, dt.p, dw.p, T, V);
  EXPECT_LT(nerr(dl.back(), want), kTol);
  EXPECT_LT(nerr(dn.back(), nll), kTol);
}

TEST_F(Gpu, RowMovesAreExact) {
  const int n = 11, C = 37, rows = 5;
  auto table = randn(size_t(rows) * C, 1), b = randn(C, 2), dy = randn(size_t(n) * C, 3);
  std::vector<int> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = (i * 3) % rows;  // repeats
  std::vector<float> y(size_t(n) * C), z(size_t(n) * C), grad = table;
  cpu().gather_rows(y.data(), table.data(), ids.data(), n, C);
  cpu().add_rows(z.data(), y.data(), b.data(), n, C);
  cpu_g().scatter_add_rows(grad.data(), dy.data(), ids.data(), n, C);
  DevF dt(table), db(b), ddy(dy), dy_(zeros(y.size())), dz(zeros(z.size())), dgrad(table),
      dcopy(zeros(y.size()));
  Dev<int> di(ids);
  gpu().gather_rows(dy_.p, dt.p, di.p, n, C);
  gpu().add_rows(dz.p, dy_.p, db.p, n, C);
  gpu().copy(dcopy.p, dz.p, z.size());
  gpu_g().scatter_add_rows(dgrad.p, ddy.p, di.p, n, C);
  EXPECT_EQ(dy_.back(), y);
  EXPECT_EQ(dz.back(), z);
  EXPECT_EQ(dcopy.back(), z);
  EXPECT_EQ(dgrad.back(), grad);  // the same order of additions: the same bits
}

TEST_F(Gpu, AdamWAndSumOfSquares) {
  const size_t n = 200003;
  auto p = randn(n, 1), g = randn(n, 2), m = randn(n, 3, 0.1f), v = randn(n, 4, 0.1f);
  for (float& x : v) x *= x;
  std::vector<uint8_t> decay(n);
  for (size_t i = 0; i < n; ++i) decay[i] = i % 3 != 0;
  DevF dp(p), dg(g), dm(m), dv(v);
  Dev<uint8_t> dd(decay);
  const double s_cpu = cpu_g().sum_squares(g.data(), n), s_gpu = gpu_g().sum_squares(dg.p, n);
  EXPECT_NEAR(s_gpu, s_cpu, 1e-9 * s_cpu);
  bs::kernels::AdamArgs a;
  a.lr = 3e-4f, a.b1 = 0.9f, a.b2 = 0.95f, a.wd = 0.1f, a.eps = 1e-8f, a.c1 = 1.3f, a.c2 = 1.7f;
  a.clip = 0.7f;
  EXPECT_EQ(cpu_g().adamw(p.data(), m.data(), v.data(), g.data(), decay.data(), n, a), n);
  EXPECT_EQ(gpu_g().adamw(dp.p, dm.p, dv.p, dg.p, dd.p, n, a), n);
  EXPECT_LT(nerr(dp.back(), p), 1e-6);
  EXPECT_LT(nerr(dm.back(), m), 1e-6);
  EXPECT_LT(nerr(dv.back(), v), 1e-6);
  // A non-finite update changes nothing and names the first bad index.
  g[12345] = 3e38f;
  DevF dg2(g);
  const auto before = dp.back();
  EXPECT_EQ(gpu_g().adamw(dp.p, dm.p, dv.p, dg2.p, dd.p, n, a), 12345u);
  EXPECT_EQ(dp.back(), before);
}

TEST_F(Gpu, CheckedCallsNameTheCall) {
  try {
    bs::cuda::device_alloc(size_t(1) << 62);  // no card has 4 EiB
    FAIL() << "an impossible allocation succeeded";
  } catch (const bs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cuda_ops.cu"), std::string::npos) << e.what();
  }
}

}  // namespace
