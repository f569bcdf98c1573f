// Every backward op, on its own, against central finite differences of its forward op, per
// output tensor and element by element (the tensors are small): matmul (dx, dw), RMSNorm (dx,
// dw), RoPE (its backward is the rotation by the negative angle), attention (dq, dk, dv, dbeta,
// with a block mask and the recency bias), SwiGLU (dgu), the fused softmax cross-entropy
// (dlogits) and its soft-target form for distillation (softmax_kl). Each check runs for the
// scalar reference table and the optimised CPU table, each against its own forward. The loss is
// L = Σ r ⊙ y for a fixed random r, so dy = r; L is summed in double. A wrong term gives errors of
// order the gradient itself, far above the tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/backward.h"
#include "kernels/kernels.h"

namespace {

using bs::kernels::AttnArgs;
using bs::kernels::GradOps;
using bs::kernels::Ops;

struct Tables {
  const Ops* ops;
  const GradOps* grad;
};

class GradOpsTest : public ::testing::TestWithParam<std::string> {
 protected:
  Tables t() const {
    if (GetParam() == "ref") return {&bs::kernels::ref_ops(), &bs::kernels::ref_grad_ops()};
    return {&bs::kernels::cpu_ops(), &bs::kernels::cpu_grad_ops()};
  }
};

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Checks grad[i] = dL/dp[i] for every element of p by central differences of loss().
void expect_gradient(const char* what, std::vector<float>& p, const std::vector<float>& grad,
                     const std::function<double()>& loss, float eps = 2e-3f) {
  ASSERT_EQ(p.size(), grad.size()) << what;
  for (size_t i = 0; i < p.size(); ++i) {
    const float saved = p[i];
    p[i] = saved + eps;
    const double fp = loss();
    p[i] = saved - eps;
    const double fm = loss();
    p[i] = saved;
    const double num = (fp - fm) / (2.0 * eps);
    EXPECT_NEAR(grad[i], num, 2e-3 + 1e-2 * std::abs(num)) << what << "[" << i << "]";
  }
}

TEST_P(GradOpsTest, Matmul) {
  const int T = 3, C = 5, N = 4;
  std::vector<float> x = randn(T * C, 1), w = randn(N * C, 2), r = randn(T * N, 3);
  std::vector<float> y(T * N);
  auto loss = [&] {
    t().ops->matmul(y.data(), x.data(), w.data(), T, C, N, false);
    return dot(y, r);
  };
  std::vector<float> dx(T * C), dw(N * C, 0.f);
  t().grad->matmul_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), T, C, N, false);
  expect_gradient("dx", x, dx, loss);
  expect_gradient("dw", w, dw, loss);
  // The rule: dw accumulates (+=), dx is written unless told to accumulate.
  std::vector<float> dx2(T * C, 7.f), dw2 = dw;
  t().grad->matmul_backward(dx2.data(), dw2.data(), r.data(), x.data(), w.data(), T, C, N, false);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_FLOAT_EQ(dx2[i], dx[i]);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-5);
  t().grad->matmul_backward(dx2.data(), nullptr, r.data(), x.data(), w.data(), T, C, N, true);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], 2 * dx[i], 1e-5);
}

TEST_P(GradOpsTest, RmsNorm) {
  const int T = 3, C = 6;
  const float eps_norm = 1e-5f;
  std::vector<float> x = randn(T * C, 4), w = randn(C, 5, 0.5f), r = randn(T * C, 6);
  for (float& v : w) v += 1.f;
  std::vector<float> y(T * C), rstd(T);
  auto loss = [&] {
    t().ops->rmsnorm(y.data(), rstd.data(), x.data(), w.data(), T, C, eps_norm);
    return dot(y, r);
  };
  loss();
  std::vector<float> dx(T * C), dw(C, 0.f);
  t().grad->rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), T, C,
                             false);
  expect_gradient("dx", x, dx, loss);
  expect_gradient("dw", w, dw, loss);
}

TEST_P(GradOpsTest, RopeBackwardIsTheInverseRotation) {
  const int T = 3, H = 2, D = 4, stride = H * D;
  const float base = 10000.f;
  std::vector<int> pos = {0, 3, 7}, neg = {0, -3, -7};
  std::vector<float> x = randn(T * stride, 7), r = randn(T * stride, 8), y(T * stride);
  auto loss = [&] {
    y = x;
    t().ops->rope(y.data(), pos.data(), T, H, D, stride, base);
    return dot(y, r);
  };
  std::vector<float> dx = r;
  t().ops->rope(dx.data(), neg.data(), T, H, D, stride, base);
  expect_gradient("dx", x, dx, loss);
}

TEST_P(GradOpsTest, AttentionWithMaskAndRecencyBias) {
  // 5 rows in a block layout: 2 prefix rows see each other, 2 block rows see rows 0-3, the last
  // row (a summary slot) sees all and gets the recency bias on keys 2-3.
  const int T = 5, H = 2, D = 3, C = H * D;
  std::vector<int> limit = {2, 2, 4, 4, 5};
  std::vector<float> key_bias = {0.f, 0.f, 0.25f, 1.f, 0.f};
  std::vector<float> q = randn(T * C, 9), k = randn(T * C, 10), v = randn(T * C, 11);
  std::vector<float> beta = {0.8f, 1.7f}, r = randn(T * C, 12);
  AttnArgs a;
  a.Tq = a.Tk = T, a.H = H, a.D = D;
  a.q_stride = a.kv_stride = a.out_stride = C;
  a.key_limit = limit.data();
  a.key_bias = key_bias.data();
  a.beta = beta.data();
  a.bias_from = 4;
  a.scale = 1.f / std::sqrt(float(D));
  std::vector<float> out(T * C), probs(size_t(H) * T * T);
  auto loss = [&] {
    t().ops->attention(out.data(), probs.data(), q.data(), k.data(), v.data(), a);
    return dot(out, r);
  };
  loss();
  std::vector<float> dq(T * C), dk(T * C), dv(T * C), dbeta(H, 0.f);
  t().grad->attention_backward(dq.data(), dk.data(), dv.data(), dbeta.data(), r.data(),
                               probs.data(), q.data(), k.data(), v.data(), a);
  expect_gradient("dq", q, dq, loss);
  expect_gradient("dk", k, dk, loss);
  expect_gradient("dv", v, dv, loss);
  expect_gradient("dbeta", beta, dbeta, loss);
  EXPECT_GT(std::abs(dbeta[0]) + std::abs(dbeta[1]), 1e-3) << "the bias should matter here";
}

TEST_P(GradOpsTest, SwiGLU) {
  const int T = 2, F = 5;
  std::vector<float> gu = randn(T * 2 * F, 13, 1.5f), r = randn(T * F, 14), y(T * F);
  auto loss = [&] {
    t().ops->swiglu(y.data(), gu.data(), T, F);
    return dot(y, r);
  };
  std::vector<float> dgu(T * 2 * F);
  t().grad->swiglu_backward(dgu.data(), r.data(), gu.data(), T, F);
  expect_gradient("dgu", gu, dgu, loss);
}

TEST_P(GradOpsTest, SoftmaxCrossEntropy) {
  const int T = 3, V = 7;
  std::vector<float> logits = randn(T * V, 15, 2.f);
  std::vector<int> targets = {2, 6, -1};  // the last row carries no loss
  std::vector<float> weights = {0.5f, 1.5f, 1.f}, nll(T);
  auto loss = [&] {
    std::vector<float> l = logits;
    t().grad->softmax_xent(l.data(), nll.data(), targets.data(), weights.data(), T, V);
    double s = 0;
    for (int i = 0; i < T; ++i) s += double(weights[i]) * nll[i];
    return s;
  };
  std::vector<float> d = logits;
  t().grad->softmax_xent(d.data(), nll.data(), targets.data(), weights.data(), T, V);
  EXPECT_EQ(nll[2], 0.f);
  for (int v = 0; v < V; ++v) EXPECT_EQ(d[2 * V + v], 0.f);
  expect_gradient("dlogits", logits, d, loss);
}

TEST_P(GradOpsTest, SoftmaxKlAgainstSoftTargets) {
  const int T = 3, V = 6;
  std::vector<float> logits = randn(T * V, 16, 1.5f), kl(T);
  // Target rows: a spread distribution, one with zeros, a one-hot (KL = cross-entropy then).
  std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.15f, 0.15f, 0.1f,  //
                          0.f,  0.5f, 0.f,  0.25f, 0.25f, 0.f,   //
                          0.f,  0.f,  1.f,  0.f,   0.f,   0.f};
  std::vector<float> weights = {1.f, 0.5f, 2.f};
  auto loss = [&] {
    std::vector<float> l = logits;
    t().grad->softmax_kl(l.data(), kl.data(), p.data(), weights.data(), T, V);
    double s = 0;
    for (int i = 0; i < T; ++i) s += double(weights[i]) * kl[i];
    return s;
  };
  std::vector<float> d = logits;
  t().grad->softmax_kl(d.data(), kl.data(), p.data(), weights.data(), T, V);
  expect_gradient("dlogits", logits, d, loss);
  loss();  // kl of the unperturbed logits again (the checks above left the last perturbation's)
  // KL by hand for the one-hot row: −ln q(2); and KL >= 0 everywhere.
  double mx = logits[2 * V], z = 0;
  for (int v = 0; v < V; ++v) mx = std::max(mx, double(logits[2 * V + v]));
  for (int v = 0; v < V; ++v) z += std::exp(logits[2 * V + v] - mx);
  EXPECT_NEAR(kl[2], std::log(z) + mx - logits[2 * V + 2], 1e-5);
  for (float k : kl) EXPECT_GE(k, -1e-6f);
  // The target itself as the logits: KL = 0 and no gradient.
  std::vector<float> self(V), kl1(1), w1 = {1.f};
  for (int v = 0; v < V; ++v) self[v] = std::log(p[v]);
  t().grad->softmax_kl(self.data(), kl1.data(), p.data(), w1.data(), 1, V);
  EXPECT_NEAR(kl1[0], 0.f, 1e-5);
  for (float g : self) EXPECT_NEAR(g, 0.f, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Tables, GradOpsTest, ::testing::Values("ref", "cpu"));

}  // namespace
