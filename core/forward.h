// Inference forward pass over one context, with a per-layer key/value cache: the inference mode
// of the transformer (core/transformer.h), which holds the layer itself.
//
// The context is a list of T rows; each row is a memory vector, a token, or a summary slot.
// Visibility is given per row as a key limit (row i sees keys [0, key_limit[i])), which is all
// the block layout [M | E | W | X | Σ] needs (blocks/layout.h builds the spec). Because a row
// never sees a later row's keys unless its limit says so, rows [0, first_row) computed by an
// earlier call stay exact in the cache: forward() may recompute only rows [first_row, T).
//
// Letters: T rows, C model width, V vocab, K summary slots, H heads, D head dim, F ffn width.
#pragma once
#include <memory>
#include <vector>

#include "core/model.h"
#include "core/transformer.h"
#include "kernels/kernels.h"

namespace bs {

// Per-run scratch and cache. Owned by the caller; reused across calls to avoid allocation.
class ForwardContext {
 public:
  ForwardContext(const Model& m, const kernels::Ops& ops);
  // Rows [0, cached_rows()) hold valid keys/values from an earlier call.
  int cached_rows() const { return cached_; }
  void clear_cache() { cached_ = 0; }
  // Use packed weights (from PackedWeights::pack of this model) for every product, or the ops'
  // matmul when null. Clears the cache: rows computed one way are not mixed with the other.
  void set_packed(std::shared_ptr<const PackedWeights> p) {
    tf_.set_packed(std::move(p));
    cached_ = 0;
  }

  // Runs rows [first_row, spec.T); first_row must be <= cached_rows(). Afterwards logits() is
  // (rows, V) for the X rows computed in this call (with select_outputs: the selected rows, in
  // order) and summary() is (K, C) when the spec has slots.
  void forward(const SeqSpec& spec, int first_row = 0);
  const std::vector<float>& logits() const { return logits_; }
  const std::vector<float>& summary() const { return summary_; }
  // Model FLOPs of every call so far, for the benchmarks: 2·rows·in·out per weight product and
  // 4·C per visible query–key pair (scores and the weighted sum of values).
  double flops() const { return tf_.product_flops() + attn_flops_; }

 private:
  void reserve(int T, int n);
  // Before the last layer's attention with select_outputs: moves the rows that go on (selected
  // outputs, then Σ) to the front of qkv_ and x_ and points `a` at their key limits. Returns
  // their number.
  int keep_outputs(const SeqSpec& s, int first_row, kernels::AttnArgs& a);
  const Model& m_;
  const kernels::Ops& ops_;
  Transformer tf_;
  int cached_ = 0;
  double attn_flops_ = 0;
  int cap_rows_ = 0;
  std::vector<std::vector<float>> kc_, vc_;  // per layer (cap_rows, C): roped keys, values
  std::vector<float> x_, h_, qkv_, att_, gu_, act_, beta_;  // scratch, as LayerActs names them
  std::vector<int> keep_, keep_limit_;  // keep_outputs: local rows kept, their key limits
  std::vector<float> logits_, summary_;
};

}  // namespace bs
