// The sampler's arithmetic as backend ops: per open position of a block, the candidate
// distribution q over the vocabulary, a candidate drawn from it and a confidence score; then the
// choice of positions to unmask. blocks/sampler.h documents the rules (what is excluded, the
// repetition penalty, temperature, top-k, top-p, the scores, k = ceil(n / r)); the generator
// calls these through its backend, so a device backend samples where its logits are.
//
// The random numbers are the caller's: u_draw[i] (used when temperature > 0) and u_score[i]
// (score::random), uniform in [0, 1), drawn on the host in a fixed order, so every backend
// makes the same choices from the same logits.
//
// Letters: n open positions, V vocabulary.
#pragma once
#include <cstdint>
#include <vector>

namespace bs::kernels {

enum class Score { prob, margin, entropy, random };

struct SampleArgs {
  Score score = Score::prob;
  float temperature = 1.f;  // 0: greedy (q at temperature 1, candidate = first maximum)
  int top_k = 0;            // 0: off
  float top_p = 1.f;        // 1: off
  int num_reserved = 0;     // ids [0, num_reserved) are excluded ...
  int eos = -1;             // ... except this one (-1: none allowed)
  float repeat_penalty = 1.f;
  const uint8_t* recent = nullptr;  // (V) 1 where the repetition penalty applies, or null
};

// Scratch of one caller, reused between calls (q (V) and the top-k/top-p sort order).
struct SampleScratch {
  std::vector<float> q;
  std::vector<int> order;
};

// q (V) of one row of logits (V), zeros where excluded or filtered.
void candidate_probs(float* q, const float* logits, int V, const SampleArgs& a,
                     std::vector<int>& order);

// Candidates of n rows of logits (n, V): token(n), prob(n) = q(token), score(n).
void sample_rows(int* token, float* prob, float* score, const float* logits, int n, int V,
                 const SampleArgs& a, const double* u_draw, const double* u_score,
                 SampleScratch& scratch);

// Indices (increasing) of the positions to unmask, written to chosen; returns their number.
// The k = ceil(n / steps_left) highest scores (ties: lower index first); with threshold > 0
// (the threshold strategy) at least every position with prob > threshold.
int choose_unmask(int* chosen, const float* score, const float* prob, int n, int steps_left,
                  float threshold);

}  // namespace bs::kernels
