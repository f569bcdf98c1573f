#include "training/doc_blocks.h"

#include <algorithm>

#include "core/error.h"
#include "corpus/shard.h"
#include "memory/entities.h"
#include "text/sentences.h"
#include "text/text_stream.h"

namespace bs {

DocBlocks cut_blocks(std::span<const int> text, int L, const Tokenizer& tok, int E) {
  const size_t n = text.size() + 2;  // <s> + text + </s>, as generation sees a document
  std::vector<int> t(((n + L - 1) / L) * L, Tokenizer::kEos);
  t[0] = Tokenizer::kBos;
  std::copy(text.begin(), text.end(), t.begin() + 1);
  return doc_blocks(std::move(t), L, tok, E);
}

DocBlocks doc_blocks(std::vector<int> tokens, int L, const Tokenizer& tok, int E) {
  BS_CHECK(L > 0 && tokens.size() % size_t(L) == 0, "document", "not a whole number of blocks");
  DocBlocks b;
  b.L = L;
  b.tokens = std::move(tokens);
  b.sentence.assign(b.tokens.size(), 0);
  for (int blk = 0; blk < b.nblocks(); ++blk) {
    const std::span<const int> prev = blk > 0 ? b.block(blk - 1) : std::span<const int>();
    const std::vector<int> s = block_sentence_indices(tok, prev, b.block(blk));
    std::copy(s.begin(), s.end(), b.sentence.begin() + size_t(blk) * L);
  }
  add_headers(b, tok, E);
  return b;
}

DocBlocks cut_blocks(std::span<const uint16_t> text, int L, const Tokenizer& tok, int E) {
  const std::vector<int> ids(text.begin(), text.end());
  return cut_blocks(std::span<const int>(ids), L, tok, E);
}

void add_headers(DocBlocks& d, const Tokenizer& tok, int E) {
  d.headers.assign(size_t(d.nblocks()), {});
  if (E <= 0) return;
  DocumentMemory mem;
  Utf8Stream text;
  for (int b = 0; b < d.nblocks(); ++b) {
    d.headers[b] = mem.header(tok, E);
    std::string bytes;
    for (int t : d.block(b)) bytes += tok.token_bytes(t);
    const bool last = b + 1 == d.nblocks();
    std::string s = text.push(bytes);
    if (last) s += text.finish();
    std::vector<Event> events;
    mem.read(b, s, last, events);
  }
}

std::vector<DocBlocks> load_blocks(const ShardReader& shard, int L, const Tokenizer& tok, int E) {
  std::vector<DocBlocks> out;
  out.reserve(shard.num_docs());
  for (size_t i = 0; i < shard.num_docs(); ++i)
    out.push_back(cut_blocks(shard.doc(i).tokens, L, tok, E));
  return out;
}

}  // namespace bs
