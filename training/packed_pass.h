// One training pass over several sequences stacked row-wise ("packed"), with saved activations
// and a hand-written backward: the training mode of the transformer (core/transformer.h, which
// holds the layer, forward and backward). Every matmul, norm and FFN runs over all rows at once (R
// rows in total); attention runs per sequence, since each sequence has its own mask.
//
// A sequence is one context [M | E | W | X̃] (masked pass) or [M | E | W | X | Σ] (clean pass)
// from blocks/layout.h. Losses sit on chosen X rows; clean passes output their Σ summary (K, C).
// backward() takes d loss/d summary for each sequence (the later blocks that used it as memory)
// and returns d loss/d memory rows, so gradients flow across blocks.
//
// Letters: R packed rows, C width, F ffn, H heads, V vocab, K summary slots.
#pragma once
#include <vector>

#include "core/forward.h"
#include "core/model.h"
#include "core/transformer.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"

namespace bs {

struct PassSeq {
  SeqSpec spec;                // rows, positions, key limits, recency; spec.mem must stay valid
  std::vector<int> loss_rows;  // rows (within the sequence) that carry a loss
  std::vector<int> targets;    // (loss_rows) target token ids
  std::vector<float> weights;  // (loss_rows) loss weight of each row, e.g. 1/(t·L·batch)
  // (loss_rows, V) target distributions instead of target ids (distillation: the loss of a row
  // is then KL(target || model), and nll() reports it), or empty.
  std::vector<float> soft;
};

class PackedPass {
 public:
  PackedPass(const Model& m, const kernels::Ops& ops, const kernels::GradOps& gops);

  // Runs the forward pass, keeping what backward needs. Returns Σ weight·nll over loss rows.
  double forward(std::vector<PassSeq> seqs);
  int num_seqs() const { return int(seqs_.size()); }
  size_t loss_rows(int s) const { return seqs_[s].loss_rows.size(); }
  const std::vector<float>& nll() const { return nll_; }  // per loss row, all sequences in order
  // With keep_logits(true) before forward(), logits() is (loss rows, V): the raw output logits of
  // every loss row, all sequences in order (for `blockscribe forward --dump-logits`).
  void keep_logits(bool on) { keep_logits_ = on; }
  const std::vector<float>& logits() const { return logits_; }
  // (K, C) summary of sequence s; valid for sequences with slot rows.
  const float* summary(int s) const;

  // Accumulates parameter gradients into grads (laid out like Model::params).
  // d_summary[s]: (K, C) gradient of the loss w.r.t. sequence s's summary, or null.
  void backward(const std::vector<const float*>& d_summary, float* grads);
  // (n_mem, C) gradient w.r.t. sequence s's memory rows, after backward().
  const float* d_mem(int s) const { return dmem_.data() + mem_off_[s]; }

  // Model FLOPs of the last forward: 2·R·(in·out) per weight product, 4·C per visible (query,
  // key) pair per layer (scores and weighted values), the head on loss rows, the summary
  // projection on Σ rows. Elementwise ops are not counted. flops() adds 2× that once backward()
  // has run (two products per forward product), the usual 3× forward for a trained pass.
  double forward_flops() const { return fwd_flops_; }
  double flops() const { return fwd_flops_ * (backward_done_ ? 3.0 : 1.0); }

 private:
  // Carves the arena for R packed rows of the sequences in seqs_: every layer's LayerActs and
  // its per-sequence attention probabilities (H, T_s, T_s), one allocation reused across calls.
  void carve(int R);
  const Model& m_;
  const kernels::Ops& ops_;
  const kernels::GradOps& g_;
  Transformer tf_;
  std::vector<float> arena_;
  std::vector<std::vector<float*>> probs_;  // [layer][sequence] into arena_
  std::vector<PassSeq> seqs_;
  std::vector<int> row0_;                  // first packed row of each sequence
  std::vector<size_t> mem_off_, sum_off_;  // offsets into dmem_ / summary_
  int R_ = 0;
  std::vector<LayerActs> acts_;
  std::vector<float> xout_;               // (R, C) final residual
  std::vector<int> loss_row_, loss_tgt_;  // packed row and target of each loss row
  std::vector<float> loss_w_;
  std::vector<float> xl_, rstdl_, hl_, dlogits_,
      nll_;                    // loss rows: gathered x, rstd, normed, dlogits
  std::vector<int> slot_row_;  // packed rows of all Σ slots
  std::vector<float> xs_, rstds_, hs_, summary_;
  std::vector<float> dmem_;
  bool keep_logits_ = false;
  std::vector<float> logits_;  // (loss rows, V) when keep_logits_
  double fwd_flops_ = 0;
  bool backward_done_ = false;
};

}  // namespace bs
