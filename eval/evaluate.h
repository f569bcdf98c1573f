// The masked-diffusion NLL bound on held-out documents, in one memory mode.
//
// Each block's estimate is the mean over `samples` stratified masking rates t of
//   (1/t) · Σ_masked −log p(x_i) / L ,
// an upper bound on the block's NLL in nats/token (in expectation over t and the mask). The
// reported figure is the mean over blocks with two 95% intervals that answer different questions:
//   ci95     1.96 standard errors of the per-block estimates: how far the figure could move on
//            other text of the same kind (block-to-block variation dominates it);
//   ci95_mc  the Monte-Carlo interval of this estimate on these fixed blocks: how far it could
//            move with other masking rates and masks. Each block draws one rate per stratum, so
//            its variance is estimated by collapsing adjacent strata (rates sorted; pairs, a
//            triple when S is odd): var_b = (1/S²) Σ_groups g/(g−1) Σ_(i in group) (v_i − v̄)²,
//            and ci95_mc = 1.96 · sqrt(Σ_b var_b) / n. Slightly conservative. This is the
//            "stable to ±x" figure and the one to compare two modes on the same validation set
//            by; paired_difference compares them block by block.
#pragma once
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "core/model.h"
#include "kernels/backend.h"
#include "training/block_runner.h"

namespace bs {

struct EvalOptions {
  ContextMode mode = ContextMode::summary;
  int samples = 4;     // masking rates per block
  int max_blocks = 0;  // 0 = every block of every document
  uint64_t seed = 7;
  float mask_eps = 1e-3f;
  int full_context = 512;  // raw earlier tokens for ContextMode::full
  int group = 8;           // documents run side by side (packed)
  bool headers = true;     // summary mode gets each block's header E (when the model has one)
  int memory_blocks = -1;  // summary mode keeps at most this many blocks (< 0: model's S_max)
  const kernels::Backend* backend = nullptr;  // null: kernels::cpu_backend()
};

struct EvalResult {
  double nll = 0;      // nats/token, bound
  double ci95 = 0;     // half-width of the 95% interval over blocks
  double ci95_mc = 0;  // half-width of the Monte-Carlo (masking) interval; NaN with 1 sample
  int64_t blocks = 0;
  int64_t passes = 0;  // masked passes (blocks × samples)
  double ppl() const;  // exp(nll), the perplexity bound
  // Per-block estimates, in a fixed order. With the same seed and documents every mode draws the
  // same rates and masks, so two modes can be compared block by block (paired_difference).
  std::vector<double> per_block;
};

// Mean of a.per_block − b.per_block and the half-width of its 95% interval: the paired
// comparison of two modes, far tighter than the two separate intervals.
std::pair<double, double> paired_difference(const EvalResult& a, const EvalResult& b);

using EvalProgress = std::function<void(int64_t blocks_done, int64_t blocks_total)>;

EvalResult evaluate(const Model& m, const std::vector<DocBlocks>& docs, const EvalOptions& o,
                    const EvalProgress& progress = {});

// The trainer's periodic validation figure: the summary-mode NLL bound over train.eval_blocks
// blocks of val with train.eval_samples rates each (fixed seed, so runs compare); NaN when val is
// empty or train.eval_blocks is 0.
double validation_nll(const Model& m, const std::vector<DocBlocks>& val, const TrainConfig& tc,
                      const kernels::Backend& be = kernels::cpu_backend());

}  // namespace bs
