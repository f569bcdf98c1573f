#include "core/forward.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace bs {

ForwardContext::ForwardContext(const Model& m, const kernels::Ops& ops)
    : m_(m), ops_(ops), tf_(m, ops), kc_(m.config().layers), vc_(m.config().layers) {}

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
  const int C = c.d, V = c.vocab, T = s.T;
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
  tf_.embed(s, first_row, n, x_.data());  // (n, C)

  // Scratch for every layer: nothing is kept (no xin, xmid, rstd).
  LayerActs A;
  A.h1 = h_.data(), A.qkv = qkv_.data(), A.att = att_.data();
  A.h2 = h_.data(), A.gu = gu_.data(), A.act = act_.data();
  for (int l = 0; l < c.layers; ++l) {
    tf_.attention_in(l, x_.data(), A, s.pos.data() + first_row, n);
    // Keys and values of the rows computed here join the cache rows before them.
    float* kc = kc_[l].data();
    float* vc = vc_[l].data();
    for (int i = 0; i < n; ++i) {
      const float* row = qkv_.data() + size_t(i) * 3 * C;
      std::memcpy(kc + size_t(first_row + i) * C, row + C, sizeof(float) * C);
      std::memcpy(vc + size_t(first_row + i) * C, row + 2 * C, sizeof(float) * C);
    }
    kernels::AttnArgs a = tf_.attn_args(l, s, first_row, n, T, C, beta_.data());
    // Rows that go on through the rest of this layer: all, or in the last layer with
    // select_outputs only those whose output is read.
    const int m = l == c.layers - 1 && s.select_outputs ? keep_outputs(s, first_row, a) : n;
    if (m > 0) ops_.attention(att_.data(), nullptr, qkv_.data(), kc, vc, a);
    for (int i = 0; i < m; ++i) attn_flops_ += 4.0 * C * a.key_limit[i];
    tf_.attention_out_ffn(l, x_.data(), A, m);
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
  if (n_out > 0)
    tf_.head(x_.data() + size_t(out_at) * C, nullptr, h_.data(), logits_.data(), n_out);
  // Summary: final-normed slot states projected to memory vectors (K, C).
  summary_.resize(size_t(T - k0) * C);
  if (T > k0)
    tf_.summary(x_.data() + size_t(slot_at) * C, nullptr, h_.data(), summary_.data(), T - k0);
}

}  // namespace bs
