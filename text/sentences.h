// Sentence segmentation (ICU sentence BreakIterator, English rules with CLDR abbreviation
// suppressions such as "Mr." and "Dr.") and the per-token sentence index used by the model's
// recency bias and by the corpus shards.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace bs {

// Byte range [begin, end) of one sentence in a UTF-8 text.
struct SentenceSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
};

// The sentences of text, in order. They tile the text exactly: the first begins at 0, each
// begins where the previous ends, the last ends at text.size(); trailing spaces and newlines stay
// with the sentence they follow (ICU's rule). A newline always ends a sentence. Empty text gives
// no sentences. Throws bs::Error(what, ...) on invalid UTF-8.
std::vector<SentenceSpan> sentence_spans(std::string_view text, const char* what = "text");

// For each token (spans from Tokenizer::encode_with_offsets over the same text), the index of
// the sentence it belongs to, starting at 0. A token belongs to the sentence holding its last
// byte, so "▁He" (leading space from the previous sentence) opens the new sentence; an empty span
// (leading byte-fallback piece) uses its position. Indices never decrease along the tokens.
std::vector<uint32_t> token_sentence_indices(std::span<const TokenSpan> tokens,
                                             std::span<const SentenceSpan> sentences);

// The sentence index of each token of a block, counted from 0 at the sentence that holds the
// block's first token: the one definition that generation's commit pass, training, evaluation and
// `forward` all use for the recency bias (docs/MODEL.md §3). It reads what generation knows when
// it commits the block — the block and the tokens before it — through a fixed window: `previous`
// is the previous block (empty for block 0). Steps:
//   1. the text is the token bytes (Tokenizer::token_bytes) of previous + block; reserved ids
//      (<s>, </s>, ...) add no bytes;
//   2. every byte that is not part of a well-formed character (a character cut by the start of
//      the window or the end of the block, or bytes that never form one) is read as a space, so
//      the text is valid and byte offsets are unchanged;
//   3. sentence_spans() segments it; token_sentence_indices() assigns each token the sentence of
//      its last byte, a token without bytes the sentence at its position (so <s> belongs to the
//      first sentence and </s> padding to the last);
//   4. indices are renumbered from the block's first token.
// Indices never decrease along the block and are 0 for a block without text.
std::vector<int> block_sentence_indices(const Tokenizer& tok, std::span<const int> previous,
                                        std::span<const int> block);

}  // namespace bs
