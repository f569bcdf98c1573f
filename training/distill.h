// Few-step decoding by distillation (docs/TRAINING.md §Distillation): self-distillation through
// time (SDTT, Deschenaux & Gulcehre 2024) adapted to blocks. A student that will write a block in
// S denoising steps learns to predict, in one step, what the teacher predicts over two steps
// half as large. For a masked block x_t (a random mask, as in training, in the block's real
// context [M | E | W | X_t] with the student's own summaries as memory, exactly as generation
// builds it):
//   n = open positions, r = clamp(round(n·S/L), 1, S) the student's steps left at that state,
//   k = ceil(n / r) the positions the student unmasks in its step, k_A = ceil(k / 2);
//   teacher step A: q_A = the teacher's candidate distribution at every open position
//     (blocks/sampler.h: temperature 1, reserved ids but </s> excluded); a candidate drawn from
//     each, and the k_A most confident placed (the low_confidence rule) → x';
//   teacher step B: q_B = its distribution at the positions still open in x';
//   target of position i: q_A(i) if i was placed in step A, else q_B(i).
// Loss: Σ_i w · KL(target_i || student_i) over the open positions, w = scale·L/n (each block
// counts its mean, like the training loss's 1/L). Rounds halve S, each round's student teaching
// the next (scripts/distill.sh: 64 → 32 → 16 → 8 → 4).
#pragma once
#include <memory>
#include <random>

#include "core/forward.h"
#include "core/model.h"
#include "kernels/backend.h"
#include "training/packed_pass.h"

namespace bs {

class DistillTargets {
 public:
  // teacher: the same [model] as the student; student_steps: S, the steps per block the
  // student is trained for (1..L).
  // be: the backend the teacher's passes run on.
  DistillTargets(const Model& teacher, int student_steps,
                 const kernels::Backend& be = kernels::cpu_backend());

  // Replaces p's targets by the teacher's two-step distributions and its weights (the block
  // runner's scale / t, for masking rate t) by scale·L/n. rng draws the step-A candidates.
  void fill(PassSeq& p, float t, std::mt19937_64& rng);

  int student_steps() const { return steps_; }

 private:
  const Model& teacher_;
  int steps_;
  ForwardContext fc_;
};

}  // namespace bs
