// Products with a weight matrix packed once, for inference with few rows per call.
//
// Why: generating a block runs every weight product on ~64 rows per denoising step. OpenBLAS
// re-packs the weight operand on every call, and with so few rows to share it the packing costs
// about as much as the arithmetic (perf, generation at 64 steps/block: 38% of the time in
// sgemm_incopy, 44% in the sgemm kernel). The weights do not change while generating, so they
// are packed here once, into the panel layout the micro-kernel reads.
//
// Layout: w (N, C) row-major, y = x · wᵀ. Panel p holds output columns [16p, 16p+16) as
// (C, 16): data[p·16·C + k·16 + j] = w[16p + j][k], zero past N.
// Each output element is one fused multiply-add chain over k = 0..C-1 in order, whatever the
// number of rows, the row's position in the call or the thread count: results are reproducible
// bit for bit across calls of any shape (the prefix cache relies on it).
#pragma once
#include <vector>

namespace bs::kernels {

struct PackedMatrix {
  int N = 0, C = 0;         // output features, input channels
  std::vector<float> data;  // (ceil(N/16), C, 16)
  int panels() const { return (N + 15) / 16; }
};

// Packs w (N, C).
PackedMatrix pack_matrix(const float* w, int N, int C);

// y(T, N) = x(T, C) · wᵀ, or y += ... when accumulate. Panels are split over the thread pool.
// Two micro-kernels with the same arithmetic (so the same bits): 8 rows × 32 columns in
// AVX-512 where the CPU has it (chosen at run time; BS_NO_AVX512=1 in the environment keeps
// AVX2), else 6 rows × 16 columns in AVX2.
void packed_matmul(float* y, const float* x, const PackedMatrix& w, int T, bool accumulate);

// The micro-kernel in use: "avx512" or "avx2".
const char* packed_isa();
// Chooses it (for tests and benchmarks); false when AVX-512 is asked for and the CPU lacks it.
bool set_packed_avx512(bool on);

}  // namespace bs::kernels
