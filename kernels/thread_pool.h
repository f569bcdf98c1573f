// A small fixed thread pool for coarse parallel loops.
//
// Why not OpenMP or OpenBLAS threads: on this class of machine the second vCPU is sometimes not
// ours for minutes, and spin-waiting runtimes then collapse. Workers here spin at most 100 µs
// (environment BS_SPIN_US: 0-10000) and then block on a condition variable, and each
// parallel_for hands out one contiguous chunk per thread, so a missing core costs at most the
// work of its chunk plus one bounded spin.
#pragma once
#include <functional>

namespace bs {

// Number of threads parallel_for uses (>= 1). Default 1 until set.
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end) on disjoint chunks covering [0, n); chunk k goes to thread k, so the
// split depends only on n and num_threads(). Runs inline when n is small or threads == 1.
// Exceptions thrown by fn are rethrown in the caller.
void parallel_for(int n, const std::function<void(int, int)>& fn);

}  // namespace bs
