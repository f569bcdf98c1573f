// The model: immutable hyper-parameters and all weights in ONE float buffer with named views.
//
// One buffer means AdamW, zeroing, checkpointing and host<->device copies are one loop each.
// Shapes use C = d, V = vocab, H = heads, F = ffn, K = summary slots. Weight matrices are
// (out, in) row-major, applied as y = x · Wᵀ. docs/MODEL.md is the exact specification.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/config.h"

namespace bs {

struct TensorInfo {
  std::string name;         // e.g. "layers.3.attn.wqkv.weight"
  std::vector<int> shape;   // row-major
  size_t offset = 0;        // in floats, into Model::params
  size_t numel = 0;
};

struct LayerView {
  float* attn_norm;  // (C)        RMSNorm gain before attention
  float* wqkv;       // (3C, C)    rows [q; k; v]
  float* wo;         // (C, C)
  float* recency;    // (H)        beta_h, used as max(beta_h, 0); null when recency = "none"
  float* ffn_norm;   // (C)
  float* w13;        // (2F, C)    rows [gate; up]
  float* w2;         // (C, F)
};

class Model {
 public:
  explicit Model(const ModelConfig& cfg);  // all parameters zero
  Model(const Model&) = delete;            // views point into params: copy explicitly
  Model& operator=(const Model&) = delete;
  Model(Model&&) = delete;

  // Deterministic initialisation from cfg.init_seed (see docs/MODEL.md §Initialisation).
  void init_random();

  const ModelConfig& config() const { return cfg_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  size_t num_params() const { return params.size(); }

  std::vector<float> params;  // every weight, in tensors() order

  float* tok_emb;       // (V, C)
  float* mem_type;      // (C)      added to every memory (M) row
  float* sum_slots;     // (K, C)   input embeddings of the summary slots Σ
  std::vector<LayerView> layers;
  float* final_norm;    // (C)
  float* lm_head;       // (V, C)
  float* sum_proj;      // (C, C)   final Σ states -> memory vectors

 private:
  float* add(const std::string& name, std::vector<int> shape);
  void bind();
  ModelConfig cfg_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace bs
