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

// Uniform in [0, 1) from 53 bits: the same stream on every platform (std distributions are not).
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

bool excluded(int id, bool allow_eos) {
  return id < Tokenizer::kNumReserved && (id != Tokenizer::kEos || !allow_eos);
}

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
    throw Error("repeat penalty " + shortest(o.repeat_penalty),
                "must be in [1, 10] (1 = off)");
  if (o.repeat_last_n < 0)
    throw Error("repeat-last-n " + std::to_string(o.repeat_last_n), "must be >= 0");
}

void candidate_distribution(const float* logits, int V, const SamplerOptions& o,
                            std::vector<float>& q, std::span<const uint8_t> recent) {
  BS_CHECK(recent.empty() || int(recent.size()) == V, "sampler", "recent mask must have V entries");
  q.assign(size_t(V), 0.f);
  const double inv_t = o.temperature > 0.f ? 1.0 / o.temperature : 1.0;
  const bool penalise = o.repeat_penalty != 1.f && !recent.empty();
  auto z_of = [&](int v) {
    double l = logits[v];
    if (penalise && recent[v]) l = l > 0 ? l / o.repeat_penalty : l * o.repeat_penalty;
    return l * inv_t;
  };
  double mx = -std::numeric_limits<double>::infinity();
  for (int v = 0; v < V; ++v)
    if (!excluded(v, o.allow_eos)) mx = std::max(mx, z_of(v));
  double z = 0;
  for (int v = 0; v < V; ++v) {
    if (excluded(v, o.allow_eos)) continue;
    const double e = std::exp(z_of(v) - mx);
    q[v] = float(e);
    z += e;
  }
  for (int v = 0; v < V; ++v) q[v] = float(q[v] / z);
  if (o.top_k <= 0 && o.top_p >= 1.f) return;

  // Filter: ids by probability, largest first (ties: lower id first).
  std::vector<int> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return q[a] > q[b]; });
  int keep = V;
  for (int v = 0; v < V; ++v)
    if (excluded(v, o.allow_eos)) --keep;  // excluded ids have q = 0 and sort last
  if (o.top_k > 0) keep = std::min(keep, o.top_k);
  if (o.top_p < 1.f) {
    double mass = 0;
    for (int i = 0; i < keep; ++i) {
      mass += q[order[i]];
      if (mass >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (int i = 0; i < keep; ++i) kept += q[order[i]];
  for (int i = keep; i < V; ++i) q[order[i]] = 0.f;
  for (int i = 0; i < keep; ++i) q[order[i]] = float(q[order[i]] / kept);
}

Candidate draw_candidate(const float* logits, int V, const SamplerOptions& o, std::mt19937_64& rng,
                         std::vector<float>& q, std::span<const uint8_t> recent) {
  candidate_distribution(logits, V, o, q, recent);
  Candidate c;
  if (o.temperature > 0.f) {
    const double u = uniform01(rng);
    double acc = 0;
    int last = -1;
    c.token = -1;
    for (int v = 0; v < V; ++v) {
      if (q[v] <= 0.f) continue;
      last = v;
      acc += q[v];
      if (u < acc) {
        c.token = v;
        break;
      }
    }
    if (c.token < 0) c.token = last;  // rounding: u beyond the summed mass
  } else {
    c.token = int(std::max_element(q.begin(), q.end()) - q.begin());  // first maximum
  }
  c.prob = q[c.token];
  switch (o.strategy) {
    case Strategy::low_confidence:
    case Strategy::threshold:
      c.score = c.prob;
      break;
    case Strategy::margin: {
      float p1 = 0.f, p2 = 0.f;
      for (float p : q) {
        if (p > p1) {
          p2 = p1;
          p1 = p;
        } else if (p > p2) {
          p2 = p;
        }
      }
      c.score = p1 - p2;
      break;
    }
    case Strategy::entropy: {
      double h = 0;
      for (float p : q)
        if (p > 0.f) h -= double(p) * std::log(double(p));
      c.score = float(-h);
      break;
    }
    case Strategy::random:
      c.score = float(uniform01(rng));
      break;
  }
  return c;
}

std::vector<int> choose_unmask(std::span<const Candidate> cands, int steps_left,
                               const SamplerOptions& o) {
  const int n = int(cands.size());
  BS_CHECK(steps_left >= 1, "sampler", "no denoising steps left");
  if (n == 0) return {};
  int k = (n + steps_left - 1) / steps_left;  // ceil(n / r): finishes within the step budget
  if (o.strategy == Strategy::threshold) {
    int above = 0;
    for (const Candidate& c : cands) above += c.prob > o.threshold;
    k = std::max({k, above, 1});
  }
  std::vector<int> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int a, int b) { return cands[a].score > cands[b].score; });
  idx.resize(size_t(std::min(k, n)));
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace bs
