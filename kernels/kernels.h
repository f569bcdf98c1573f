// blockscribe kernels — one set of operations behind one interface.
//
// Each op exists as a plain scalar reference (ref_ops(), single-threaded, never optimised) and an
// optimised CPU implementation (cpu_ops(): Eigen, products handed to OpenBLAS through
// EIGEN_USE_BLAS, split across the kernels thread pool). Both have identical signatures and are
// tested against each other; a CUDA table joins later with the same signatures.
//
// Dimension letters: T rows (tokens), C input channels, N output features, H heads, D head dim,
// F feed-forward width, Tq query rows, Tk key rows, V vocabulary.
// All matrices are row-major and dense unless a stride is given (stride = floats between rows).
// Ops know nothing of the model. Products with weights packed once for inference (few rows per
// call) live beside these, in kernels/packed_matmul.h.
#pragma once
#include <cstdint>

namespace bs::kernels {

// Masked multi-head attention. Query row i may see keys [0, key_limit[i]) — the block context
// layout [M | E | W | X | Σ] makes every visibility rule a prefix of the keys (see docs/MODEL.md).
// Optional additive bias on logits: for query rows i >= bias_from, logit(i,j,h) += beta[h]*key_bias[j].
struct AttnArgs {
  int Tq = 0, Tk = 0, H = 0, D = 0;
  int q_stride = 0;    // floats between query rows; head h of row i starts at q + i*q_stride + h*D
  int kv_stride = 0;   // same for k and v
  int out_stride = 0;  // same for out
  const int* key_limit = nullptr;   // (Tq) keys visible to each query row, 1..Tk
  const float* key_bias = nullptr;  // (Tk) or null
  const float* beta = nullptr;      // (H) or null
  int bias_from = 0;                // first query row that gets the bias
  float scale = 0.f;                // usually 1/sqrt(D)
};

struct Ops {
  const char* name;

  // y(T,N) = x(T,C) · w(N,C)^T, or y += ... when accumulate.
  void (*matmul)(float* y, const float* x, const float* w, int T, int C, int N, bool accumulate);

  // y(T,C) = x / rms(x) * w; rstd(T) receives 1/rms (may be null). rms = sqrt(mean(x^2) + eps).
  void (*rmsnorm)(float* y, float* rstd, const float* x, const float* w, int T, int C, float eps);

  // In-place rotary embedding, half-split pairing (j, j+D/2), angle = pos * base^(-2j/D).
  // x: row i, head h at x + i*stride + h*D. pos(T). base already includes any NTK scaling.
  void (*rope)(float* x, const int* pos, int T, int H, int D, int stride, float base);

  // out(Tq, H*D) = softmax(q k^T * scale + mask + bias) v. probs (H, Tq, Tk) receives the
  // attention weights when not null (zeros at masked keys), for the backward pass.
  void (*attention)(float* out, float* probs, const float* q, const float* k, const float* v,
                    const AttnArgs& a);

  // y(T,F) = silu(gu[:, :F]) * gu[:, F:], gu (T, 2F).
  void (*swiglu)(float* y, const float* gu, int T, int F);
};

const Ops& ref_ops();  // scalar reference
const Ops& cpu_ops();  // optimised CPU (Eigen + OpenBLAS, threaded)

}  // namespace bs::kernels
