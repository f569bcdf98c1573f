#include "training/packed_pass.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/thread_pool.h"

namespace bs {

PackedPass::PackedPass(const Model& m, const kernels::Ops& ops, const kernels::GradOps& gops)
    : m_(m), ops_(ops), g_(gops), acts_(m.config().layers) {}

const float* PackedPass::summary(int s) const {
  BS_CHECK(s >= 0 && s < num_seqs() && seqs_[s].spec.slot_begin < seqs_[s].spec.T, "packed pass",
           "sequence has no summary slots");
  return summary_.data() + sum_off_[s];
}

double PackedPass::forward(std::vector<PassSeq> seqs) {
  seqs_ = std::move(seqs);
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, D = c.head_dim(), F = c.ffn, V = c.vocab, K = c.summary_slots;
  const size_t S = seqs_.size();
  row0_.assign(S, 0);
  mem_off_.assign(S, 0);
  sum_off_.assign(S, 0);
  R_ = 0;
  size_t mem_rows = 0, sum_rows = 0;
  loss_row_.clear(), loss_tgt_.clear(), loss_w_.clear(), slot_row_.clear();
  for (size_t s = 0; s < S; ++s) {
    const PassSeq& q = seqs_[s];
    BS_CHECK(q.loss_rows.size() == q.targets.size() && q.targets.size() == q.weights.size(),
             "packed pass", "loss rows, targets and weights must have the same length");
    BS_CHECK(q.soft.empty() || q.soft.size() == q.loss_rows.size() * size_t(V), "packed pass",
             "soft targets must be (loss rows, V)");
    row0_[s] = R_;
    mem_off_[s] = mem_rows * C;
    sum_off_[s] = sum_rows * C;
    for (size_t i = 0; i < q.loss_rows.size(); ++i) {
      loss_row_.push_back(R_ + q.loss_rows[i]);
      loss_tgt_.push_back(q.targets[i]);
      loss_w_.push_back(q.weights[i]);
    }
    for (int r = q.spec.slot_begin; r < q.spec.T; ++r) slot_row_.push_back(R_ + r);
    mem_rows += q.spec.n_mem;
    sum_rows += q.spec.T - q.spec.slot_begin;
    R_ += q.spec.T;
  }
  const int R = R_;
  double visible = 0;  // Σ over sequences and rows of the keys each row sees
  for (const PassSeq& q : seqs_)
    for (int lim : q.spec.key_limit) visible += lim;
  fwd_flops_ =
      c.layers * (2.0 * R * C * (3 * C + C + 2 * F) + 2.0 * R * F * C + 4.0 * visible * C) +
      2.0 * double(loss_row_.size()) * C * V + 2.0 * double(slot_row_.size()) * C * C;
  backward_done_ = false;
  const float base = c.rope_base * std::pow(c.rope_ntk, float(D) / float(D - 2));

  // Embeddings (R, C).
  std::vector<float> x(size_t(R) * C);
  std::vector<int> pos(R);
  for (size_t s = 0; s < S; ++s) {
    const SeqSpec& sp = seqs_[s].spec;
    for (int r = 0; r < sp.T; ++r) {
      float* xr = x.data() + size_t(row0_[s] + r) * C;
      pos[row0_[s] + r] = sp.pos[r];
      if (r < sp.n_mem) {
        for (int j = 0; j < C; ++j) xr[j] = sp.mem[size_t(r) * C + j] + m_.mem_type[j];
      } else if (r >= sp.slot_begin) {
        std::memcpy(xr, m_.sum_slots + size_t(r - sp.slot_begin) * C, sizeof(float) * C);
      } else {
        int id = sp.tokens[r];
        BS_CHECK(id >= 0 && id < V, "packed pass", "token id outside the vocabulary");
        std::memcpy(xr, m_.tok_emb + size_t(id) * C, sizeof(float) * C);
      }
    }
  }

  std::vector<float> beta(H);
  for (int l = 0; l < c.layers; ++l) {
    const LayerView& L = m_.layers[l];
    LayerActs& A = acts_[l];
    A.xin = x;
    A.rstd1.resize(R), A.h1.resize(size_t(R) * C), A.qkv.resize(size_t(R) * 3 * C);
    A.att.resize(size_t(R) * C), A.rstd2.resize(R), A.h2.resize(size_t(R) * C);
    A.gu.resize(size_t(R) * 2 * F), A.act.resize(size_t(R) * F);
    A.probs.resize(S);
    ops_.rmsnorm(A.h1.data(), A.rstd1.data(), x.data(), L.attn_norm, R, C, c.norm_eps);
    ops_.matmul(A.qkv.data(), A.h1.data(), L.wqkv, R, C, 3 * C, false);
    ops_.rope(A.qkv.data(), pos.data(), R, H, D, 3 * C, base);
    ops_.rope(A.qkv.data() + C, pos.data(), R, H, D, 3 * C, base);
    if (L.recency)
      for (int h = 0; h < H; ++h) beta[h] = std::max(L.recency[h], 0.f);
    // Attention per sequence; sequences are independent tasks (kernels run inline inside).
    parallel_for(int(S), [&](int s0, int s1) {
      for (int s = s0; s < s1; ++s) {
        const SeqSpec& sp = seqs_[s].spec;
        kernels::AttnArgs a;
        a.Tq = a.Tk = sp.T, a.H = H, a.D = D;
        a.q_stride = a.kv_stride = 3 * C, a.out_stride = C;
        a.key_limit = sp.key_limit.data();
        a.key_bias = sp.key_bias.empty() ? nullptr : sp.key_bias.data();
        a.beta = L.recency ? beta.data() : nullptr;
        a.bias_from = sp.bias_from;
        a.scale = 1.f / std::sqrt(float(D));
        A.probs[s].resize(size_t(H) * sp.T * sp.T);
        const float* qkv = A.qkv.data() + size_t(row0_[s]) * 3 * C;
        ops_.attention(A.att.data() + size_t(row0_[s]) * C, A.probs[s].data(), qkv, qkv + C,
                       qkv + 2 * C, a);
      }
    });
    ops_.matmul(x.data(), A.att.data(), L.wo, R, C, C, true);
    A.xmid = x;
    ops_.rmsnorm(A.h2.data(), A.rstd2.data(), x.data(), L.ffn_norm, R, C, c.norm_eps);
    ops_.matmul(A.gu.data(), A.h2.data(), L.w13, R, C, 2 * F, false);
    ops_.swiglu(A.act.data(), A.gu.data(), R, F);
    ops_.matmul(x.data(), A.act.data(), L.w2, R, F, C, true);
  }
  xout_ = std::move(x);

  // Loss rows: final norm, head, fused softmax cross-entropy (dlogits kept for backward).
  const int NL = int(loss_row_.size());
  xl_.resize(size_t(NL) * C), rstdl_.resize(NL), hl_.resize(size_t(NL) * C);
  for (int i = 0; i < NL; ++i)
    std::memcpy(xl_.data() + size_t(i) * C, xout_.data() + size_t(loss_row_[i]) * C,
                sizeof(float) * C);
  ops_.rmsnorm(hl_.data(), rstdl_.data(), xl_.data(), m_.final_norm, NL, C, c.norm_eps);
  dlogits_.resize(size_t(NL) * V);
  nll_.resize(NL);
  if (NL > 0) {
    ops_.matmul(dlogits_.data(), hl_.data(), m_.lm_head, NL, C, V, false);
    if (keep_logits_) logits_ = dlogits_;  // the loss ops turn them into dlogits in place
    // Hard targets (cross-entropy) in one call; with soft ones (KL, distillation) sequence by
    // sequence.
    bool any_soft = false;
    for (const PassSeq& q : seqs_) any_soft = any_soft || !q.soft.empty();
    if (!any_soft) {
      g_.softmax_xent(dlogits_.data(), nll_.data(), loss_tgt_.data(), loss_w_.data(), NL, V);
    } else {
      size_t r0 = 0;
      for (const PassSeq& q : seqs_) {
        const int n = int(q.loss_rows.size());
        float* lg = dlogits_.data() + r0 * V;
        if (n > 0 && q.soft.empty())
          g_.softmax_xent(lg, nll_.data() + r0, loss_tgt_.data() + r0, loss_w_.data() + r0, n, V);
        else if (n > 0)
          g_.softmax_kl(lg, nll_.data() + r0, q.soft.data(), loss_w_.data() + r0, n, V);
        r0 += size_t(n);
      }
    }
  }
  double loss = 0;
  for (int i = 0; i < NL; ++i) loss += double(loss_w_[i]) * nll_[i];

  // Summaries of all Σ rows.
  const int NS = int(slot_row_.size());
  xs_.resize(size_t(NS) * C), rstds_.resize(NS), hs_.resize(size_t(NS) * C),
      summary_.resize(size_t(NS) * C);
  for (int i = 0; i < NS; ++i)
    std::memcpy(xs_.data() + size_t(i) * C, xout_.data() + size_t(slot_row_[i]) * C,
                sizeof(float) * C);
  if (NS > 0) {
    ops_.rmsnorm(hs_.data(), rstds_.data(), xs_.data(), m_.final_norm, NS, C, c.norm_eps);
    ops_.matmul(summary_.data(), hs_.data(), m_.sum_proj, NS, C, C, false);
  }
  (void)K;
  dmem_.assign(mem_rows * C, 0.f);
  return loss;
}

void PackedPass::backward(const std::vector<const float*>& d_summary, float* grads) {
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, D = c.head_dim(), F = c.ffn, V = c.vocab, R = R_;
  const size_t S = seqs_.size();
  BS_CHECK(d_summary.size() == S, "packed pass", "one summary gradient (or null) per sequence");
  backward_done_ = true;
  auto G = [&](const float* p) { return grads + (p - m_.params.data()); };
  const float base = c.rope_base * std::pow(c.rope_ntk, float(D) / float(D - 2));

  std::vector<float> dx(size_t(R) * C, 0.f);
  std::vector<float> tmp;
  // Head and final norm on the loss rows.
  const int NL = int(loss_row_.size());
  if (NL > 0) {
    std::vector<float> dh(size_t(NL) * C);
    g_.matmul_backward(dh.data(), G(m_.lm_head), dlogits_.data(), hl_.data(), m_.lm_head, NL, C, V,
                       false);
    tmp.assign(size_t(NL) * C, 0.f);
    g_.rmsnorm_backward(tmp.data(), G(m_.final_norm), dh.data(), xl_.data(), m_.final_norm,
                        rstdl_.data(), NL, C, false);
    for (int i = 0; i < NL; ++i)
      for (int j = 0; j < C; ++j) dx[size_t(loss_row_[i]) * C + j] += tmp[size_t(i) * C + j];
  }
  // Summary projection and final norm on the Σ rows that received a gradient.
  const int NS = int(slot_row_.size());
  if (NS > 0) {
    std::vector<float> dsum(size_t(NS) * C, 0.f);
    bool any = false;
    for (size_t s = 0; s < S; ++s) {
      const SeqSpec& sp = seqs_[s].spec;
      if (!d_summary[s] || sp.slot_begin >= sp.T) continue;
      std::memcpy(dsum.data() + sum_off_[s], d_summary[s],
                  sizeof(float) * size_t(sp.T - sp.slot_begin) * C);
      any = true;
    }
    if (any) {
      std::vector<float> dh(size_t(NS) * C);
      g_.matmul_backward(dh.data(), G(m_.sum_proj), dsum.data(), hs_.data(), m_.sum_proj, NS, C, C,
                         false);
      tmp.assign(size_t(NS) * C, 0.f);
      g_.rmsnorm_backward(tmp.data(), G(m_.final_norm), dh.data(), xs_.data(), m_.final_norm,
                          rstds_.data(), NS, C, false);
      for (int i = 0; i < NS; ++i)
        for (int j = 0; j < C; ++j) dx[size_t(slot_row_[i]) * C + j] += tmp[size_t(i) * C + j];
    }
  }

  std::vector<int> negpos(R);
  for (size_t s = 0; s < S; ++s)
    for (int r = 0; r < seqs_[s].spec.T; ++r) negpos[row0_[s] + r] = -seqs_[s].spec.pos[r];
  std::vector<float> dact(size_t(R) * F), dgu(size_t(R) * 2 * F), dh(size_t(R) * C),
      datt(size_t(R) * C), dqkv(size_t(R) * 3 * C), beta(H);
  for (int l = c.layers - 1; l >= 0; --l) {
    const LayerView& L = m_.layers[l];
    LayerActs& A = acts_[l];
    // x_out = x_mid + swiglu(rms(x_mid) w13ᵀ) w2ᵀ
    g_.matmul_backward(dact.data(), G(L.w2), dx.data(), A.act.data(), L.w2, R, F, C, false);
    g_.swiglu_backward(dgu.data(), dact.data(), A.gu.data(), R, F);
    g_.matmul_backward(dh.data(), G(L.w13), dgu.data(), A.h2.data(), L.w13, R, C, 2 * F, false);
    g_.rmsnorm_backward(dx.data(), G(L.ffn_norm), dh.data(), A.xmid.data(), L.ffn_norm,
                        A.rstd2.data(), R, C, true);
    // x_mid = x_in + attention(rope(rms(x_in) wqkvᵀ)) woᵀ
    g_.matmul_backward(datt.data(), G(L.wo), dx.data(), A.att.data(), L.wo, R, C, C, false);
    if (L.recency)
      for (int h = 0; h < H; ++h) beta[h] = std::max(L.recency[h], 0.f);
    std::vector<std::vector<float>> dbeta_s(S, std::vector<float>(H, 0.f));
    parallel_for(int(S), [&](int s0, int s1) {
      for (int s = s0; s < s1; ++s) {
        const SeqSpec& sp = seqs_[s].spec;
        kernels::AttnArgs a;
        a.Tq = a.Tk = sp.T, a.H = H, a.D = D;
        a.q_stride = a.kv_stride = 3 * C, a.out_stride = C;
        a.key_limit = sp.key_limit.data();
        a.key_bias = sp.key_bias.empty() ? nullptr : sp.key_bias.data();
        a.beta = L.recency ? beta.data() : nullptr;
        a.bias_from = sp.bias_from;
        a.scale = 1.f / std::sqrt(float(D));
        const size_t o = size_t(row0_[s]) * 3 * C;
        const float* qkv = A.qkv.data() + o;
        g_.attention_backward(dqkv.data() + o, dqkv.data() + o + C, dqkv.data() + o + 2 * C,
                              dbeta_s[s].data(), datt.data() + size_t(row0_[s]) * C,
                              A.probs[s].data(), qkv, qkv + C, qkv + 2 * C, a);
      }
    });
    if (L.recency) {
      float* gb = G(L.recency);
      for (size_t s = 0; s < S; ++s)  // in sequence order: deterministic for any thread count
        for (int h = 0; h < H; ++h)
          if (L.recency[h] > 0.f) gb[h] += dbeta_s[s][h];
    }
    // RoPE is a rotation: its backward rotates by the negative angle.
    ops_.rope(dqkv.data(), negpos.data(), R, H, D, 3 * C, base);
    ops_.rope(dqkv.data() + C, negpos.data(), R, H, D, 3 * C, base);
    g_.matmul_backward(dh.data(), G(L.wqkv), dqkv.data(), A.h1.data(), L.wqkv, R, C, 3 * C, false);
    g_.rmsnorm_backward(dx.data(), G(L.attn_norm), dh.data(), A.xin.data(), L.attn_norm,
                        A.rstd1.data(), R, C, true);
  }

  // Input embeddings.
  float* gtok = G(m_.tok_emb);
  float* gtype = G(m_.mem_type);
  float* gslot = G(m_.sum_slots);
  for (size_t s = 0; s < S; ++s) {
    const SeqSpec& sp = seqs_[s].spec;
    for (int r = 0; r < sp.T; ++r) {
      const float* d = dx.data() + size_t(row0_[s] + r) * C;
      float* dst;
      if (r < sp.n_mem) {
        std::memcpy(dmem_.data() + mem_off_[s] + size_t(r) * C, d, sizeof(float) * C);
        dst = gtype;
      } else if (r >= sp.slot_begin) {
        dst = gslot + size_t(r - sp.slot_begin) * C;
      } else {
        dst = gtok + size_t(sp.tokens[r]) * C;
      }
      for (int j = 0; j < C; ++j) dst[j] += d[j];
    }
  }
}

}  // namespace bs
