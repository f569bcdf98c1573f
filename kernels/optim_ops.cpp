#include "kernels/optim_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/thread_pool.h"

namespace bs::kernels {

namespace {

constexpr size_t kSumChunk = size_t(1) << 16;  // sum-of-squares chunk
constexpr int kUpdateChunk = 4096;             // update chunk (any split gives the same bits)

double chunk_sum(const float* g, size_t b, size_t e) {
  double s = 0;
  for (size_t i = b; i < e; ++i) s += double(g[i]) * g[i];
  return s;
}

}  // namespace

double cpu_sum_squares(const float* g, size_t n) {
  const size_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> part(chunks, 0.0);
  parallel_for(int(chunks), [&](int b, int e) {
    for (int c = b; c < e; ++c)
      part[size_t(c)] = chunk_sum(g, size_t(c) * kSumChunk, std::min(n, size_t(c + 1) * kSumChunk));
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}

double ref_sum_squares(const float* g, size_t n) {
  double s = 0;
  for (size_t b = 0; b < n; b += kSumChunk) s += chunk_sum(g, b, std::min(n, b + kSumChunk));
  return s;
}

namespace {

// The update, written as it was when it lived in training/adamw.cpp (the same expressions in
// the same shape, so GCC contracts them the same way and the shipped runs' bits are kept).
// run(chunks, f) calls f(cb, ce) over chunk ranges: the thread pool, or one loop.
template <class Run>
size_t adamw_body(float* params, float* m, float* v, float* grads, const uint8_t* decay,
                  size_t count, const AdamArgs& a, Run run) {
  const float b1 = a.b1, b2 = a.b2, wd = a.wd, lr = a.lr, clip = a.clip, c1 = a.c1, c2 = a.c2,
              kEps = a.eps;
  const int n = int(count);
  // The update of element i (moments and weight), the same arithmetic in both passes below.
  auto update = [&](int i, float& mi, float& vi, float& pi) {
    const float g = grads[i] * clip;
    mi = b1 * m[i] + (1.f - b1) * g;
    vi = b2 * v[i] + (1.f - b2) * g * g;
    const float upd = (mi * c1) / (std::sqrt(vi * c2) + kEps);
    pi = params[i] - lr * (upd + (decay[i] ? wd * params[i] : 0.f));
  };
  // First pass: would any new value be non-finite? (the first such index per chunk, or n)
  const int chunks = (n + kUpdateChunk - 1) / kUpdateChunk;
  std::vector<int> bad(size_t(chunks), n);
  run(chunks, [&](int cb, int ce) {
    for (int c = cb; c < ce; ++c)
      for (int i = c * kUpdateChunk; i < std::min(n, (c + 1) * kUpdateChunk); ++i) {
        float mi, vi, pi;
        update(i, mi, vi, pi);
        if (!std::isfinite(mi) || !std::isfinite(vi) || !std::isfinite(pi)) {
          bad[size_t(c)] = i;
          break;
        }
      }
  });
  const int first = chunks ? *std::min_element(bad.begin(), bad.end()) : n;
  if (first < n) return size_t(first);
  // Element-wise: any split gives the same bits.
  run(chunks, [&](int cb, int ce) {
    for (int i = cb * kUpdateChunk; i < std::min(n, ce * kUpdateChunk); ++i) {
      float mi, vi, pi;
      update(i, mi, vi, pi);
      m[i] = mi, v[i] = vi, params[i] = pi;
      grads[i] *= clip;  // the clipped gradient stays in grads
    }
  });
  return count;
}

}  // namespace

size_t cpu_adamw(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                 const AdamArgs& a) {
  return adamw_body(p, m, v, g, decay, n, a,
                    [](int chunks, const auto& f) { parallel_for(chunks, f); });
}

size_t ref_adamw(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                 const AdamArgs& a) {
  return adamw_body(p, m, v, g, decay, n, a, [](int chunks, const auto& f) { f(0, chunks); });
}

}  // namespace bs::kernels
