// Backward ops, beside the forward ones in kernels.h. Same conventions; gradient rule (as in
// llm.c): parameter gradients accumulate (+=), activation gradients are written (=) unless a
// flag says accumulate.
//
// Letters: T rows, C in-features, N out-features, H heads, D head dim, F ffn, V vocab.
#pragma once
#include "kernels/kernels.h"
#include "kernels/optim_ops.h"

namespace bs::kernels {

struct GradOps {
  const char* name;

  // Backward of y = x·wᵀ: dx(T,C) = dy(T,N)·w(N,C) (+= when accumulate_dx; skipped if dx null);
  // dw(N,C) += dyᵀ·x.
  void (*matmul_backward)(float* dx, float* dw, const float* dy, const float* x, const float* w,
                          int T, int C, int N, bool accumulate_dx);

  // Backward of y = x·rstd·w: dx(T,C) (+= when accumulate_dx), dw(C) +=.
  void (*rmsnorm_backward)(float* dx, float* dw, const float* dy, const float* x, const float* w,
                           const float* rstd, int T, int C, bool accumulate_dx);

  // Backward of attention (kernels.h) from its saved probs (H,Tq,Tk). dq (Tq rows, q_stride),
  // dk, dv (Tk rows, kv_stride) are written; dbeta(H) += d loss / d beta_h (the effective beta).
  void (*attention_backward)(float* dq, float* dk, float* dv, float* dbeta, const float* dout,
                             const float* probs, const float* q, const float* k, const float* v,
                             const AttnArgs& a);

  // Backward of y = silu(g)·u: dgu(T,2F) written from dy(T,F) and gu(T,2F).
  void (*swiglu_backward)(float* dgu, const float* dy, const float* gu, int T, int F);

  // Softmax cross-entropy, fused: logits(T,V) is overwritten by d(Σ_i w_i·nll_i)/dlogits;
  // nll(T) receives -log p(target_i). Rows with target < 0 get zero gradient and nll 0.
  void (*softmax_xent)(float* logits, float* nll, const int* targets, const float* weights, int T,
                       int V);

  // Softmax against soft targets, fused (distillation): with q = softmax(logits row) and a target
  // distribution p (T,V) (rows summing to 1, zeros allowed), kl(T) receives
  // KL(p || q) = Σ_v p_v (ln p_v − ln q_v) (terms with p_v = 0 are 0), and logits is overwritten
  // by d(Σ_i w_i·kl_i)/dlogits = w_i (q − p).
  void (*softmax_kl)(float* logits, float* kl, const float* targets, const float* weights, int T,
                     int V);

  // Backward of gather_rows and of row adds: table row ids[i] += dy row i (n, C), in order of i.
  void (*scatter_add_rows)(float* table, const float* dy, const int* ids, int n, int C);

  // The optimizer (kernels/optim_ops.h): Σ g² over n gradients, and one AdamW update.
  double (*sum_squares)(const float* g, size_t n);
  size_t (*adamw)(float* p, float* m, float* v, float* g, const uint8_t* decay, size_t n,
                  const AdamArgs& a);
};

const GradOps& ref_grad_ops();
const GradOps& cpu_grad_ops();

}  // namespace bs::kernels
