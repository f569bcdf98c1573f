#include "training/adamw.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/format.h"
#include "kernels/thread_pool.h"

namespace bs {

float lr_at(const TrainConfig& tc, int64_t step) {
  if (tc.warmup > 0 && step < tc.warmup) return tc.lr * float(step + 1) / float(tc.warmup);
  const int64_t span = std::max<int64_t>(1, tc.steps - 1 - tc.warmup);
  const double p = std::min(1.0, double(step - tc.warmup) / double(span));
  return float(tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1.0 + std::cos(M_PI * p)));
}

double grad_norm(const std::vector<float>& grads) {
  // Fixed-size chunks summed in order: the result does not depend on the thread count.
  constexpr size_t kChunk = 1 << 16;
  const size_t n = grads.size(), chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(chunks, 0.0);
  parallel_for(int(chunks), [&](int b, int e) {
    for (int c = b; c < e; ++c) {
      double s = 0;
      for (size_t i = size_t(c) * kChunk; i < std::min(n, size_t(c + 1) * kChunk); ++i)
        s += double(grads[i]) * grads[i];
      part[c] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return std::sqrt(s);
}

AdamW::AdamW(const Model& model) : m(model.num_params(), 0.f), v(model.num_params(), 0.f) {
  decay.assign(model.num_params(), 0);
  for (const auto& t : model.tensors()) {
    names_.push_back({t.offset, t.name});
    if (t.shape.size() == 2)
      std::fill(decay.begin() + t.offset, decay.begin() + t.offset + t.numel, uint8_t(1));
  }
}

double AdamW::step(std::vector<float>& params, std::vector<float>& grads, const TrainConfig& tc,
                   float lr) {
  const double norm = grad_norm(grads);
  if (!std::isfinite(norm)) return norm;
  const float clip = (tc.grad_clip > 0 && norm > tc.grad_clip) ? float(tc.grad_clip / norm) : 1.f;
  ++t;
  const float b1 = tc.beta1, b2 = tc.beta2, wd = tc.weight_decay;
  const float c1 = 1.f / float(1.0 - std::pow(double(b1), double(t)));
  const float c2 = 1.f / float(1.0 - std::pow(double(b2), double(t)));
  const int n = int(params.size());
  // The update of element i (moments and weight), the same arithmetic in both passes below.
  auto update = [&](int i, float& mi, float& vi, float& pi) {
    const float g = grads[i] * clip;
    mi = b1 * m[i] + (1.f - b1) * g;
    vi = b2 * v[i] + (1.f - b2) * g * g;
    const float upd = (mi * c1) / (std::sqrt(vi * c2) + kEps);
    pi = params[i] - lr * (upd + (decay[i] ? wd * params[i] : 0.f));
  };
  // First pass: would any new value be non-finite? (the first such index per chunk, or n)
  const int chunks = (n + 4095) / 4096;
  std::vector<int> bad(size_t(chunks), n);
  parallel_for(chunks, [&](int cb, int ce) {
    for (int c = cb; c < ce; ++c)
      for (int i = c * 4096; i < std::min(n, (c + 1) * 4096); ++i) {
        float mi, vi, pi;
        update(i, mi, vi, pi);
        if (!std::isfinite(mi) || !std::isfinite(vi) || !std::isfinite(pi)) {
          bad[size_t(c)] = i;
          break;
        }
      }
  });
  const int first = *std::min_element(bad.begin(), bad.end());
  if (first < n) {
    --t;
    std::string name = "?";
    for (const auto& [off, nm] : names_)
      if (off <= size_t(first)) name = nm;
    throw Error("the update", "would make '" + name + "' non-finite (learning rate " +
                                  shortest(lr) + " too high?); nothing was changed");
  }
  // Element-wise: any split gives the same bits.
  parallel_for(chunks, [&](int cb, int ce) {
    for (int i = cb * 4096; i < std::min(n, ce * 4096); ++i) {
      float mi, vi, pi;
      update(i, mi, vi, pi);
      m[i] = mi, v[i] = vi, params[i] = pi;
      grads[i] *= clip;  // the clipped gradient stays in grads, as before
    }
  });
  return norm;
}

}  // namespace bs
