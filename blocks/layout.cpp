#include "blocks/layout.h"

#include <algorithm>

#include "core/error.h"

namespace bs {

ContextMode parse_context_mode(const std::string& name) {
  for (ContextMode m : {ContextMode::summary, ContextMode::window, ContextMode::none,
                        ContextMode::full})
    if (name == context_mode_name(m)) return m;
  throw Error("memory mode '" + name + "'", "unknown (expected summary, window, none or full)");
}

const char* context_mode_name(ContextMode m) {
  switch (m) {
    case ContextMode::summary:
      return "summary";
    case ContextMode::window:
      return "window";
    case ContextMode::none:
      return "none";
    case ContextMode::full:
      return "full";
  }
  return "?";
}

Segments block_segments(const ModelConfig& cfg, const BlockContext& ctx) {
  Segments s;
  s.mem = ctx.mem_rows;
  s.hdr = int(ctx.header.size());
  s.win = int(ctx.window.size());
  s.blk = int(ctx.block.size());
  s.sum = ctx.slots ? cfg.summary_slots : 0;
  BS_CHECK(s.mem <= cfg.max_memory_blocks * cfg.summary_slots, "block context",
           "memory holds " + std::to_string(s.mem) + " vectors, more than max_memory_blocks*K");
  BS_CHECK(s.hdr <= cfg.header_tokens, "block context",
           "header of " + std::to_string(s.hdr) + " tokens exceeds model.header_tokens");
  BS_CHECK(ctx.long_window || s.win <= cfg.window, "block context",
           "window longer than model.window");
  BS_CHECK(s.blk >= 1 && s.blk <= cfg.block, "block context",
           "block must hold 1.." + std::to_string(cfg.block) + " tokens");
  BS_CHECK(ctx.sentence.empty() || int(ctx.sentence.size()) == s.blk, "block context",
           "sentence indices must match the block length");
  return s;
}

std::vector<float> recency_values(std::span<const int> sentence, int L) {
  std::vector<float> r(L, 1.f);
  if (sentence.empty()) return r;
  int smax = 0;
  for (int v : sentence) smax = std::max(smax, v);
  if (smax == 0) return r;
  for (int i = 0; i < L; ++i) r[i] = float(std::clamp(sentence[i], 0, smax)) / float(smax);
  return r;
}

SeqSpec make_block_spec(const ModelConfig& cfg, const BlockContext& ctx) {
  const Segments g = block_segments(cfg, ctx);
  const int P = g.prefix(), T = g.total(), xb = P, xe = P + g.blk;
  SeqSpec s;
  s.T = T;
  s.n_mem = g.mem;
  s.mem = ctx.mem;
  s.tokens.assign(T, 0);
  std::copy(ctx.header.begin(), ctx.header.end(), s.tokens.begin() + g.mem);
  std::copy(ctx.window.begin(), ctx.window.end(), s.tokens.begin() + g.mem + g.hdr);
  std::copy(ctx.block.begin(), ctx.block.end(), s.tokens.begin() + xb);
  s.slot_begin = xe;
  s.pos.resize(T);
  s.key_limit.resize(T);
  for (int i = 0; i < T; ++i) {
    s.pos[i] = i;
    s.key_limit[i] = i < P ? P : (i < xe ? xe : T);
  }
  if (g.sum > 0 && cfg.recency == "linear") {
    s.key_bias.assign(T, 0.f);
    std::vector<float> r = recency_values(ctx.sentence, g.blk);
    std::copy(r.begin(), r.end(), s.key_bias.begin() + xb);
  }
  s.bias_from = xe;
  s.out_begin = xb;
  s.out_end = xe;
  return s;
}

}  // namespace bs
