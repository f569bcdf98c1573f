// A branch-free single-precision e^x for the optimised CPU kernels: loops that call it vectorise
// (std::exp stays a scalar libm call), and a vector lane and the scalar tail give the same bits
// for the same input, so results never depend on a buffer's alignment.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace bs::kernels {

// e^x, ~2 ulp (Cephes expf polynomial on x - n*ln2, n = round(x/ln2)). Inputs are clamped to
// [-87, 88], so very negative x gives ~1e-38 rather than 0. Branch-free so loops vectorise.
inline float exp_approx(float x) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float t = std::fma(x, 1.44269504088896341f, kRound);
  const float n = t - kRound;
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  const float y = std::fma(p, r * r, r) + 1.0f;
  // 2^n built from n's bits in t (n in [-126, 127]).
  const int32_t n_int = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kRound);
  return y * std::bit_cast<float>((n_int + 127) << 23);
}

}  // namespace bs::kernels
