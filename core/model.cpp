#include "core/model.h"

#include <cmath>
#include <random>

#include "core/error.h"

namespace bs {

Model::Model(const ModelConfig& cfg) : cfg_(cfg) {
  const int C = cfg.d, V = cfg.vocab, H = cfg.heads, F = cfg.ffn, K = cfg.summary_slots;
  // Register the table first (offsets), then allocate once and bind the views.
  add("tok_emb.weight", {V, C});
  add("memory.type_emb", {C});
  add("summary.slots", {K, C});
  for (int l = 0; l < cfg.layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {C});
    add(p + "attn.wqkv.weight", {3 * C, C});
    add(p + "attn.wo.weight", {C, C});
    if (cfg.recency == "linear") add(p + "attn.recency_beta", {H});
    add(p + "ffn_norm.weight", {C});
    add(p + "ffn.w13.weight", {2 * F, C});
    add(p + "ffn.w2.weight", {C, F});
  }
  add("final_norm.weight", {C});
  add("lm_head.weight", {V, C});
  add("summary.proj.weight", {C, C});
  params.assign(tensors_.empty() ? 0 : tensors_.back().offset + tensors_.back().numel, 0.f);
  bind();
}

float* Model::add(const std::string& name, std::vector<int> shape) {
  size_t n = 1;
  for (int s : shape) n *= size_t(s);
  size_t off = tensors_.empty() ? 0 : tensors_.back().offset + tensors_.back().numel;
  tensors_.push_back({name, std::move(shape), off, n});
  return nullptr;
}

const TensorInfo* Model::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void Model::bind() {
  auto at = [&](const std::string& name) -> float* {
    const TensorInfo* t = find(name);
    if (!t) return nullptr;
    return params.data() + t->offset;
  };
  tok_emb = at("tok_emb.weight");
  mem_type = at("memory.type_emb");
  sum_slots = at("summary.slots");
  layers.clear();
  for (int l = 0; l < cfg_.layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    layers.push_back({at(p + "attn_norm.weight"), at(p + "attn.wqkv.weight"),
                      at(p + "attn.wo.weight"), at(p + "attn.recency_beta"),
                      at(p + "ffn_norm.weight"), at(p + "ffn.w13.weight"),
                      at(p + "ffn.w2.weight")});
  }
  final_norm = at("final_norm.weight");
  lm_head = at("lm_head.weight");
  sum_proj = at("summary.proj.weight");
}

void Model::init_random() {
  // std::mt19937_64 is fully specified by the standard; the normal draw is our own Box–Muller
  // so the initial weights are identical on every platform and library.
  std::mt19937_64 rng(cfg_.init_seed);
  auto uniform = [&] { return (double(rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0); };
  auto normal = [&] {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  };
  const float std0 = cfg_.init_std;
  const float std_out = std0 / std::sqrt(2.f * float(cfg_.layers));  // residual-branch outputs
  for (const auto& t : tensors_) {
    float* p = params.data() + t.offset;
    const std::string& n = t.name;
    auto ends = [&](const char* s) {
      std::string suf(s);
      return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
    };
    if (ends("norm.weight")) {
      for (size_t i = 0; i < t.numel; ++i) p[i] = 1.f;
    } else if (ends("recency_beta")) {
      for (size_t i = 0; i < t.numel; ++i) p[i] = cfg_.recency_init;
    } else if (n == "memory.type_emb") {
      for (size_t i = 0; i < t.numel; ++i) p[i] = 0.f;
    } else {
      float s = (ends("attn.wo.weight") || ends("ffn.w2.weight")) ? std_out : std0;
      for (size_t i = 0; i < t.numel; ++i) p[i] = float(normal()) * s;
    }
  }
}

}  // namespace bs
