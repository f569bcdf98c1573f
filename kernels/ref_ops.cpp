// Scalar reference of every op in kernels.h: single-threaded, double accumulators, written to be
// read. Nobody optimises this file; the fast versions are tested against it.
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/row_ops.h"

namespace bs::kernels {
namespace {

// y(T,N) = x(T,C) · w(N,C)^T  (+ y when accumulate)
void ref_matmul(float* y, const float* x, const float* w, int T, int C, int N, bool accumulate) {
  for (int t = 0; t < T; ++t) {
    for (int n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int c = 0; c < C; ++c) acc += double(x[size_t(t) * C + c]) * w[size_t(n) * C + c];
      float* out = &y[size_t(t) * N + n];
      *out = accumulate ? float(*out + acc) : float(acc);
    }
  }
}

// y(T,C) = x * rstd * w, rstd(T) = 1/sqrt(mean(x^2) + eps)
void ref_rmsnorm(float* y, float* rstd, const float* x, const float* w, int T, int C, float eps) {
  for (int t = 0; t < T; ++t) {
    const float* xr = x + size_t(t) * C;
    double ss = 0.0;
    for (int c = 0; c < C; ++c) ss += double(xr[c]) * xr[c];
    const double r = 1.0 / std::sqrt(ss / C + eps);
    for (int c = 0; c < C; ++c) y[size_t(t) * C + c] = float(xr[c] * r * w[c]);
    if (rstd) rstd[t] = float(r);
  }
}

// x: row t, head h at x + t*stride + h*D; pairs (j, j + D/2), angle = pos[t] * base^(-2j/D).
void ref_rope(float* x, const int* pos, int T, int H, int D, int stride, float base) {
  const int half = D / 2;
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < H; ++h) {
      float* v = x + size_t(t) * stride + size_t(h) * D;
      for (int j = 0; j < half; ++j) {
        const double angle = double(pos[t]) * std::pow(double(base), -2.0 * j / D);
        const double c = std::cos(angle), s = std::sin(angle);
        const double a = v[j], b = v[j + half];
        v[j] = float(a * c - b * s);
        v[j + half] = float(a * s + b * c);
      }
    }
  }
}

// out(Tq, H*D) = softmax(q k^T * scale + mask + bias) v, one head and one query row at a time.
void ref_attention(float* out, float* probs, const float* q, const float* k, const float* v,
                   const AttnArgs& a) {
  const bool bias = a.key_bias != nullptr && a.beta != nullptr;
  std::vector<double> p(a.Tk);  // (Tk) weights of one row
  for (int h = 0; h < a.H; ++h) {
    for (int i = 0; i < a.Tq; ++i) {
      const int limit = a.key_limit[i];
      const float* qi = q + size_t(i) * a.q_stride + size_t(h) * a.D;
      double mx = -INFINITY;
      for (int j = 0; j < limit; ++j) {
        const float* kj = k + size_t(j) * a.kv_stride + size_t(h) * a.D;
        double dot = 0.0;
        for (int d = 0; d < a.D; ++d) dot += double(qi[d]) * kj[d];
        double logit = dot * a.scale;
        if (bias && i >= a.bias_from) logit += double(a.beta[h]) * a.key_bias[j];
        p[j] = logit;
        if (logit > mx) mx = logit;
      }
      double sum = 0.0;
      for (int j = 0; j < limit; ++j) {
        p[j] = std::exp(p[j] - mx);
        sum += p[j];
      }
      for (int j = 0; j < a.Tk; ++j) p[j] = j < limit ? p[j] / sum : 0.0;  // masked: exactly 0

      float* oi = out + size_t(i) * a.out_stride + size_t(h) * a.D;
      for (int d = 0; d < a.D; ++d) {
        double acc = 0.0;
        for (int j = 0; j < limit; ++j)
          acc += p[j] * v[size_t(j) * a.kv_stride + size_t(h) * a.D + d];
        oi[d] = float(acc);
      }
      if (probs) {
        float* pr = probs + (size_t(h) * a.Tq + i) * a.Tk;
        for (int j = 0; j < a.Tk; ++j) pr[j] = float(p[j]);
      }
    }
  }
}

// y(T,F) = silu(g) * u with g = gu[:, :F], u = gu[:, F:]
void ref_swiglu(float* y, const float* gu, int T, int F) {
  for (int t = 0; t < T; ++t) {
    for (int f = 0; f < F; ++f) {
      const double g = gu[size_t(t) * 2 * F + f], u = gu[size_t(t) * 2 * F + F + f];
      y[size_t(t) * F + f] = float(g / (1.0 + std::exp(-g)) * u);
    }
  }
}

}  // namespace

const Ops& ref_ops() {
  // No weight preparation: the reference multiplies the raw weights. Row moves and the sampler
  // are plain scalar code already, shared with the CPU table.
  static const Ops ops{"ref",      ref_matmul,  ref_rmsnorm,  ref_rope,    ref_attention,
                       ref_swiglu, gather_rows, add_rows,     copy_floats, nullptr,
                       nullptr,    sample_rows, choose_unmask};
  return ops;
}

}  // namespace bs::kernels
