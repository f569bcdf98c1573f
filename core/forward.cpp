#include "core/forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace bs {

std::shared_ptr<const PackedWeights> PackedWeights::pack(const Model& m) {
  const ModelConfig& c = m.config();
  const int C = c.d, F = c.ffn;
  auto p = std::make_shared<PackedWeights>();
  for (int l = 0; l < c.layers; ++l) {
    const LayerView& L = m.layers[l];
    p->layers.push_back({kernels::pack_matrix(L.wqkv, 3 * C, C), kernels::pack_matrix(L.wo, C, C),
                         kernels::pack_matrix(L.w13, 2 * F, C), kernels::pack_matrix(L.w2, C, F)});
  }
  p->lm_head = kernels::pack_matrix(m.lm_head, c.vocab, C);
  p->sum_proj = kernels::pack_matrix(m.sum_proj, C, C);
  return p;
}

void ForwardContext::product(float* y, const float* x, const float* w,
                             const kernels::PackedMatrix* pw, int n, int C, int N,
                             bool accumulate) {
  flops_ += 2.0 * n * C * N;
  if (pw)
    kernels::packed_matmul(y, x, *pw, n, accumulate);
  else
    ops_.matmul(y, x, w, n, C, N, accumulate);
}

ForwardContext::ForwardContext(const Model& m, const kernels::Ops& ops)
    : m_(m), ops_(ops), kc_(m.config().layers), vc_(m.config().layers) {}

void ForwardContext::reserve(int T, int n) {
  const ModelConfig& c = m_.config();
  const size_t C = size_t(c.d);
  if (T > cap_rows_) {
    // Grow the caches, keeping the rows already computed.
    for (int l = 0; l < c.layers; ++l) {
      kc_[l].resize(size_t(T) * C);
      vc_[l].resize(size_t(T) * C);
    }
    cap_rows_ = T;
  }
  x_.resize(size_t(n) * C);
  h_.resize(size_t(n) * C);
  qkv_.resize(size_t(n) * 3 * C);
  att_.resize(size_t(n) * C);
  gu_.resize(size_t(n) * 2 * c.ffn);
  act_.resize(size_t(n) * c.ffn);
  beta_.resize(c.heads);
}

int ForwardContext::keep_outputs(const SeqSpec& s, int first_row, kernels::AttnArgs& a) {
  const int C = m_.config().d;
  keep_.clear();
  for (int o : s.outputs) keep_.push_back(s.out_begin + o - first_row);
  for (int r = std::max(s.slot_begin, first_row); r < s.T; ++r) keep_.push_back(r - first_row);
  keep_limit_.resize(keep_.size());
  int bias_from = int(keep_.size());
  for (size_t j = 0; j < keep_.size(); ++j) {
    const int i = keep_[j];  // i >= j: rows only move forward, so the copies below are safe
    keep_limit_[j] = a.key_limit[i];
    if (i >= a.bias_from) bias_from = std::min(bias_from, int(j));
    if (i == int(j)) continue;
    std::memcpy(qkv_.data() + j * 3 * C, qkv_.data() + size_t(i) * 3 * C, sizeof(float) * 3 * C);
    std::memcpy(x_.data() + j * C, x_.data() + size_t(i) * C, sizeof(float) * C);
  }
  a.Tq = int(keep_.size());
  a.key_limit = keep_limit_.data();
  a.bias_from = bias_from;
  return a.Tq;
}

void ForwardContext::forward(const SeqSpec& s, int first_row) {
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, D = c.head_dim(), F = c.ffn, V = c.vocab, T = s.T;
  BS_CHECK(first_row >= 0 && first_row <= cached_ && first_row < T, "forward",
           "first_row beyond the cached rows");
  BS_CHECK(int(s.pos.size()) == T && int(s.key_limit.size()) == T && int(s.tokens.size()) == T,
           "forward", "spec arrays must have T entries");
  BS_CHECK(s.key_bias.empty() || int(s.key_bias.size()) == T, "forward", "key_bias size");
  for (size_t j = 0; s.select_outputs && j < s.outputs.size(); ++j) {
    const int r = s.out_begin + s.outputs[j];
    BS_CHECK(r >= std::max(first_row, s.out_begin) && r < s.out_end &&
                 (j == 0 || s.outputs[j] > s.outputs[j - 1]),
             "forward", "selected outputs must be increasing rows of X computed in this call");
  }
  const int n = T - first_row;
  reserve(T, n);
  const float base = c.rope_base * std::pow(c.rope_ntk, float(D) / float(D - 2));

  // Input embeddings (n, C).
  for (int i = 0; i < n; ++i) {
    const int r = first_row + i;
    float* xr = x_.data() + size_t(i) * C;
    if (r < s.n_mem) {
      const float* mv = s.mem + size_t(r) * C;
      for (int j = 0; j < C; ++j) xr[j] = mv[j] + m_.mem_type[j];
    } else if (r >= s.slot_begin) {
      std::memcpy(xr, m_.sum_slots + size_t(r - s.slot_begin) * C, sizeof(float) * C);
    } else {
      int id = s.tokens[r];
      BS_CHECK(id >= 0 && id < V, "forward",
               "token id " + std::to_string(id) + " outside the vocabulary");
      std::memcpy(xr, m_.tok_emb + size_t(id) * C, sizeof(float) * C);
    }
  }

  kernels::AttnArgs a;
  a.Tq = n, a.Tk = T, a.H = H, a.D = D;
  a.q_stride = 3 * C, a.kv_stride = C, a.out_stride = C;
  a.key_limit = s.key_limit.data() + first_row;
  a.key_bias = s.key_bias.empty() ? nullptr : s.key_bias.data();
  a.bias_from = std::max(0, s.bias_from - first_row);
  a.scale = 1.f / std::sqrt(float(D));

  for (int l = 0; l < c.layers; ++l) {
    const LayerView& L = m_.layers[l];
    const PackedWeights::Layer* P = packed_ ? &packed_->layers[l] : nullptr;
    ops_.rmsnorm(h_.data(), nullptr, x_.data(), L.attn_norm, n, C, c.norm_eps);
    product(qkv_.data(), h_.data(), L.wqkv, P ? &P->wqkv : nullptr, n, C, 3 * C, false);
    ops_.rope(qkv_.data(), s.pos.data() + first_row, n, H, D, 3 * C, base);      // q
    ops_.rope(qkv_.data() + C, s.pos.data() + first_row, n, H, D, 3 * C, base);  // k
    float* kc = kc_[l].data();
    float* vc = vc_[l].data();
    for (int i = 0; i < n; ++i) {
      const float* row = qkv_.data() + size_t(i) * 3 * C;
      std::memcpy(kc + size_t(first_row + i) * C, row + C, sizeof(float) * C);
      std::memcpy(vc + size_t(first_row + i) * C, row + 2 * C, sizeof(float) * C);
    }
    // Rows that go on through the rest of this layer: all, or in the last layer with
    // select_outputs only those whose output is read.
    const int m = l == c.layers - 1 && s.select_outputs ? keep_outputs(s, first_row, a) : n;
    if (L.recency) {
      for (int h = 0; h < H; ++h) beta_[h] = std::max(L.recency[h], 0.f);
      a.beta = beta_.data();
    } else {
      a.beta = nullptr;
    }
    if (m > 0) ops_.attention(att_.data(), nullptr, qkv_.data(), kc, vc, a);
    for (int i = 0; i < m; ++i) flops_ += 4.0 * C * a.key_limit[i];
    product(x_.data(), att_.data(), L.wo, P ? &P->wo : nullptr, m, C, C, true);  // x += att · woᵀ
    ops_.rmsnorm(h_.data(), nullptr, x_.data(), L.ffn_norm, m, C, c.norm_eps);
    product(gu_.data(), h_.data(), L.w13, P ? &P->w13 : nullptr, m, C, 2 * F, false);
    ops_.swiglu(act_.data(), gu_.data(), m, F);
    product(x_.data(), act_.data(), L.w2, P ? &P->w2 : nullptr, m, F, C, true);  // x += act · w2ᵀ
  }
  cached_ = T;

  // Where the final states of the logit rows and the Σ rows are in x_.
  const int k0 = std::max(s.slot_begin, first_row);
  int out_at, n_out, slot_at;
  if (s.select_outputs) {
    out_at = 0, n_out = int(s.outputs.size()), slot_at = n_out;
  } else {
    const int o0 = std::max(s.out_begin, first_row), o1 = std::max(s.out_end, o0);
    out_at = o0 - first_row, n_out = o1 - o0, slot_at = k0 - first_row;
  }
  logits_.resize(size_t(n_out) * V);
  if (n_out > 0) {
    ops_.rmsnorm(h_.data(), nullptr, x_.data() + size_t(out_at) * C, m_.final_norm, n_out, C,
                 c.norm_eps);
    product(logits_.data(), h_.data(), m_.lm_head, packed_ ? &packed_->lm_head : nullptr, n_out, C,
            V, false);
  }
  // Summary: final-normed slot states projected to memory vectors (K, C).
  summary_.resize(size_t(T - k0) * C);
  if (T > k0) {
    ops_.rmsnorm(h_.data(), nullptr, x_.data() + size_t(slot_at) * C, m_.final_norm, T - k0, C,
                 c.norm_eps);
    product(summary_.data(), h_.data(), m_.sum_proj, packed_ ? &packed_->sum_proj : nullptr, T - k0,
            C, C, false);
  }
}

}  // namespace bs
