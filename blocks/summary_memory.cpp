#include "blocks/summary_memory.h"

#include "core/error.h"

namespace bs {

SummaryMemory::SummaryMemory(int max_blocks, int slots, int width)
    : max_blocks_(max_blocks), k_(slots), c_(width) {}

void SummaryMemory::push(std::span<const float> summary) {
  BS_CHECK(int(summary.size()) == k_ * c_, "summary memory", "summary must hold K*C floats");
  if (max_blocks_ == 0 || k_ == 0) return;
  blocks_.emplace_back(summary.begin(), summary.end());
  while (int(blocks_.size()) > max_blocks_) blocks_.pop_front();
  dirty_ = true;
}

void SummaryMemory::clear() {
  blocks_.clear();
  dirty_ = true;
}

const float* SummaryMemory::data() {
  if (dirty_) {
    flat_.clear();
    for (const auto& b : blocks_) flat_.insert(flat_.end(), b.begin(), b.end());
    dirty_ = false;
  }
  return flat_.data();
}

}  // namespace bs
