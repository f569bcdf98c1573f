// Process-wide heap settings for the long-running commands (training, evaluation, generation).
//
// Why: a training step frees and re-allocates the same activation buffers every step (tens of
// MiB each). glibc serves allocations above its mmap threshold (at most 32 MiB) with fresh
// mmap()s, so each step page-faults and zero-fills those pages again in the kernel, serially
// on the allocating thread — measured as ~10% of a 2-thread step in bench_train. Keeping freed
// memory in the heap makes the next step reuse it, as a framework's caching allocator would.
// Peak memory is unchanged (the heap never holds more than the largest step needed).
#pragma once

namespace bs {

// Serve every allocation from the heap (no per-allocation mmap) and never return freed heap
// memory to the system while the process runs. Call once, early in main().
void keep_freed_memory();

}  // namespace bs
