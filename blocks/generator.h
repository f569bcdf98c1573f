// Block-by-block generation (docs/GENERATION.md): the library behind `blockscribe generate`.
//
// Three objects:
//   Generator — the model, tokenizer and options; stateless between documents, shareable.
//   Document  — one run: committed tokens, summary memory, the forward context with its prefix
//               cache, the block in progress. Block b's randomness comes from (seed, b) only, so a
//               document continued from its committed state writes the same text.
//   Sampler   — blocks/sampler.h: candidates and the unmasking strategy.
// A Session (session/session.h) adds the entity/timeline header, the session store and resume
// on top; front ends use that.
//
// A new block's context is [M | E | W | X] (docs/MODEL.md §3): M the memory vectors of the newest
// S_max committed blocks, E the header (empty until the session store provides one), W the last
// W tokens of the previous block, X the block with its open positions masked. The prefix M,E,W
// never sees X, so its keys/values are computed once per block and every denoising step runs only
// the L rows of X (prefix_cache = false recomputes the whole context each step, for comparison).
// Commit: one clean pass [M | E | W | X | Σ] reusing the same prefix gives the block's summary.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blocks/layout.h"
#include "blocks/sampler.h"
#include "blocks/summary_memory.h"
#include "core/forward.h"
#include "core/model.h"
#include "kernels/backend.h"
#include "text/text_stream.h"
#include "text/tokenizer.h"

namespace bs {

struct GenOptions {
  SamplerOptions sampler;
  int steps = 16;  // denoising steps per block at most
  uint64_t seed = 1;
  bool prefix_cache = true;  // false: recompute the whole context at every step (naive)
  ContextMode memory = ContextMode::summary;
  int full_context = 0;  // ContextMode::full: earlier raw tokens kept (0 = all of them)
  // Products with weights packed once (core/transformer.h PackedWeights; a copy of the weights
  // in memory) instead of per-call BLAS, which re-packs them at every step, where the backend
  // packs weights. false: for comparison.
  bool packed_weights = true;
  // The backend every pass runs on (null: kernels::cpu_backend()). Not a setting a session
  // stores: any backend writes the same document to float rounding.
  const kernels::Backend* backend = nullptr;
};

// The options of a config's [generate] section (validated), with the memory mode given; a seed
// of 0 draws a new random seed (never 0), which the caller should show so the run can be repeated.
GenOptions options_from_config(const GenerateConfig& g, ContextMode memory = ContextMode::summary);

// One committed block: what streams out, what a session stores, what resume reads back.
struct Block {
  int index = 0;               // block number in the document (0 holds <s>)
  std::vector<int> tokens;     // (L) the committed block; </s> padding after the end of document
  std::string text;            // UTF-8 text this block adds to the document (may be empty)
  int generated = 0;           // positions the sampler filled (0 for a prompt-only block)
  int steps = 0;               // denoising steps used
  double seconds = 0;          // wall time of the block, commit included
  bool end = false;            // the document ended in this block (</s>)
  std::vector<float> summary;  // (K·C) its memory vectors; empty unless the memory mode is summary
};

// Observes every denoising step; returning false aborts the block in progress (nothing of it is
// committed). Called on the generating thread.
struct StepInfo {
  int block = 0, step = 0, steps_max = 0;
  int open = 0;         // positions open when the block began
  int masked_left = 0;  // positions still open after this step
};
using StepCallback = std::function<bool(const StepInfo&)>;

class Generator;

class Document {
 public:
  int blocks() const { return int(committed_.size()) / L_; }  // committed blocks
  bool ended() const { return ended_; }
  // Committed tokens of the document, <s> first ((blocks·L)).
  const std::vector<int>& tokens() const { return committed_; }
  // Tokens still queued from the prompt/template (fixed ones and mask ids), not yet committed.
  size_t queued() const { return queue_.size(); }
  // Ends the document after n tokens (<s> not counted; 0 = no limit): the block that reaches the
  // limit is written with </s> fixed at the positions past it (the model is told the document
  // ends there) and is the last block, also when the limit falls on its last position.
  void set_token_limit(int64_t n) { limit_ = n; }
  // The header E of the next block (at most model.header_tokens; the session's entity/timeline
  // store renders it). Empty by default.
  void set_header(std::vector<int> h) { header_ = std::move(h); }
  // UTF-8 bytes of the text not yet returned (a character cut by the block boundary).
  const std::string& pending_text() const { return text_.pending(); }
  // Model FLOPs of every forward pass of this document so far (ForwardContext::flops).
  double flops() const { return fc_.flops(); }

 private:
  friend class Generator;

  Document(const Model& m, const kernels::Ops& ops) : fc_(m, ops), L_(m.config().block) {}
  ForwardContext fc_;
  std::unique_ptr<SummaryMemory> mem_;
  std::vector<int> committed_;
  std::vector<int> queue_;  // prompt/template tokens of blocks not yet committed (kMask = open)
  std::vector<int> header_;
  Utf8Stream text_;
  int L_;
  int64_t limit_ = 0;
  bool ended_ = false;
};

class Generator {
 public:
  // Throws bs::Error for options out of range or a tokenizer that does not fit the model.
  Generator(const Model& m, const Tokenizer& tok, GenOptions o);

  const GenOptions& options() const { return o_; }
  const Model& model() const { return m_; }
  const Tokenizer& tokenizer() const { return tok_; }

  // Tokens of a prompt (Tokenizer::encode) or a template: "<mask>" in a template is one open
  // position. Throws bs::Error(what, ...) for invalid UTF-8.
  std::vector<int> encode_template(std::string_view text, const std::string& what) const;

  // A document that begins with <s> followed by the given tokens (any may be Tokenizer::kMask,
  // an open position). Blocks are committed as next_block() reaches them.
  std::unique_ptr<Document> start(std::span<const int> prompt) const;

  // A document continued from its committed state (a saved session): the committed tokens
  // (whole blocks, <s> first), the summaries of its newest blocks (oldest first; the newest S_max
  // are kept), the full queue it was started with (<s> + prompt), the pending UTF-8 bytes and
  // whether it had ended. The blocks it writes next are those an uninterrupted run would write.
  // Throws bs::Error("session", ...) for state that does not fit the model.
  std::unique_ptr<Document> restore(std::vector<int> committed,
                                    const std::vector<std::vector<float>>& summaries,
                                    std::span<const int> start_queue, std::string pending,
                                    bool ended) const;

  // Writes and commits the next block: a queued prompt block (whole blocks without open positions
  // are committed directly) or a new block. Returns false with nothing committed when the
  // callback aborts or the document has ended.
  bool next_block(Document& d, Block& out, const StepCallback& cb = {}) const;

 private:
  const kernels::Backend& backend() const {
    return o_.backend ? *o_.backend : kernels::cpu_backend();
  }
  // Fills the open positions of x (kMask) by denoising; returns the steps used, or -1 on abort.
  int denoise(Document& d, const BlockContext& ctx, std::vector<int>& x, int block,
              const StepCallback& cb) const;
  const Model& m_;
  const Tokenizer& tok_;
  GenOptions o_;
  std::shared_ptr<const PackedWeights> packed_;  // null unless o_.packed_weights
};

}  // namespace bs
