// The optimizer's element-wise arithmetic as backend ops (training/adamw.h states the rule and
// owns the schedule, the clipping decision and the messages). Both CPU tables: cpu_* split the
// work over the thread pool, ref_* run it in one loop; every element is computed the same way
// and the sum of squares is summed in fixed chunks in order, so both give the same bits.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bs::kernels {

struct AdamArgs {
  float lr = 0, b1 = 0, b2 = 0, wd = 0, eps = 0;
  float c1 = 1, c2 = 1;  // bias corrections 1/(1 − b1^t), 1/(1 − b2^t)
  float clip = 1;        // factor the gradient is scaled by first (1: no clipping)
};

// Σ g² over g(n), in double: fixed chunks of 2^16 summed in order (deterministic).
double cpu_sum_squares(const float* g, size_t n);
double ref_sum_squares(const float* g, size_t n);

// One AdamW update of n elements: with gc = g·clip,
//   m = b1 m + (1 − b1) gc;  v = b2 v + (1 − b2) gc²;
//   p −= lr (m·c1 / (sqrt(v·c2) + eps) + wd·p·decay);  g = gc.
// If any new m, v or p would be non-finite nothing is changed and the first such index is
// returned; otherwise n.
size_t cpu_adamw(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                 const AdamArgs& a);
size_t ref_adamw(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                 const AdamArgs& a);

}  // namespace bs::kernels
