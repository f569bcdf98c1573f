// The block context layout [M | E | W | X | Σ] and its attention mask.
//
//   M  memory: summary vectors of earlier blocks (S_max blocks × K at most), newest last
//   E  entity/timeline header tokens (at most model.header_tokens)
//   W  the last W clean tokens of the previous block
//   X  the L tokens of this block (masked positions hold the mask id)
//   Σ  K learned summary slots (only in the clean pass that computes this block's summary)
//
// Visibility: M,E,W see M,E,W; X sees M,E,W,X; Σ sees everything. Each is a prefix of the keys,
// so it is expressed as a per-row key limit. Nothing in the prefix sees X or Σ, which is why the
// prefix keys/values can be cached exactly across denoising steps. Σ rows get the recency bias
// beta_h * s/(S-1) on keys in X, s = the key's sentence index within the block.
#pragma once
#include <span>
#include <string>

#include "core/config.h"
#include "core/forward.h"

namespace bs {

// What a block sees of the blocks before it — one list for generation, training and evaluation:
//   summary  memory M of earlier block summaries (newest S_max blocks), header E and window W:
//            the design
//   window   only the window W (what memory dropout trains)
//   none     nothing from earlier blocks
//   full     up to a given number of raw earlier tokens, no memory: the upper reference
enum class ContextMode { summary, window, none, full };
// Throws bs::Error naming the word and the choices for an unknown name.
ContextMode parse_context_mode(const std::string& name);
const char* context_mode_name(ContextMode m);

struct BlockContext {
  const float* mem = nullptr;     // (mem_rows, C) memory vectors, newest last
  int mem_rows = 0;               // number of memory vectors (blocks × K)
  std::span<const int> header;    // header tokens, at most E
  std::span<const int> window;    // overlap tokens, at most W
  std::span<const int> block;     // the L tokens of the block (may contain the mask id)
  std::span<const int> sentence;  // (L) sentence index within the block, or empty (all 0)
  bool slots = false;             // append the K summary slots Σ
  bool long_window = false;       // window may exceed model.window: the "full" reference mode
                                  // (all earlier raw tokens, up to train.full_context)
};

struct Segments {
  int mem = 0, hdr = 0, win = 0, blk = 0, sum = 0;
  int prefix() const { return mem + hdr + win; }
  int total() const { return prefix() + blk + sum; }
};

Segments block_segments(const ModelConfig& cfg, const BlockContext& ctx);

// Recency value per block token: s/(S-1) with S = max(sentence)+1, or 1 for every token when
// the block holds one sentence (all of it is the latest sentence).
std::vector<float> recency_values(std::span<const int> sentence, int L);

// Builds the forward spec for the context; logits rows are X. Throws bs::Error when a part is
// longer than the config allows.
SeqSpec make_block_spec(const ModelConfig& cfg, const BlockContext& ctx);

}  // namespace bs
