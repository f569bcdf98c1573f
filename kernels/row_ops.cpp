#include "kernels/row_ops.h"

#include <cstring>

#include "kernels/packed_matmul.h"

namespace bs::kernels {

void gather_rows(float* y, const float* table, const int* ids, int n, int C) {
  for (int i = 0; i < n; ++i)
    std::memcpy(y + size_t(i) * C, table + size_t(ids[i]) * C, sizeof(float) * size_t(C));
}

void add_rows(float* y, const float* x, const float* b, int n, int C) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < C; ++j) y[size_t(i) * C + j] = x[size_t(i) * C + j] + b[j];
}

void copy_floats(float* y, const float* x, size_t count) {
  if (count) std::memcpy(y, x, sizeof(float) * count);
}

void scatter_add_rows(float* table, const float* dy, const int* ids, int n, int C) {
  for (int i = 0; i < n; ++i) {
    float* dst = table + size_t(ids[i]) * C;
    const float* d = dy + size_t(i) * C;
    for (int j = 0; j < C; ++j) dst[j] += d[j];
  }
}

Prepared cpu_prepare(const float* w, int N, int C) {
  return {N, C, std::make_shared<const PackedMatrix>(pack_matrix(w, N, C))};
}

void cpu_prepared_matmul(float* y, const float* x, const Prepared& w, int T, bool accumulate) {
  packed_matmul(y, x, *static_cast<const PackedMatrix*>(w.data.get()), T, accumulate);
}

}  // namespace bs::kernels
