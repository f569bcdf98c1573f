// 16-bit floats for checkpoints: IEEE 754 binary16 (F16) and bfloat16 (BF16), converted to and
// from float with round-to-nearest-even. Weights are stored in 16 bits (a shipped model is half
// the size) and converted to float once at load; every computation is in float.
#pragma once
#include <cstdint>

namespace bs {

// float -> F16, round to nearest even; values beyond F16's range (|x| > 65504) become ±inf,
// NaN stays NaN. F16 -> float is exact.
uint16_t float_to_f16(float x);
float f16_to_float(uint16_t h);

// float -> BF16 (the upper 16 bits of the float), round to nearest even; NaN stays NaN.
// BF16 -> float is exact.
uint16_t float_to_bf16(float x);
float bf16_to_float(uint16_t b);

}  // namespace bs
