// Runs documents block by block through PackedPass, the way generation will see them: the shared
// engine of the trainer (with backward through the summaries) and the evaluator (forward only).
//
// A document is cut into blocks of L tokens (BOS + text + EOS, the last block padded with EOS).
// For each block of each active document a stage runs, packed into one PackedPass:
//   - masked passes [M E W X̃] (one per masking rate), whose context depends on the memory mode:
//       summary: memory of earlier block summaries (newest S_max blocks) + window W
//       window:  only the window W (also what memory dropout trains)
//       none:    nothing from earlier blocks
//       full:    up to full_context raw earlier tokens, no memory (the upper reference)
//   - the clean pass [M E W X Σ] (always in summary mode), whose Σ output becomes the block's
//     summary, appended to the document's memory for its next block.
// The document's BOS is never masked (it is given in generation too).
// Loss of a masked pass = weight · Σ_masked −log p(x_i) with weight = scale / t (scale carries
// the 1/(L·blocks) normalisation).
#pragma once
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "blocks/layout.h"
#include "core/model.h"
#include "kernels/backend.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "text/tokenizer.h"
#include "training/doc_blocks.h"
#include "training/packed_pass.h"

namespace bs {

// One document in flight: its summaries so far.
struct DocState {
  const DocBlocks* doc = nullptr;
  int next = 0;                               // next block to run
  std::vector<std::vector<float>> summaries;  // (K·C) per block run so far
  std::vector<int> stage_of;                  // per summary: stage that made it (-1: no gradient)
};

// What one document does in one stage.
struct BlockJob {
  int doc = 0;                     // index into the DocState list
  std::vector<float> rates;        // one masked pass per rate (may be empty)
  std::vector<ContextMode> modes;  // (rates) context of each masked pass
  float scale = 1.f;               // loss weight factor: weight = scale / t
  bool clean = true;               // run the clean pass (and append the summary)
  bool grad = false;               // the summary takes part in backward
};

struct Stage {
  std::unique_ptr<PackedPass> pass;
  std::vector<std::vector<float>> mem;  // memory buffers the specs point into
  struct SeqInfo {
    int doc, clean_of;         // document; for clean passes the summary index it produced
    std::vector<int> mem_src;  // per memory block: index of the summary in doc's list
  };
  std::vector<SeqInfo> seqs;  // per sequence of the pass
  double loss = 0;            // Σ weight·nll
  int64_t masked_tokens = 0;
  double flops = 0;  // model FLOPs of the pass (PackedPass::flops), 3× forward after backward
  // Per masked sequence (in job order): Σ nll / L / t, i.e. this pass's NLL-bound estimate.
  std::vector<double> block_bound;
  // Per masked sequence (in job order): the masked positions of the block, increasing (empty
  // when the mask came out empty); their rows of pass->nll() (and pass->logits()) follow in
  // this order.
  std::vector<std::vector<int>> masked;
};

class BlockRunner {
 public:
  // be: the backend every pass runs on (the caller's choice: kernels/backend.h).
  BlockRunner(const Model& m, const kernels::Backend& be, int full_context)
      : m_(m), ops_(*be.ops), g_(*be.grad), full_context_(full_context) {}

  // Runs one stage: each job's document advances by one block. rng draws the masks.
  Stage run(std::vector<DocState>& docs, const std::vector<BlockJob>& jobs, std::mt19937_64& rng,
            int stage_index);

  // Backward through stages in reverse order; grads accumulate (laid out like Model::params).
  void backward(std::vector<Stage>& stages, std::vector<DocState>& docs, float* grads);

  // Keeps at most n blocks of summaries in memory (default: model.max_memory_blocks, which is
  // also the most the layout accepts).
  void set_memory_blocks(int n) { mem_blocks_ = n; }
  // false: summary-mode passes get no header E (to measure what the header adds).
  void set_use_headers(bool on) { headers_ = on; }
  // true: each stage's pass keeps the raw logits of its loss rows (PackedPass::logits).
  void set_keep_logits(bool on) { keep_logits_ = on; }
  // Called for every masked pass before the stage runs, with the pass (its spec, loss rows in
  // block order, target ids, weights scale / t), its masking rate t and the stage's generator:
  // it may replace the targets by target distributions (PassSeq::soft) and the weights.
  // Distillation sets one (training/distill.h).
  using SoftTargets = std::function<void(PassSeq& p, float t, std::mt19937_64& rng)>;
  void set_soft_targets(SoftTargets f) { soft_ = std::move(f); }

 private:
  const Model& m_;
  const kernels::Ops& ops_;
  const kernels::GradOps& g_;
  int full_context_;
  int mem_blocks_ = -1;  // < 0: model.max_memory_blocks
  bool headers_ = true;
  bool keep_logits_ = false;
  SoftTargets soft_;
};

}  // namespace bs
