// Blockwise masking for masked diffusion: the masking rate t of each block and its masked copy.
// Shared by the trainer, the evaluator and `blockscribe forward`, so all see the same masks.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/random.h"

namespace bs {

// n rates in [eps, 1): stratified, t_i = eps + (1 - eps) * (perm(i) + u_i) / n, so every batch
// covers the whole range (lower-variance loss estimate than n independent draws).
std::vector<float> stratified_rates(int n, float eps, std::mt19937_64& rng);

// Masks each token of `clean` independently with probability t, writing the mask id there into
// `masked`. Returns the masked positions in increasing order. The NLL-bound estimator needs the
// plain Bernoulli masks (an empty mask contributes 0); at_least_one forces one masked position,
// for displays that must show something, and biases the estimator upwards.
std::vector<int> mask_block(std::span<const int> clean, float t, int mask_id, std::mt19937_64& rng,
                            std::vector<int>& masked, bool at_least_one = false);

}  // namespace bs
