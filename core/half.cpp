#include "core/half.h"

#include <bit>

namespace bs {

uint16_t float_to_f16(float x) {
  const uint32_t f = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t abs = f & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u)  // inf or NaN (keep a NaN a NaN: set a mantissa bit)
    return uint16_t(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u));
  if (abs >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds beyond 65504: inf
  if (abs < 0x38800000u) {                                  // below F16's smallest normal
    if (abs < 0x33000000u) return uint16_t(sign);           // rounds to zero
    // Subnormal: the mantissa with its hidden bit, shifted right, rounded to nearest even.
    const int shift = 126 - int(abs >> 23);  // 14 .. 24
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    const uint32_t r = half + ((rest > mid || (rest == mid && (half & 1))) ? 1 : 0);
    return uint16_t(sign | r);
  }
  // Normal: rebias the exponent (127 -> 15) and round the mantissa from 23 to 10 bits.
  const uint32_t e = (abs >> 23) - 112;
  const uint32_t mant = abs & 0x7FFFFFu;
  uint32_t h = (e << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) ++h;  // may carry into the exponent
  return uint16_t(sign | h);
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (e == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));
  if (e == 0) {
    if (mant == 0) return std::bit_cast<float>(sign);
    // Subnormal: mant * 2^-24, exact in float.
    const float v = float(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (mant << 13));
}

uint16_t float_to_bf16(float x) {
  const uint32_t f = std::bit_cast<uint32_t>(x);
  if ((f & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((f >> 16) | 0x40u);  // NaN stays NaN
  const uint32_t rounding = 0x7FFFu + ((f >> 16) & 1u);
  return uint16_t((f + rounding) >> 16);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

}  // namespace bs
