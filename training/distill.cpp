#include "training/distill.h"

#include <algorithm>
#include <cmath>

#include "blocks/sampler.h"
#include "core/error.h"
#include "text/tokenizer.h"

namespace bs {

DistillTargets::DistillTargets(const Model& teacher, int student_steps, const kernels::Backend& be)
    : teacher_(teacher), steps_(student_steps), fc_(teacher, *be.ops) {
  BS_CHECK(student_steps >= 1 && student_steps <= teacher.config().block, "distillation",
           "student steps must be in 1..model.block");
  fc_.set_packed(PackedWeights::pack(teacher, *be.ops));
}

void DistillTargets::fill(PassSeq& p, float t, std::mt19937_64& rng) {
  const int V = teacher_.config().vocab, L = teacher_.config().block;
  const int n = int(p.loss_rows.size());
  if (n == 0) return;
  SeqSpec spec = p.spec;
  const int P = spec.out_begin;
  // The open positions, block-relative and increasing (the order of the loss rows).
  std::vector<int> open(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) open[size_t(i)] = p.loss_rows[size_t(i)] - P;

  // Teacher step A over every open position.
  SamplerOptions so;  // temperature 1, no top-k/p: the teacher's own distribution
  spec.select_outputs = true;
  spec.outputs = open;
  fc_.clear_cache();
  fc_.forward(spec, 0);
  std::vector<float> soft(size_t(n) * V), scratch;
  std::vector<Candidate> cands(static_cast<size_t>(n));
  for (int j = 0; j < n; ++j) {
    cands[size_t(j)] = draw_candidate(fc_.logits().data() + size_t(j) * V, V, so, rng, scratch);
    std::copy(scratch.begin(), scratch.end(), soft.begin() + size_t(j) * V);
  }
  const int r = std::clamp(int(std::lround(double(n) * steps_ / L)), 1, steps_);
  const int k = (n + r - 1) / r, k_a = (k + 1) / 2;
  if (k_a < n) {
    // The k_A most confident candidates are placed (ties: lower position), as low_confidence
    // does; the teacher's step B sees them.
    std::vector<int> idx(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) idx[size_t(j)] = j;
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int a, int b) { return cands[size_t(a)].score > cands[size_t(b)].score; });
    std::vector<bool> placed(static_cast<size_t>(n), false);
    for (int q = 0; q < k_a; ++q) {
      const int j = idx[size_t(q)];
      placed[size_t(j)] = true;
      spec.tokens[size_t(P + open[size_t(j)])] = cands[size_t(j)].token;
    }
    std::vector<int> rest, rest_j;
    for (int j = 0; j < n; ++j)
      if (!placed[size_t(j)]) rest.push_back(open[size_t(j)]), rest_j.push_back(j);
    spec.outputs = rest;
    fc_.forward(spec, P);  // the prefix is the same: its keys and values are reused
    for (size_t q = 0; q < rest.size(); ++q) {
      candidate_distribution(fc_.logits().data() + q * V, V, so, scratch);
      std::copy(scratch.begin(), scratch.end(), soft.begin() + size_t(rest_j[q]) * V);
    }
  }
  p.soft = std::move(soft);
  // Each block counts its mean KL: weight = scale · L / n (the runner's weights are scale / t).
  const float w = p.weights[0] * t * float(L) / float(n);
  std::fill(p.weights.begin(), p.weights.end(), w);
}

}  // namespace bs
