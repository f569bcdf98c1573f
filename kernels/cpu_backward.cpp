// Optimised CPU backward ops: Eigen expressions, products handed to OpenBLAS (EIGEN_USE_BLAS),
// work split over the blocking thread pool. Every output element is computed by exactly one
// thread; reductions across rows (norm gains) use per-chunk partials summed in chunk order.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/backward.h"
#include "kernels/fast_exp.h"
#include "kernels/row_ops.h"
#include "kernels/thread_pool.h"

namespace bs::kernels {
namespace {

// Sums in a fixed order. Eigen's vectorised .sum() on a Map starts its packets at the first
// aligned address, so its rounding depends on where malloc put the buffer: results then differ
// from run to run, and resumed training would not repeat bit for bit.
inline double fixed_sum(const float* x, int n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) s0 += x[i], s1 += x[i + 1], s2 += x[i + 2], s3 += x[i + 3];
  for (; i < n; ++i) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}
inline float fixed_dot3(const float* a, const float* b, const float* c, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i] * c[i], s1 += a[i + 1] * b[i + 1] * c[i + 1];
    s2 += a[i + 2] * b[i + 2] * c[i + 2], s3 += a[i + 3] * b[i + 3] * c[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i] * c[i];
  return (s0 + s1) + (s2 + s3);
}

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;
using MMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
using Eigen::OuterStride;

// Rows per task: coarse chunks, a multiple of 8 where possible.
int chunks_for(int n, int min_rows) {
  return std::max(1, std::min(num_threads(), n / std::max(1, min_rows)));
}

template <class F>
void for_chunks(int n, int chunks, F fn) {
  parallel_for(chunks, [&](int c0, int c1) {
    for (int c = c0; c < c1; ++c)
      fn(int(int64_t(n) * c / chunks), int(int64_t(n) * (c + 1) / chunks));
  });
}

void cpu_matmul_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                         int T, int C, int N, bool acc) {
  if (dx) {
    for_chunks(T, chunks_for(T, 16), [&](int t0, int t1) {
      if (t1 <= t0) return;
      MMap out(dx + size_t(t0) * C, t1 - t0, C, OuterStride<>(C));
      CMap g(dy + size_t(t0) * N, t1 - t0, N, OuterStride<>(N));
      CMap W(w, N, C, OuterStride<>(C));
      if (acc)
        out.noalias() += g * W;
      else
        out.noalias() = g * W;
    });
  }
  if (dw) {
    for_chunks(N, chunks_for(N, 16), [&](int n0, int n1) {
      if (n1 <= n0) return;
      MMap out(dw + size_t(n0) * C, n1 - n0, C, OuterStride<>(C));
      CMap g(dy + n0, T, n1 - n0, OuterStride<>(N));
      CMap X(x, T, C, OuterStride<>(C));
      out.noalias() += g.transpose() * X;
    });
  }
}

void cpu_rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                          const float* rstd, int T, int C, bool acc) {
  const int chunks = chunks_for(T, 8);
  std::vector<float> part(size_t(chunks) * C, 0.f);
  parallel_for(chunks, [&](int c0, int c1) {
    for (int c = c0; c < c1; ++c) {
      const int t0 = int(int64_t(T) * c / chunks), t1 = int(int64_t(T) * (c + 1) / chunks);
      Eigen::Map<Eigen::ArrayXf> pw(part.data() + size_t(c) * C, C);
      Eigen::Map<const Eigen::ArrayXf> W(w, C);
      for (int t = t0; t < t1; ++t) {
        Eigen::Map<const Eigen::ArrayXf> g(dy + size_t(t) * C, C), xr(x + size_t(t) * C, C);
        Eigen::Map<Eigen::ArrayXf> o(dx + size_t(t) * C, C);
        const float r = rstd[t];
        const float dot = fixed_dot3(dy + size_t(t) * C, w, x + size_t(t) * C, C);
        if (acc)
          o += r * g * W - (r * r * r * dot / C) * xr;
        else
          o = r * g * W - (r * r * r * dot / C) * xr;
        pw += g * xr * r;
      }
    }
  });
  for (int c = 0; c < chunks; ++c)
    for (int j = 0; j < C; ++j) dw[j] += part[size_t(c) * C + j];
}

void cpu_attention_backward(float* dq, float* dk, float* dv, float* dbeta, const float* dout,
                            const float* probs, const float* q, const float* k, const float* v,
                            const AttnArgs& a) {
  const int H = a.H, D = a.D, Tq = a.Tq, Tk = a.Tk;
  int kmax = 0;
  for (int i = 0; i < Tq; ++i) kmax = std::max(kmax, a.key_limit[i]);
  // Keys beyond every query's limit get no gradient.
  for (int j = kmax; j < Tk; ++j)
    for (int h = 0; h < H; ++h)
      for (int d = 0; d < D; ++d)
        dk[size_t(j) * a.kv_stride + h * D + d] = dv[size_t(j) * a.kv_stride + h * D + d] = 0;
  std::vector<float> dbeta_h(H, 0.f);
  parallel_for(H, [&](int h0, int h1) {
    RowMat dP, dS;
    for (int h = h0; h < h1; ++h) {
      CMap P(probs + size_t(h) * Tq * Tk, Tq, kmax, OuterStride<>(Tk));
      CMap dO(dout + h * D, Tq, D, OuterStride<>(a.out_stride));
      CMap Q(q + h * D, Tq, D, OuterStride<>(a.q_stride));
      CMap K(k + h * D, kmax, D, OuterStride<>(a.kv_stride));
      CMap V(v + h * D, kmax, D, OuterStride<>(a.kv_stride));
      MMap dQ(dq + h * D, Tq, D, OuterStride<>(a.q_stride));
      MMap dK(dk + h * D, kmax, D, OuterStride<>(a.kv_stride));
      MMap dV(dv + h * D, kmax, D, OuterStride<>(a.kv_stride));
      dP.noalias() = dO * V.transpose();  // (Tq, kmax)
      Eigen::VectorXf rs(Tq);
      for (int i = 0; i < Tq; ++i) {
        float r0 = 0, r1 = 0;
        int j = 0;
        for (; j + 2 <= kmax; j += 2) r0 += dP(i, j) * P(i, j), r1 += dP(i, j + 1) * P(i, j + 1);
        if (j < kmax) r0 += dP(i, j) * P(i, j);
        rs[i] = r0 + r1;
      }
      dS = P.array() * (dP.array().colwise() - rs.array());  // zero where P is zero (masked keys)
      if (dbeta && a.beta && a.key_bias && a.bias_from < Tq) {
        Eigen::Map<const Eigen::VectorXf> kb(a.key_bias, kmax);
        dbeta_h[h] = (dS.bottomRows(Tq - a.bias_from) * kb).sum();
      }
      dV.noalias() = P.transpose() * dO;
      dQ.noalias() = a.scale * (dS * K);
      dK.noalias() = a.scale * (dS.transpose() * Q);
    }
  });
  if (dbeta)
    for (int h = 0; h < H; ++h) dbeta[h] += dbeta_h[h];
}

void cpu_swiglu_backward(float* dgu, const float* dy, const float* gu, int T, int F) {
  for_chunks(T, chunks_for(T, 8), [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t) {
      Eigen::Map<const Eigen::ArrayXf> g(gu + size_t(t) * 2 * F, F),
          u(gu + size_t(t) * 2 * F + F, F), d(dy + size_t(t) * F, F);
      Eigen::Map<Eigen::ArrayXf> dg(dgu + size_t(t) * 2 * F, F), du(dgu + size_t(t) * 2 * F + F, F);
      // A plain loop: Eigen would use a scalar exp on the unaligned head and a packet exp on the
      // rest, so the bits would depend on the buffer's address (see fixed_sum).
      for (int j = 0; j < F; ++j) {
        const float sg = 1.f / (1.f + exp_approx(-g[j]));
        dg[j] = d[j] * u[j] * sg * (1.f + g[j] * (1.f - sg));
        du[j] = d[j] * g[j] * sg;
      }
    }
  });
}

void cpu_softmax_xent(float* logits, float* nll, const int* targets, const float* weights, int T,
                      int V) {
  for_chunks(T, chunks_for(T, 4), [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t) {
      Eigen::Map<Eigen::ArrayXf> l(logits + size_t(t) * V, V);
      if (targets[t] < 0) {
        l.setZero();
        nll[t] = 0;
        continue;
      }
      const float mx = l.maxCoeff();
      const float xt = l[targets[t]] - mx;  // before the exp overwrites it (no underflow to log 0)
      float* lp = l.data();  // plain loop over a raw pointer: vectorises; see fixed_sum
      for (int j = 0; j < V; ++j) lp[j] = exp_approx(lp[j] - mx);
      const double z = fixed_sum(l.data(), V);
      nll[t] = float(std::log(z) - xt);
      l *= float(weights[t] / z);
      l[targets[t]] -= weights[t];
    }
  });
}

void cpu_softmax_kl(float* logits, float* kl, const float* targets, const float* weights, int T,
                    int V) {
  for_chunks(T, chunks_for(T, 4), [&](int t0, int t1) {
    for (int t = t0; t < t1; ++t) {
      float* lp = logits + size_t(t) * V;
      const float* p = targets + size_t(t) * V;
      float mx = lp[0];
      for (int j = 1; j < V; ++j) mx = std::max(mx, lp[j]);
      // Σ p ln p and Σ p (l − mx) before the exp overwrites the logits.
      double plogp = 0, pl = 0;
      for (int j = 0; j < V; ++j)
        if (p[j] > 0)
          plogp += double(p[j]) * std::log(double(p[j])), pl += double(p[j]) * (lp[j] - mx);
      for (int j = 0; j < V; ++j) lp[j] = exp_approx(lp[j] - mx);
      const double z = fixed_sum(lp, V);
      kl[t] = float(plogp - pl + std::log(z));  // Σ p ln p − Σ p ln q, ln q = l − mx − ln z
      const float w = weights[t], inv = float(1.0 / z);
      for (int j = 0; j < V; ++j) lp[j] = w * (lp[j] * inv - p[j]);
    }
  });
}

}  // namespace

const GradOps& cpu_grad_ops() {
  static const GradOps ops{"cpu",
                           cpu_matmul_backward,
                           cpu_rmsnorm_backward,
                           cpu_attention_backward,
                           cpu_swiglu_backward,
                           cpu_softmax_xent,
                           cpu_softmax_kl,
                           scatter_add_rows,
                           cpu_sum_squares,
                           cpu_adamw};
  return ops;
}

}  // namespace bs::kernels
