#include "training/packed_pass.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "kernels/thread_pool.h"

namespace bs {

PackedPass::PackedPass(const Model& m, const kernels::Ops& ops, const kernels::GradOps& gops)
    : m_(m),
      ops_(ops),
      g_(gops),
      tf_(m, ops, &gops),
      probs_(m.config().layers),
      acts_(m.config().layers) {}

void PackedPass::carve(int R) {
  const ModelConfig& c = m_.config();
  const size_t C = size_t(c.d), F = size_t(c.ffn), H = size_t(c.heads), r = size_t(R);
  // Per layer: xin, h1, att, xmid, h2 (R, C); qkv (R, 3C); gu (R, 2F); act (R, F); rstd1,
  // rstd2 (R); then each sequence's attention probabilities (H, T_s, T_s). Every view starts on
  // a 64-byte boundary.
  auto round = [](size_t n) { return (n + 15) / 16 * 16; };
  size_t probs = 0;
  for (const PassSeq& q : seqs_) probs += round(H * size_t(q.spec.T) * size_t(q.spec.T));
  const size_t per_layer =
      5 * round(r * C) + round(r * 3 * C) + round(r * 2 * F) + round(r * F) + 2 * round(r) + probs;
  arena_.resize(per_layer * size_t(c.layers) + 16);
  float* p = arena_.data();
  p += (16 - (reinterpret_cast<uintptr_t>(p) / sizeof(float)) % 16) % 16;
  auto take = [&](size_t n) {
    float* v = p;
    p += round(n);
    return v;
  };
  for (int l = 0; l < c.layers; ++l) {
    LayerActs& A = acts_[size_t(l)];
    A.xin = take(r * C), A.rstd1 = take(r), A.h1 = take(r * C), A.qkv = take(r * 3 * C);
    A.att = take(r * C), A.xmid = take(r * C), A.rstd2 = take(r), A.h2 = take(r * C);
    A.gu = take(r * 2 * F), A.act = take(r * F);
    probs_[size_t(l)].resize(seqs_.size());
    for (size_t s = 0; s < seqs_.size(); ++s)
      probs_[size_t(l)][s] = take(H * size_t(seqs_[s].spec.T) * size_t(seqs_[s].spec.T));
  }
}

const float* PackedPass::summary(int s) const {
  BS_CHECK(s >= 0 && s < num_seqs() && seqs_[s].spec.slot_begin < seqs_[s].spec.T, "packed pass",
           "sequence has no summary slots");
  return summary_.data() + sum_off_[s];
}

double PackedPass::forward(std::vector<PassSeq> seqs) {
  seqs_ = std::move(seqs);
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, F = c.ffn, V = c.vocab;
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
  carve(R);

  // Embeddings (R, C).
  std::vector<float> x(size_t(R) * C);
  std::vector<int> pos(R);
  for (size_t s = 0; s < S; ++s) {
    const SeqSpec& sp = seqs_[s].spec;
    tf_.embed(sp, 0, sp.T, x.data() + size_t(row0_[s]) * C);
    std::copy(sp.pos.begin(), sp.pos.end(), pos.begin() + row0_[s]);
  }

  std::vector<float> beta(H);
  for (int l = 0; l < c.layers; ++l) {
    const LayerActs& A = acts_[size_t(l)];
    tf_.attention_in(l, x.data(), A, pos.data(), R);
    // Attention per sequence; sequences are independent tasks (kernels run inline inside).
    parallel_for(int(S), [&](int s0, int s1) {
      for (int s = s0; s < s1; ++s) {
        const SeqSpec& sp = seqs_[s].spec;
        const kernels::AttnArgs a = tf_.attn_args(l, sp, 0, sp.T, sp.T, 3 * C, beta.data());
        const float* qkv = A.qkv + size_t(row0_[s]) * 3 * C;
        ops_.attention(A.att + size_t(row0_[s]) * C, probs_[size_t(l)][s], qkv, qkv + C,
                       qkv + 2 * C, a);
      }
    });
    tf_.attention_out_ffn(l, x.data(), A, R);
  }
  xout_ = std::move(x);

  // Loss rows: final norm, head, fused softmax cross-entropy (dlogits kept for backward).
  const int NL = int(loss_row_.size());
  xl_.resize(size_t(NL) * C), rstdl_.resize(NL), hl_.resize(size_t(NL) * C);
  for (int i = 0; i < NL; ++i)
    std::memcpy(xl_.data() + size_t(i) * C, xout_.data() + size_t(loss_row_[i]) * C,
                sizeof(float) * C);
  dlogits_.resize(size_t(NL) * V);
  nll_.resize(NL);
  if (NL > 0) {
    tf_.head(xl_.data(), rstdl_.data(), hl_.data(), dlogits_.data(), NL);
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
  if (NS > 0) tf_.summary(xs_.data(), rstds_.data(), hs_.data(), summary_.data(), NS);
  dmem_.assign(mem_rows * C, 0.f);
  return loss;
}

void PackedPass::backward(const std::vector<const float*>& d_summary, float* grads) {
  const ModelConfig& c = m_.config();
  const int C = c.d, H = c.heads, R = R_;
  const size_t S = seqs_.size();
  BS_CHECK(d_summary.size() == S, "packed pass", "one summary gradient (or null) per sequence");
  backward_done_ = true;

  std::vector<float> dx(size_t(R) * C, 0.f);
  // Head and final norm on the loss rows.
  const int NL = int(loss_row_.size());
  if (NL > 0)
    tf_.head_backward(dlogits_.data(), xl_.data(), rstdl_.data(), hl_.data(), grads, dx.data(),
                      loss_row_.data(), NL);
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
    if (any)
      tf_.summary_backward(dsum.data(), xs_.data(), rstds_.data(), hs_.data(), grads, dx.data(),
                           slot_row_.data(), NS);
  }

  std::vector<int> negpos(R);
  for (size_t s = 0; s < S; ++s)
    for (int r = 0; r < seqs_[s].spec.T; ++r) negpos[row0_[s] + r] = -seqs_[s].spec.pos[r];
  std::vector<float> datt(size_t(R) * C), dqkv(size_t(R) * 3 * C), beta(H);
  for (int l = c.layers - 1; l >= 0; --l) {
    const LayerView& L = m_.layers[l];
    const LayerActs& A = acts_[size_t(l)];
    tf_.ffn_out_backward(l, A, dx.data(), datt.data(), grads, R);
    // Attention per sequence, from its saved probabilities.
    std::vector<std::vector<float>> dbeta_s(S, std::vector<float>(H, 0.f));
    parallel_for(int(S), [&](int s0, int s1) {
      for (int s = s0; s < s1; ++s) {
        const SeqSpec& sp = seqs_[s].spec;
        const kernels::AttnArgs a = tf_.attn_args(l, sp, 0, sp.T, sp.T, 3 * C, beta.data());
        const size_t o = size_t(row0_[s]) * 3 * C;
        const float* qkv = A.qkv + o;
        g_.attention_backward(dqkv.data() + o, dqkv.data() + o + C, dqkv.data() + o + 2 * C,
                              dbeta_s[s].data(), datt.data() + size_t(row0_[s]) * C,
                              probs_[size_t(l)][s], qkv, qkv + C, qkv + 2 * C, a);
      }
    });
    if (L.recency) {
      float* gb = grads + (L.recency - m_.params.data());
      for (size_t s = 0; s < S; ++s)  // in sequence order: deterministic for any thread count
        for (int h = 0; h < H; ++h)
          if (L.recency[h] > 0.f) gb[h] += dbeta_s[s][h];
    }
    tf_.attention_in_backward(l, A, dqkv.data(), dx.data(), grads, negpos.data(), R);
  }

  // Input embeddings, sequence by sequence.
  for (size_t s = 0; s < S; ++s)
    tf_.embed_backward(seqs_[s].spec, dx.data() + size_t(row0_[s]) * C, grads,
                       dmem_.data() + mem_off_[s]);
}

}  // namespace bs
