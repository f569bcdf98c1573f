// The one uniform draw every random choice uses (masks, noise levels, the sampler).
#pragma once
#include <random>

namespace bs {

// Uniform double in [0, 1) from the top 53 bits of one draw: fully specified
// (std::uniform_real_distribution is not), so masks and samples are identical across standard
// libraries.
inline double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

}  // namespace bs
