// Row moves the transformer makes around its products, as backend ops (both CPU tables use
// these; a device backend has its own): embedding gather, broadcast add, copy, and the
// scatter-add that is their backward. Letters: n rows, C width.
#pragma once
#include <cstddef>

#include "kernels/kernels.h"

namespace bs::kernels {

// y(n, C): row i = table row ids[i].
void gather_rows(float* y, const float* table, const int* ids, int n, int C);
// y(n, C) = x(n, C) + b(C) on every row (y may be x).
void add_rows(float* y, const float* x, const float* b, int n, int C);
// y(count) = x(count).
void copy_floats(float* y, const float* x, size_t count);
// table row ids[i] += dy row i, for i = 0, 1, ... in order (ids may repeat: the same order gives
// the same sums on every backend that keeps it).
void scatter_add_rows(float* table, const float* dy, const int* ids, int n, int C);

// The CPU's weight preparation: panels for the packed micro-kernel (kernels/packed_matmul.h).
Prepared cpu_prepare(const float* w, int N, int C);
void cpu_prepared_matmul(float* y, const float* x, const Prepared& w, int T, bool accumulate);

}  // namespace bs::kernels
