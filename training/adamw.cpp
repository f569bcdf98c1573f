#include "training/adamw.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/format.h"

namespace bs {

float lr_at(const TrainConfig& tc, int64_t step) {
  if (tc.warmup > 0 && step < tc.warmup) return tc.lr * float(step + 1) / float(tc.warmup);
  const int64_t span = std::max<int64_t>(1, tc.steps - 1 - tc.warmup);
  const double p = std::min(1.0, double(step - tc.warmup) / double(span));
  return float(tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1.0 + std::cos(M_PI * p)));
}

double grad_norm(const std::vector<float>& grads, const kernels::GradOps& g) {
  return std::sqrt(g.sum_squares(grads.data(), grads.size()));
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
                   float lr, const kernels::GradOps& g) {
  const double norm = grad_norm(grads, g);
  if (!std::isfinite(norm)) return norm;
  kernels::AdamArgs a;
  a.clip = (tc.grad_clip > 0 && norm > tc.grad_clip) ? float(tc.grad_clip / norm) : 1.f;
  ++t;
  a.lr = lr, a.b1 = tc.beta1, a.b2 = tc.beta2, a.wd = tc.weight_decay, a.eps = kEps;
  a.c1 = 1.f / float(1.0 - std::pow(double(a.b1), double(t)));
  a.c2 = 1.f / float(1.0 - std::pow(double(a.b2), double(t)));
  const size_t n = params.size();
  const size_t first = g.adamw(params.data(), m.data(), v.data(), grads.data(), decay.data(), n, a);
  if (first < n) {
    --t;
    std::string name = "?";
    for (const auto& [off, nm] : names_)
      if (off <= first) name = nm;
    throw Error("the update", "would make '" + name + "' non-finite (learning rate " +
                                  shortest(lr) + " too high?); nothing was changed");
  }
  return norm;
}

}  // namespace bs
