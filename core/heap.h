// Process-wide heap settings for training (`blockscribe train` and bench_train).
//
// Why: a training step frees and re-allocates the same activation buffers every step (tens of
// MiB each). glibc serves allocations above its mmap threshold (at most 32 MiB) with fresh
// mmap()s, so each step page-faults and zero-fills those pages again in the kernel, serially
// on the allocating thread (bench_train, 2 threads: +18% tokens/s with this policy, see
// docs/BENCHMARKS.md). Keeping freed memory in the heap makes the next step reuse it, as a
// framework's caching allocator would.
// Only training uses it: there the step's buffers dominate and peak memory barely moves; in
// generation the policy raised peak RSS by ~45% (freed load buffers stay resident and the heap
// fragments) for no measurable speed, so `generate` keeps glibc's defaults.
#pragma once

namespace bs {

// Serve every allocation from the heap (no per-allocation mmap) and never return freed heap
// memory to the system while the process runs. Call once, before the work starts (`train` calls
// it first thing in its run).
void keep_freed_memory();

}  // namespace bs
