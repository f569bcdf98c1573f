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
// Ops know nothing of the model. A backend may prepare a weight matrix once for the many
// few-row products of inference (the CPU packs it into panels: kernels/packed_matmul.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/sample_ops.h"

namespace bs::kernels {

// Masked multi-head attention. Query row i may see keys [0, key_limit[i]) — the block context
// layout [M | E | W | X | Σ] makes every visibility rule a prefix of the keys (see docs/MODEL.md).
// Optional additive bias on logits: for query rows i >= bias_from, logit(i,j,h) +=
// beta[h]*key_bias[j].
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

// A weight matrix w (N, C) prepared by a backend for repeated products y = x·wᵀ. Opaque to the
// caller; data is the backend's own (freed with the last copy).
struct Prepared {
  int N = 0, C = 0;
  std::shared_ptr<const void> data;
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

  // Embedding gather: row i of y(n, C) = table row ids[i], copied. add_rows: y(n, C) = x + b with
  // b(C) added to every row (the memory-type embedding on memory vectors).
  void (*gather_rows)(float* y, const float* table, const int* ids, int n, int C);
  void (*add_rows)(float* y, const float* x, const float* b, int n, int C);
  // y(count) = x(count): activations kept for the backward pass.
  void (*copy)(float* y, const float* x, size_t count);

  // Weight preparation for inference, or null: this backend multiplies the raw weights with
  // matmul. prepared_matmul: y(T, N) (+)= x(T, C)·wᵀ with w made by prepare.
  Prepared (*prepare)(const float* w, int N, int C);
  void (*prepared_matmul)(float* y, const float* x, const Prepared& w, int T, bool accumulate);

  // The sampler (kernels/sample_ops.h): candidate token, probability and confidence score of n
  // open positions from their logits (n, V); and which of them to unmask this step.
  void (*sample_rows)(int* token, float* prob, float* score, const float* logits, int n, int V,
                      const SampleArgs& a, const double* u_draw, const double* u_score,
                      SampleScratch& scratch);
  int (*choose_unmask)(int* chosen, const float* score, const float* prob, int n, int steps_left,
                       float threshold);
};

const Ops& ref_ops();  // scalar reference
const Ops& cpu_ops();  // optimised CPU (Eigen + OpenBLAS, threaded)

}  // namespace bs::kernels
