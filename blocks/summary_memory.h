// Summary memory M: the K memory vectors of each committed block, newest last, bounded to
// S_max blocks. When full, the oldest block is dropped (not merged): dropping keeps every kept
// vector exactly what the model produced, which the trainer sees too (docs/MODEL.md §Memory).
#pragma once
#include <deque>
#include <span>
#include <vector>

namespace bs {

class SummaryMemory {
 public:
  SummaryMemory(int max_blocks, int slots, int width);

  // Appends one block's summary (K, C); drops the oldest block beyond max_blocks.
  void push(std::span<const float> summary);
  void clear();

  int blocks() const { return int(blocks_.size()); }
  int rows() const { return blocks() * k_; }  // memory vectors in the context
  // Contiguous (rows(), C) view, oldest first; valid until the next push/clear.
  const float* data();

 private:
  int max_blocks_, k_, c_;
  std::deque<std::vector<float>> blocks_;
  std::vector<float> flat_;
  bool dirty_ = true;
};

}  // namespace bs
