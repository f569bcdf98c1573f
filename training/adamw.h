// AdamW with decoupled weight decay, global-norm gradient clipping, and the learning-rate
// schedule (linear warm-up, then cosine decay to min_lr). One flat state over Model::params.
//
// Weight decay applies to matrices only (tensors of rank 2: embeddings, projections); gains,
// recency betas and the memory-type vector are not decayed (decaying a norm gain pulls it to 0,
// not to its neutral value 1).
#pragma once
#include <cstdint>
#include <vector>

#include "core/config.h"
#include "core/model.h"
#include "kernels/backward.h"

namespace bs {

// Learning rate at optimizer step `step` (0-based): lr·(step+1)/warmup during warm-up, then
// cosine from lr down to min_lr at step == steps-1.
float lr_at(const TrainConfig& tc, int64_t step);

// Global L2 norm of the gradient (accumulated in double, fixed order: deterministic).
double grad_norm(const std::vector<float>& grads,
                 const kernels::GradOps& g = kernels::cpu_grad_ops());

class AdamW {
 public:
  explicit AdamW(const Model& m);  // zero moments, decay mask from the model's tensors
  // One update: clips grads to tc.grad_clip (in place, when the norm exceeds it), then
  //   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;  p -= lr (m̂ / (sqrt(v̂) + eps) + wd·p·decay)
  // with bias-corrected m̂, v̂. Returns the gradient norm before clipping; when it is not finite
  // nothing is changed (no update, t not advanced). An update that would make a weight or a
  // moment non-finite (a learning rate far too high) changes nothing either and throws
  // bs::Error naming the tensor: a run never goes on from, or saves, a non-finite weight.
  // The arithmetic runs on the backward ops g (kernels/optim_ops.h).
  double step(std::vector<float>& params, std::vector<float>& grads, const TrainConfig& tc,
              float lr, const kernels::GradOps& g = kernels::cpu_grad_ops());

  int64_t t = 0;               // updates done
  std::vector<float> m, v;     // (params) first and second moments
  std::vector<uint8_t> decay;  // (params) 1 where weight decay applies
  static constexpr float kEps = 1e-8f;

 private:
  std::vector<std::pair<size_t, std::string>> names_;  // (offset, tensor name), for messages
};

}  // namespace bs
