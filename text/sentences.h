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

}  // namespace bs
