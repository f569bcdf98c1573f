#include "core/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace bs {

std::shared_ptr<const PackedWeights> PackedWeights::pack(const Model& m, const kernels::Ops& ops) {
  if (!ops.prepare) return nullptr;
  const ModelConfig& c = m.config();
  const int C = c.d, F = c.ffn;
  auto p = std::make_shared<PackedWeights>();
  for (int l = 0; l < c.layers; ++l) {
    const LayerView& L = m.layers[l];
    p->layers.push_back({ops.prepare(L.wqkv, 3 * C, C), ops.prepare(L.wo, C, C),
                         ops.prepare(L.w13, 2 * F, C), ops.prepare(L.w2, C, F)});
  }
  p->lm_head = ops.prepare(m.lm_head, c.vocab, C);
  p->sum_proj = ops.prepare(m.sum_proj, C, C);
  return p;
}

Transformer::Transformer(const Model& m, const kernels::Ops& ops, const kernels::GradOps* grad,
                         std::shared_ptr<const PackedWeights> packed)
    : m_(m), ops_(ops), gops_(grad), packed_(std::move(packed)) {
  const ModelConfig& c = m.config();
  const int D = c.head_dim();
  rope_base_ = c.rope_base * std::pow(c.rope_ntk, float(D) / float(D - 2));
}

void Transformer::product(float* y, const float* x, const float* w, const kernels::Prepared* pw,
                          int n, int C, int N, bool accumulate) {
  flops_ += 2.0 * n * C * N;
  if (pw)
    ops_.prepared_matmul(y, x, *pw, n, accumulate);
  else
    ops_.matmul(y, x, w, n, C, N, accumulate);
}

void Transformer::embed(const SeqSpec& s, int r0, int n, float* x) const {
  const int C = m_.config().d, V = m_.config().vocab;
  // The three kinds of rows are contiguous: memory [0, n_mem), tokens [n_mem, slot_begin),
  // summary slots [slot_begin, T). Each part of [r0, r0 + n) is one op.
  const int e = r0 + n;
  const int m0 = r0, m1 = std::min(e, s.n_mem);
  const int t0 = std::max(r0, s.n_mem), t1 = std::min(e, s.slot_begin);
  const int s0 = std::max(r0, s.slot_begin), s1 = e;
  if (m1 > m0) ops_.add_rows(x, s.mem + size_t(m0) * C, m_.mem_type, m1 - m0, C);
  if (t1 > t0) {
    for (int r = t0; r < t1; ++r) {
      const int id = s.tokens[size_t(r)];
      BS_CHECK(id >= 0 && id < V, "transformer",
               "token id " + std::to_string(id) + " outside the vocabulary");
    }
    ops_.gather_rows(x + size_t(t0 - r0) * C, m_.tok_emb, s.tokens.data() + t0, t1 - t0, C);
  }
  if (s1 > s0) {
    std::vector<int> slot(size_t(s1 - s0));
    for (int r = s0; r < s1; ++r) slot[size_t(r - s0)] = r - s.slot_begin;
    ops_.gather_rows(x + size_t(s0 - r0) * C, m_.sum_slots, slot.data(), s1 - s0, C);
  }
}

kernels::AttnArgs Transformer::attn_args(int l, const SeqSpec& s, int q0, int Tq, int Tk,
                                         int kv_stride, float* beta) const {
  const ModelConfig& c = m_.config();
  const LayerView& L = m_.layers[size_t(l)];
  kernels::AttnArgs a;
  a.Tq = Tq, a.Tk = Tk, a.H = c.heads, a.D = c.head_dim();
  a.q_stride = 3 * c.d, a.kv_stride = kv_stride, a.out_stride = c.d;
  a.key_limit = s.key_limit.data() + q0;
  a.key_bias = s.key_bias.empty() ? nullptr : s.key_bias.data();
  a.bias_from = std::max(0, s.bias_from - q0);
  a.scale = 1.f / std::sqrt(float(a.D));
  if (L.recency) {
    for (int h = 0; h < c.heads; ++h) beta[h] = std::max(L.recency[h], 0.f);
    a.beta = beta;
  }
  return a;
}

void Transformer::attention_in(int l, const float* x, const LayerActs& A, const int* pos, int n) {
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, D = c.head_dim();
  const LayerView& L = m_.layers[size_t(l)];
  const PackedWeights::Layer* P = packed_ ? &packed_->layers[size_t(l)] : nullptr;
  if (A.xin) ops_.copy(A.xin, x, size_t(n) * C);
  ops_.rmsnorm(A.h1, A.rstd1, x, L.attn_norm, n, C, c.norm_eps);
  product(A.qkv, A.h1, L.wqkv, P ? &P->wqkv : nullptr, n, C, 3 * C, false);
  ops_.rope(A.qkv, pos, n, H, D, 3 * C, rope_base_);      // q
  ops_.rope(A.qkv + C, pos, n, H, D, 3 * C, rope_base_);  // k
}

void Transformer::attention_out_ffn(int l, float* x, const LayerActs& A, int m) {
  const ModelConfig& c = m_.config();
  const int C = c.d, F = c.ffn;
  const LayerView& L = m_.layers[size_t(l)];
  const PackedWeights::Layer* P = packed_ ? &packed_->layers[size_t(l)] : nullptr;
  product(x, A.att, L.wo, P ? &P->wo : nullptr, m, C, C, true);  // x += att · woᵀ
  if (A.xmid) ops_.copy(A.xmid, x, size_t(m) * C);
  ops_.rmsnorm(A.h2, A.rstd2, x, L.ffn_norm, m, C, c.norm_eps);
  product(A.gu, A.h2, L.w13, P ? &P->w13 : nullptr, m, C, 2 * F, false);
  ops_.swiglu(A.act, A.gu, m, F);
  product(x, A.act, L.w2, P ? &P->w2 : nullptr, m, F, C, true);  // x += act · w2ᵀ
}

void Transformer::head(const float* x, float* rstd, float* h, float* out, int n) {
  const ModelConfig& c = m_.config();
  ops_.rmsnorm(h, rstd, x, m_.final_norm, n, c.d, c.norm_eps);
  product(out, h, m_.lm_head, packed_ ? &packed_->lm_head : nullptr, n, c.d, c.vocab, false);
}

void Transformer::summary(const float* x, float* rstd, float* h, float* out, int n) {
  const ModelConfig& c = m_.config();
  ops_.rmsnorm(h, rstd, x, m_.final_norm, n, c.d, c.norm_eps);
  product(out, h, m_.sum_proj, packed_ ? &packed_->sum_proj : nullptr, n, c.d, c.d, false);
}

void Transformer::ffn_out_backward(int l, const LayerActs& A, float* dx, float* datt, float* grads,
                                   int n) {
  BS_CHECK(gops_, "transformer", "backward needs the backward ops");
  const kernels::GradOps& g = *gops_;
  const ModelConfig& c = m_.config();
  const int C = c.d, F = c.ffn;
  const LayerView& L = m_.layers[size_t(l)];
  // (n, F) d act, (n, 2F) d gu, (n, C) d h2, one scratch carved in three.
  tmp_.resize(size_t(n) * (3 * F + C));
  float *dact = tmp_.data(), *dgu = dact + size_t(n) * F, *dh = dgu + size_t(n) * 2 * F;
  // x_out = x_mid + swiglu(rms(x_mid) w13ᵀ) w2ᵀ
  g.matmul_backward(dact, grad_of(grads, L.w2), dx, A.act, L.w2, n, F, C, false);
  g.swiglu_backward(dgu, dact, A.gu, n, F);
  g.matmul_backward(dh, grad_of(grads, L.w13), dgu, A.h2, L.w13, n, C, 2 * F, false);
  g.rmsnorm_backward(dx, grad_of(grads, L.ffn_norm), dh, A.xmid, L.ffn_norm, A.rstd2, n, C, true);
  // x_mid = x_in + att · woᵀ
  g.matmul_backward(datt, grad_of(grads, L.wo), dx, A.att, L.wo, n, C, C, false);
}

void Transformer::attention_in_backward(int l, const LayerActs& A, float* dqkv, float* dx,
                                        float* grads, const int* negpos, int n) {
  BS_CHECK(gops_, "transformer", "backward needs the backward ops");
  const kernels::GradOps& g = *gops_;
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, D = c.head_dim();
  const LayerView& L = m_.layers[size_t(l)];
  // RoPE is a rotation: its backward rotates by the negative angle.
  ops_.rope(dqkv, negpos, n, H, D, 3 * C, rope_base_);
  ops_.rope(dqkv + C, negpos, n, H, D, 3 * C, rope_base_);
  dh_.resize(size_t(n) * C);
  g.matmul_backward(dh_.data(), grad_of(grads, L.wqkv), dqkv, A.h1, L.wqkv, n, C, 3 * C, false);
  g.rmsnorm_backward(dx, grad_of(grads, L.attn_norm), dh_.data(), A.xin, L.attn_norm, A.rstd1, n, C,
                     true);
}

namespace {

// The final norm and one projection w (N, C) backward, from dy(n, N); the d x rows are added
// into dx at rows[i].
void final_backward(const kernels::GradOps& g, const float* dy, const float* x, const float* rstd,
                    const float* h, const float* w, float* gw, const float* norm, float* gnorm,
                    float* dx, const int* rows, int n, int C, int N, std::vector<float>& dh,
                    std::vector<float>& tmp) {
  dh.resize(size_t(n) * C);
  g.matmul_backward(dh.data(), gw, dy, h, w, n, C, N, false);
  tmp.assign(size_t(n) * C, 0.f);
  g.rmsnorm_backward(tmp.data(), gnorm, dh.data(), x, norm, rstd, n, C, false);
  g.scatter_add_rows(dx, tmp.data(), rows, n, C);
}

}  // namespace

void Transformer::head_backward(const float* dlogits, const float* x, const float* rstd,
                                const float* h, float* grads, float* dx, const int* rows, int n) {
  BS_CHECK(gops_, "transformer", "backward needs the backward ops");
  const ModelConfig& c = m_.config();
  final_backward(*gops_, dlogits, x, rstd, h, m_.lm_head, grad_of(grads, m_.lm_head), m_.final_norm,
                 grad_of(grads, m_.final_norm), dx, rows, n, c.d, c.vocab, dh_, tmp_);
}

void Transformer::summary_backward(const float* dsum, const float* x, const float* rstd,
                                   const float* h, float* grads, float* dx, const int* rows,
                                   int n) {
  BS_CHECK(gops_, "transformer", "backward needs the backward ops");
  const ModelConfig& c = m_.config();
  final_backward(*gops_, dsum, x, rstd, h, m_.sum_proj, grad_of(grads, m_.sum_proj), m_.final_norm,
                 grad_of(grads, m_.final_norm), dx, rows, n, c.d, c.d, dh_, tmp_);
}

void Transformer::embed_backward(const SeqSpec& s, const float* dx, float* grads,
                                 float* dmem) const {
  BS_CHECK(gops_, "transformer", "backward needs the backward ops");
  const int C = m_.config().d;
  // Memory rows: d loss / d memory vectors is dx itself; the type embedding sums them (row 0 of
  // a one-row table, in row order). Token rows scatter into the embedding table, slot rows into
  // the slot embeddings.
  const int n_tok = s.slot_begin - s.n_mem, n_slot = s.T - s.slot_begin;
  if (s.n_mem > 0) {
    ops_.copy(dmem, dx, size_t(s.n_mem) * C);
    const std::vector<int> zero(size_t(s.n_mem), 0);
    gops_->scatter_add_rows(grad_of(grads, m_.mem_type), dx, zero.data(), s.n_mem, C);
  }
  if (n_tok > 0)
    gops_->scatter_add_rows(grad_of(grads, m_.tok_emb), dx + size_t(s.n_mem) * C,
                            s.tokens.data() + s.n_mem, n_tok, C);
  if (n_slot > 0) {
    std::vector<int> slot(static_cast<size_t>(n_slot));
    for (int i = 0; i < n_slot; ++i) slot[size_t(i)] = i;
    gops_->scatter_add_rows(grad_of(grads, m_.sum_slots), dx + size_t(s.slot_begin) * C,
                            slot.data(), n_slot, C);
  }
}

}  // namespace bs
