#include "training/masking.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace bs {

std::vector<float> stratified_rates(int n, float eps, std::mt19937_64& rng) {
  BS_CHECK(n > 0 && eps > 0.f && eps < 1.f, "stratified_rates", "need n > 0 and eps in (0, 1)");
  std::vector<int> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int i = n - 1; i > 0; --i)
    std::swap(perm[i], perm[rng() % uint64_t(i + 1)]);  // Fisher–Yates
  std::vector<float> t(n);
  for (int i = 0; i < n; ++i) t[i] = float(eps + (1.0 - eps) * (perm[i] + uniform01(rng)) / n);
  return t;
}

std::vector<int> mask_block(std::span<const int> clean, float t, int mask_id, std::mt19937_64& rng,
                            std::vector<int>& masked, bool at_least_one) {
  BS_CHECK(!clean.empty(), "mask_block", "empty block");
  masked.assign(clean.begin(), clean.end());
  std::vector<int> where;
  for (size_t i = 0; i < clean.size(); ++i)
    if (uniform01(rng) < t) where.push_back(int(i));
  if (where.empty() && at_least_one) where.push_back(int(rng() % clean.size()));
  for (int i : where) masked[i] = mask_id;
  return where;
}

}  // namespace bs
