#include "blocks/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/format.h"
#include "text/tokenizer.h"

namespace bs {

namespace {

constexpr const char* kNames[] = {"low_confidence", "margin", "entropy", "random", "threshold"};

}  // namespace

Strategy parse_strategy(const std::string& s) {
  for (int i = 0; i < 5; ++i)
    if (s == kNames[i]) return Strategy(i);
  throw Error("strategy '" + s + "'",
              "unknown (expected low_confidence, margin, entropy, random or threshold)");
}

const char* strategy_name(Strategy s) { return kNames[int(s)]; }

void validate(const SamplerOptions& o) {
  if (!(o.threshold > 0.f && o.threshold <= 1.f))
    throw Error("threshold " + shortest(o.threshold), "must be in (0, 1]");
  if (!(o.temperature >= 0.f) || !std::isfinite(o.temperature))
    throw Error("temperature " + shortest(o.temperature), "must be >= 0 (0 = greedy)");
  if (o.top_k < 0) throw Error("top-k " + std::to_string(o.top_k), "must be >= 0 (0 = off)");
  if (!(o.top_p > 0.f && o.top_p <= 1.f))
    throw Error("top-p " + shortest(o.top_p), "must be in (0, 1]");
  if (!(o.repeat_penalty >= 1.f && o.repeat_penalty <= 10.f))
    throw Error("repeat penalty " + shortest(o.repeat_penalty), "must be in [1, 10] (1 = off)");
  if (o.repeat_last_n < 0)
    throw Error("repeat-last-n " + std::to_string(o.repeat_last_n), "must be >= 0");
}

kernels::SampleArgs sample_args(const SamplerOptions& o, std::span<const uint8_t> recent) {
  kernels::SampleArgs a;
  switch (o.strategy) {
    case Strategy::low_confidence:
    case Strategy::threshold:
      a.score = kernels::Score::prob;
      break;
    case Strategy::margin:
      a.score = kernels::Score::margin;
      break;
    case Strategy::entropy:
      a.score = kernels::Score::entropy;
      break;
    case Strategy::random:
      a.score = kernels::Score::random;
      break;
  }
  a.temperature = o.temperature;
  a.top_k = o.top_k;
  a.top_p = o.top_p;
  a.num_reserved = Tokenizer::kNumReserved;
  a.eos = o.allow_eos ? Tokenizer::kEos : -1;
  a.repeat_penalty = o.repeat_penalty;
  a.recent = recent.empty() ? nullptr : recent.data();
  return a;
}

void candidate_distribution(const float* logits, int V, const SamplerOptions& o,
                            std::vector<float>& q, std::span<const uint8_t> recent) {
  BS_CHECK(recent.empty() || int(recent.size()) == V, "sampler", "recent mask must have V entries");
  q.resize(size_t(V));
  std::vector<int> order;
  kernels::candidate_probs(q.data(), logits, V, sample_args(o, recent), order);
}

Candidate draw_candidate(const float* logits, int V, const SamplerOptions& o, std::mt19937_64& rng,
                         std::vector<float>& q, std::span<const uint8_t> recent) {
  BS_CHECK(recent.empty() || int(recent.size()) == V, "sampler", "recent mask must have V entries");
  // The draws in the generator's order: the candidate's, then the random strategy's.
  const double u_draw = o.temperature > 0.f ? uniform01(rng) : 0.0;
  const double u_score = o.strategy == Strategy::random ? uniform01(rng) : 0.0;
  kernels::SampleScratch scratch;
  scratch.q.swap(q);
  Candidate c;
  kernels::sample_rows(&c.token, &c.prob, &c.score, logits, 1, V, sample_args(o, recent), &u_draw,
                       &u_score, scratch);
  scratch.q.swap(q);
  return c;
}

std::vector<int> choose_unmask(std::span<const Candidate> cands, int steps_left,
                               const SamplerOptions& o) {
  BS_CHECK(steps_left >= 1, "sampler", "no denoising steps left");
  const int n = int(cands.size());
  std::vector<float> score(cands.size()), prob(cands.size());
  for (int i = 0; i < n; ++i) score[i] = cands[i].score, prob[i] = cands[i].prob;
  std::vector<int> idx(cands.size());
  idx.resize(size_t(kernels::choose_unmask(idx.data(), score.data(), prob.data(), n, steps_left,
                                           o.strategy == Strategy::threshold ? o.threshold : 0.f)));
  return idx;
}

}  // namespace bs
