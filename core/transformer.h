// The transformer, once: input embeddings, the layer (attention block and FFN block, forward and
// backward), the final norm with the output head, and the summary projection — over the ops
// table the caller chose. Its two modes are its two callers, which differ only in what they
// keep and in how attention meets its keys:
//   inference (core/forward.h ForwardContext): one context, rows [first_row, T) computed against
//     a per-layer key/value cache, scratch reused, nothing saved;
//   training (training/packed_pass.h PackedPass): several contexts stacked row-wise, attention
//     per context, every activation saved in one arena (LayerActs) for the backward pass.
// Both call the same functions below in the same order, so a change to the model is made once;
// docs/MODEL.md is the specification they implement.
//
// Letters: n rows of a call, C width, F ffn width, H heads, D head dim, V vocab.
#pragma once
#include <memory>

#include "core/error.h"
#include "core/model.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"

namespace bs {

// One context's rows and visibility (blocks/layout.h builds it from the layout [M | E | W | X |
// Σ]).
struct SeqSpec {
  int T = 0;                       // rows in the context
  int n_mem = 0;                   // rows [0, n_mem) are memory vectors
  const float* mem = nullptr;      // (n_mem, C)
  std::vector<int> tokens;         // (T) token ids; only read for token rows
  int slot_begin = 0;              // rows [slot_begin, T) are the K summary slots (== T: none)
  std::vector<int> pos;            // (T) RoPE positions
  std::vector<int> key_limit;      // (T) keys visible to each row
  std::vector<float> key_bias;     // (T) recency value r_j per key row, or empty
  int bias_from = 0;               // rows >= bias_from get beta_h * key_bias[j]
  int out_begin = 0, out_end = 0;  // rows that get logits (the block X)
  // With select_outputs, only the rows out_begin + outputs[j] (outputs increasing) get logits,
  // and the last layer finishes only those rows and the Σ rows after its key/value products: no
  // other row's output is read there (a denoising step needs the open positions, a commit pass
  // only Σ). Every row's keys and values are still computed, so the cache stays whole.
  bool select_outputs = false;
  std::vector<int> outputs;
};

// The model's weight matrices prepared once by a backend for its inference products (the CPU:
// panels for kernels/packed_matmul.h, faster than per-call BLAS when a call has few rows, as
// every denoising step does). A copy of the weights (~ the model's size); valid while the
// model's parameters do not change.
struct PackedWeights {
  struct Layer {
    kernels::Prepared wqkv, wo, w13, w2;
  };
  std::vector<Layer> layers;
  kernels::Prepared lm_head, sum_proj;
  // Null when the backend has no preparation (ops.prepare == nullptr).
  static std::shared_ptr<const PackedWeights> pack(const Model& m, const kernels::Ops& ops);
};

// What one layer keeps for its backward pass (training mode), or its scratch (inference mode,
// where xin and xmid are null and the norms' rstd are not kept). Views into the caller's
// memory, n rows:
struct LayerActs {
  float* xin = nullptr;    // (n, C)  residual entering the layer (kept: training only)
  float* rstd1 = nullptr;  // (n)     1/rms of xin (training only)
  float* h1 = nullptr;     // (n, C)  rmsnorm(xin)·attn_norm
  float* qkv = nullptr;    // (n, 3C) [q | k | v], q and k roped
  float* att = nullptr;    // (n, C)  attention output
  float* xmid = nullptr;   // (n, C)  residual after the attention block (training only)
  float* rstd2 = nullptr;  // (n)     1/rms of xmid (training only)
  float* h2 = nullptr;     // (n, C)  rmsnorm(xmid)·ffn_norm
  float* gu = nullptr;     // (n, 2F) [gate | up] = h2·w13ᵀ
  float* act = nullptr;    // (n, F)  silu(gate)·up
};

class Transformer {
 public:
  // grad: the backward ops (training mode; null: no backward). packed: products with the
  // packed copy (inference); null: the ops' matmul on the raw weights.
  Transformer(const Model& m, const kernels::Ops& ops, const kernels::GradOps* grad = nullptr,
              std::shared_ptr<const PackedWeights> packed = nullptr);

  const Model& model() const { return m_; }
  // Weights prepared by these ops (PackedWeights::pack(m, ops)), or null.
  void set_packed(std::shared_ptr<const PackedWeights> p) {
    BS_CHECK(!p || ops_.prepared_matmul, "transformer",
             std::string("the ") + ops_.name + " ops have no prepared products");
    packed_ = std::move(p);
  }
  const kernels::Ops& ops() const { return ops_; }
  // RoPE base with NTK scaling: rope_base · rope_ntk^(D/(D−2)) (docs/MODEL.md).
  float rope_base() const { return rope_base_; }

  // x(n, C): the input of rows [r0, r0 + n) of s — memory vector + type embedding (M rows), the
  // slot embedding (Σ rows) or the token embedding. Throws bs::Error for a token id outside
  // the vocabulary.
  void embed(const SeqSpec& s, int r0, int n, float* x) const;

  // Attention arguments of s's query rows [q0, q0 + Tq) against Tk keys at kv_stride floats,
  // with layer l's recency β_h = max(beta_h, 0) (written to beta(H), which must outlive them).
  kernels::AttnArgs attn_args(int l, const SeqSpec& s, int q0, int Tq, int Tk, int kv_stride,
                              float* beta) const;

  // The attention block up to attention, on n rows at positions pos(n): A.h1 = rmsnorm(x)
  // (A.rstd1 kept when set; x copied to A.xin when set), A.qkv = A.h1·wqkvᵀ, RoPE on q and k.
  void attention_in(int l, const float* x, const LayerActs& A, const int* pos, int n);
  // The rest of the layer on m rows: x += A.att·woᵀ (x copied to A.xmid when set), then the FFN
  // block: A.h2 = rmsnorm(x), A.gu = A.h2·w13ᵀ, A.act = swiglu(A.gu), x += A.act·w2ᵀ.
  void attention_out_ffn(int l, float* x, const LayerActs& A, int m);

  // out(n, V) = rmsnorm(x)·final_norm·lm_headᵀ; the normed rows go to h(n, C), rstd(n) when set.
  void head(const float* x, float* rstd, float* h, float* out, int n);
  // out(n, C) = rmsnorm(x)·final_norm·sum_projᵀ: the Σ rows' memory vectors.
  void summary(const float* x, float* rstd, float* h, float* out, int n);

  // Backward (training mode; parameter gradients accumulate into grads, laid out like
  // Model::params).
  // The FFN block and the attention output product of layer l: from dx(n, C) (d loss / d layer
  // output) leaves dx = d loss / d xmid and writes datt(n, C) = d loss / d A.att.
  void ffn_out_backward(int l, const LayerActs& A, float* dx, float* datt, float* grads, int n);
  // From dqkv(n, 3C) (d loss / d roped qkv; overwritten: RoPE undone) accumulates d loss / d xin
  // into dx(n, C). negpos(n): the rows' positions negated.
  void attention_in_backward(int l, const LayerActs& A, float* dqkv, float* dx, float* grads,
                             const int* negpos, int n);
  // Head and final norm: from dlogits(n, V) accumulates d loss / d x into dx (n, C) rows
  // rows(n) (packed rows of the loss rows); x, rstd, h as head() kept them.
  void head_backward(const float* dlogits, const float* x, const float* rstd, const float* h,
                     float* grads, float* dx, const int* rows, int n);
  // The same for the summary projection from dsum(n, C).
  void summary_backward(const float* dsum, const float* x, const float* rstd, const float* h,
                        float* grads, float* dx, const int* rows, int n);
  // Input embeddings of s's rows from dx(T, C): token and slot embeddings and the memory type
  // accumulate into grads; d loss / d memory vectors is written to dmem(n_mem, C).
  void embed_backward(const SeqSpec& s, const float* dx, float* grads, float* dmem) const;

  // Model FLOPs of the products run so far (2·rows·in·out each); attention is the caller's to
  // count (its cost depends on the visibility).
  double product_flops() const { return flops_; }

 private:
  // y(n, N) (+)= x(n, C) · wᵀ with the prepared copy when set, else ops_.matmul on the raw
  // weights.
  void product(float* y, const float* x, const float* w, const kernels::Prepared* pw, int n, int C,
               int N, bool accumulate);
  float* grad_of(float* grads, const float* p) const { return grads + (p - m_.params.data()); }
  const Model& m_;
  const kernels::Ops& ops_;
  const kernels::GradOps* gops_;
  std::shared_ptr<const PackedWeights> packed_;
  float rope_base_;
  double flops_ = 0;
  std::vector<float> tmp_, dh_;  // backward scratch
};

}  // namespace bs
