// The in-block sampler: per masked position a candidate token and a confidence, then the choice
// of which positions to unmask at this denoising step.
//
// Candidate distribution q over the vocabulary, from one row of logits (V):
//   1. reserved ids other than </s> are excluded (<pad>, <unk>, <s>, <mask>, <sum>, header marks),
//      and </s> too when allow_eos is false;
//   2. repetition penalty ρ (llama.cpp's rule): the logit ℓ of a token in the recent text (the
//      generator passes the last repeat_last_n committed tokens and the block's known tokens)
//      becomes ℓ/ρ when ℓ > 0 and ℓ·ρ otherwise; ρ = 1 is off;
//   3. z = logits / temperature (temperature 0: greedy, and q uses temperature 1);
//   4. top-k keeps the k largest z (ties: lower id first), top-p the smallest set of largest
//      probabilities whose mass reaches p; q is the softmax renormalised over what is kept.
// The candidate is a draw from q (temperature > 0) or its argmax (temperature 0).
// Confidence score by strategy (higher = unmask sooner):
//   low_confidence, threshold: q(candidate)
//   margin:                    q(top 1) − q(top 2)
//   entropy:                   −Σ q log q
//   random:                    a uniform draw (positions unmasked in random order)
// Unmasked per step, with n positions still masked and r steps left (including this one):
//   k = ceil(n / r) positions with the highest scores (ties: lower position first), so the block
//   is finished within its step budget; `threshold` unmasks every position with q(candidate) > τ,
//   and at least max(1, ceil(n / r)).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/sample_ops.h"

namespace bs {

enum class Strategy { low_confidence, margin, entropy, random, threshold };
Strategy parse_strategy(const std::string& s);  // throws bs::Error for an unknown name
const char* strategy_name(Strategy s);

struct SamplerOptions {
  Strategy strategy = Strategy::low_confidence;
  float threshold = 0.9f;      // τ in (0, 1], for Strategy::threshold
  float temperature = 1.f;     // 0 = greedy
  int top_k = 0;               // 0 = off
  float top_p = 1.f;           // 1 = off
  bool allow_eos = true;       // false: </s> is excluded too (the document runs to its budget)
  float repeat_penalty = 1.f;  // ρ in [1, 10]: > 1 lowers tokens of the recent text (1 = off)
  int repeat_last_n = 64;      // committed tokens before the block that count as recent (>= 0)
};

// Checks the ranges (τ in (0,1], temperature >= 0, top_k >= 0, top_p in (0,1], ρ in [1, 10],
// repeat_last_n >= 0; NaN is out of every range); throws bs::Error.
void validate(const SamplerOptions& o);

// The backend ops' arguments for these options (kernels/sample_ops.h); recent (V, or empty).
kernels::SampleArgs sample_args(const SamplerOptions& o, std::span<const uint8_t> recent = {});

// q for one row of logits (V), as described above; written into q (V), zeros where excluded.
// recent (V, or empty): 1 for the tokens the repetition penalty applies to.
void candidate_distribution(const float* logits, int V, const SamplerOptions& o,
                            std::vector<float>& q, std::span<const uint8_t> recent = {});

struct Candidate {
  int token = 0;
  float score = 0.f;  // the strategy's confidence
  float prob = 0.f;   // q(token), compared with τ by the threshold strategy
};

// Draws the candidate of one position. scratch is reused between calls; recent as above.
Candidate draw_candidate(const float* logits, int V, const SamplerOptions& o, std::mt19937_64& rng,
                         std::vector<float>& scratch, std::span<const uint8_t> recent = {});

// Indices into cands (one per still-masked position, in position order) to unmask now.
// steps_left >= 1 counts this step; with steps_left == 1 every position is chosen.
std::vector<int> choose_unmask(std::span<const Candidate> cands, int steps_left,
                               const SamplerOptions& o);

}  // namespace bs
