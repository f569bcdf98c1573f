// Scalar reference backward ops: written for clarity, double accumulators, never optimised.
#include <cmath>
#include <vector>

#include "kernels/backward.h"
#include "kernels/row_ops.h"

namespace bs::kernels {
namespace {

void ref_matmul_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                         int T, int C, int N, bool acc) {
  if (dx) {
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int n = 0; n < N; ++n) s += double(dy[size_t(t) * N + n]) * w[size_t(n) * C + c];
        dx[size_t(t) * C + c] = float((acc ? dx[size_t(t) * C + c] : 0.0) + s);
      }
  }
  if (dw) {
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int t = 0; t < T; ++t) s += double(dy[size_t(t) * N + n]) * x[size_t(t) * C + c];
        dw[size_t(n) * C + c] += float(s);
      }
  }
}

// y_c = x_c r w_c, r = (mean x² + eps)^(-1/2); dr/dx_c = -r³ x_c / C.
// dx_c = r (dy_c w_c) - r³ x_c / C · Σ_k dy_k w_k x_k.
void ref_rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                          const float* rstd, int T, int C, bool acc) {
  for (int t = 0; t < T; ++t) {
    const float* xr = x + size_t(t) * C;
    const float* g = dy + size_t(t) * C;
    double r = rstd[t], dot = 0;
    for (int c = 0; c < C; ++c) dot += double(g[c]) * w[c] * xr[c];
    for (int c = 0; c < C; ++c) {
      double v = r * g[c] * w[c] - r * r * r * xr[c] * dot / C;
      float* o = dx + size_t(t) * C + c;
      *o = float((acc ? *o : 0.0) + v);
      dw[c] += float(double(g[c]) * xr[c] * r);
    }
  }
}

void ref_attention_backward(float* dq, float* dk, float* dv, float* dbeta, const float* dout,
                            const float* probs, const float* q, const float* k, const float* v,
                            const AttnArgs& a) {
  const int H = a.H, D = a.D, Tq = a.Tq, Tk = a.Tk;
  for (int i = 0; i < Tq; ++i)
    for (int h = 0; h < H; ++h)
      for (int d = 0; d < D; ++d) dq[size_t(i) * a.q_stride + h * D + d] = 0;
  for (int j = 0; j < Tk; ++j)
    for (int h = 0; h < H; ++h)
      for (int d = 0; d < D; ++d) {
        dk[size_t(j) * a.kv_stride + h * D + d] = 0;
        dv[size_t(j) * a.kv_stride + h * D + d] = 0;
      }
  std::vector<double> dp(Tk);
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < Tq; ++i) {
      const float* P = probs + (size_t(h) * Tq + i) * Tk;
      const float* go = dout + size_t(i) * a.out_stride + h * D;
      const int lim = a.key_limit[i];
      double sum = 0;
      for (int j = 0; j < lim; ++j) {
        const float* vj = v + size_t(j) * a.kv_stride + h * D;
        double s = 0;
        for (int d = 0; d < D; ++d) s += double(go[d]) * vj[d];
        dp[j] = s;
        sum += s * P[j];
        for (int d = 0; d < D; ++d)
          dv[size_t(j) * a.kv_stride + h * D + d] += float(double(P[j]) * go[d]);
      }
      for (int j = 0; j < lim; ++j) {
        double ds = P[j] * (dp[j] - sum);  // d loss / d logit(i,j)
        if (dbeta && a.beta && a.key_bias && i >= a.bias_from)
          dbeta[h] += float(ds * a.key_bias[j]);
        const float* kj = k + size_t(j) * a.kv_stride + h * D;
        const float* qi = q + size_t(i) * a.q_stride + h * D;
        for (int d = 0; d < D; ++d) {
          dq[size_t(i) * a.q_stride + h * D + d] += float(ds * a.scale * kj[d]);
          dk[size_t(j) * a.kv_stride + h * D + d] += float(ds * a.scale * qi[d]);
        }
      }
    }
  }
}

void ref_swiglu_backward(float* dgu, const float* dy, const float* gu, int T, int F) {
  for (int t = 0; t < T; ++t)
    for (int f = 0; f < F; ++f) {
      double g = gu[size_t(t) * 2 * F + f], u = gu[size_t(t) * 2 * F + F + f];
      double s = 1.0 / (1.0 + std::exp(-g));
      double d = dy[size_t(t) * F + f];
      dgu[size_t(t) * 2 * F + f] = float(d * u * s * (1 + g * (1 - s)));
      dgu[size_t(t) * 2 * F + F + f] = float(d * g * s);
    }
}

void ref_softmax_xent(float* logits, float* nll, const int* targets, const float* weights, int T,
                      int V) {
  for (int t = 0; t < T; ++t) {
    float* l = logits + size_t(t) * V;
    if (targets[t] < 0) {
      for (int v = 0; v < V; ++v) l[v] = 0;
      nll[t] = 0;
      continue;
    }
    double mx = l[0];
    for (int v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(l[v] - mx);
    nll[t] = float(std::log(z) + mx - l[targets[t]]);
    for (int v = 0; v < V; ++v) {
      double p = std::exp(l[v] - mx) / z;
      l[v] = float(weights[t] * (p - (v == targets[t] ? 1.0 : 0.0)));
    }
  }
}

void ref_softmax_kl(float* logits, float* kl, const float* targets, const float* weights, int T,
                    int V) {
  for (int t = 0; t < T; ++t) {
    float* l = logits + size_t(t) * V;
    const float* p = targets + size_t(t) * V;
    double mx = l[0];
    for (int v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(l[v] - mx);
    const double lz = std::log(z) + mx;  // ln q_v = l_v − lz
    double d = 0;
    for (int v = 0; v < V; ++v)
      if (p[v] > 0) d += double(p[v]) * (std::log(double(p[v])) - (l[v] - lz));
    kl[t] = float(d);
    for (int v = 0; v < V; ++v) l[v] = float(weights[t] * (std::exp(l[v] - lz) - double(p[v])));
  }
}

}  // namespace

const GradOps& ref_grad_ops() {
  static const GradOps ops{"ref",
                           ref_matmul_backward,
                           ref_rmsnorm_backward,
                           ref_attention_backward,
                           ref_swiglu_backward,
                           ref_softmax_xent,
                           ref_softmax_kl,
                           scatter_add_rows,
                           ref_sum_squares,
                           ref_adamw};
  return ops;
}

}  // namespace bs::kernels
