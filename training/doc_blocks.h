// A document as generation sees it, block by block: what the trainer, the evaluator and
// `blockscribe forward` run, so that all three build exactly the inputs generation builds.
//
// Blocks of L tokens: <s>, the text tokens, </s>, then </s> padding to a whole block (a finished
// generated document ends the same way). Each block carries its sentence indices, from
// block_sentence_indices (text/sentences.h) over the previous block and itself, exactly as the
// generator's commit pass computes them, and, when the model has a header budget E, the header E
// generation would give it (the entity tracker reads blocks 0..b-1, memory/entities.h).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "text/tokenizer.h"

namespace bs {

class ShardReader;

struct DocBlocks {
  std::vector<int> tokens;    // (nblocks·L) <s>, text tokens, </s>, </s> padding
  std::vector<int> sentence;  // (nblocks·L) sentence index counted from the block's first token
  std::vector<std::vector<int>> headers;  // per block: the header E generation would give it
                                          // (empty when model.header_tokens = 0)
  int L = 0;
  int nblocks() const { return L ? int(tokens.size()) / L : 0; }
  std::span<const int> header(int b) const {
    return size_t(b) < headers.size() ? std::span<const int>(headers[size_t(b)])
                                      : std::span<const int>();
  }
  std::span<const int> block(int b) const { return {tokens.data() + size_t(b) * L, size_t(L)}; }
  std::span<const int> sent(int b) const { return {sentence.data() + size_t(b) * L, size_t(L)}; }
};

// Cuts a document's text tokens (no <s>/</s>) into blocks with sentence indices and, when E > 0,
// headers of at most E tokens.
DocBlocks cut_blocks(std::span<const int> text, int L, const Tokenizer& tok, int E = 0);
DocBlocks cut_blocks(std::span<const uint16_t> text, int L, const Tokenizer& tok, int E = 0);
// Same for tokens already laid out in whole blocks (a generated document: <s> first).
DocBlocks doc_blocks(std::vector<int> tokens, int L, const Tokenizer& tok, int E = 0);

// Fills d.headers with the header of each block exactly as generation builds it: the entity
// tracker reads blocks 0..b-1 (text streamed from token bytes) and renders at most E tokens.
void add_headers(DocBlocks& d, const Tokenizer& tok, int E);

// Every document of a shard, cut as above.
std::vector<DocBlocks> load_blocks(const ShardReader& shard, int L, const Tokenizer& tok, int E);

}  // namespace bs
