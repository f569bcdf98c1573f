#include "core/heap.h"

#include <malloc.h>

namespace bs {

void keep_freed_memory() {
  // Both calls only change policy; failure leaves glibc's defaults, which are correct, just
  // slower, so the results are deliberately not checked.
  mallopt(M_MMAP_MAX, 0);              // no mmap-per-allocation: large blocks come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // keep up to 1 GiB of free heap top instead of trimming
}

}  // namespace bs
