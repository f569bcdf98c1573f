#include "text/sentences.h"

#include <unicode/brkiter.h>
#include <unicode/filteredbrk.h>
#include <unicode/locid.h>
#include <unicode/utext.h>

#include <memory>
#include <string>

#include "core/error.h"
#include "core/fileio.h"
#include "text/utf8.h"

namespace bs {
namespace {

// Titles CLDR's English list lacks; a capitalised word after them rarely starts a sentence.
constexpr const char* kExtraAbbreviations[] = {"Dr.",  "Prof.", "Rev.", "Gen.", "Col.", "Capt.",
                                               "Lt.",  "Sgt.",  "Hon.", "Sr.",  "Jr.",  "Messrs.",
                                               "Fig.", "Vol.",  "Ch.",  "cf.",  "vs.",  "approx."};

// Building a break iterator loads ICU's rule data (about a millisecond); each thread keeps one.
// The filter adds CLDR's English suppressions ("Mr.", "Mrs.", "e.g." ...) plus the list above.
icu::BreakIterator& sentence_iterator() {
  thread_local std::unique_ptr<icu::BreakIterator> it = [] {
    auto fail = [](UErrorCode st) {
      return Error("ICU sentence break iterator", std::string("cannot create: ") + u_errorName(st));
    };
    UErrorCode st = U_ZERO_ERROR;
    icu::Locale en = icu::Locale::getEnglish();
    std::unique_ptr<icu::BreakIterator> base(icu::BreakIterator::createSentenceInstance(en, st));
    if (U_FAILURE(st) || !base) throw fail(st);
    std::unique_ptr<icu::FilteredBreakIteratorBuilder> fb(
        icu::FilteredBreakIteratorBuilder::createInstance(en, st));
    if (U_FAILURE(st) || !fb) throw fail(st);
    for (const char* a : kExtraAbbreviations) {
      fb->suppressBreakAfter(icu::UnicodeString::fromUTF8(a), st);
      st = U_ZERO_ERROR;  // "already present" is reported as an error; ignore it
    }
    std::unique_ptr<icu::BreakIterator> bi(fb->wrapIteratorWithFilter(base.release(), st));
    if (U_FAILURE(st) || !bi) throw fail(st);
    return bi;
  }();
  return *it;
}

}  // namespace

std::vector<SentenceSpan> sentence_spans(std::string_view text, const char* what) {
  std::vector<SentenceSpan> out;
  if (text.empty()) return out;
  require_utf8(text, what);
  BS_CHECK(text.size() < (size_t(1) << 31), what, "text longer than 2 GiB");
  // A UText over the UTF-8 bytes: the iterator's native indices are then byte offsets into text,
  // so no UTF-16 copy and no offset conversion is needed.
  UErrorCode st = U_ZERO_ERROR;
  UText* ut = utext_openUTF8(nullptr, text.data(), int64_t(text.size()), &st);
  if (U_FAILURE(st)) throw Error(what, std::string("ICU cannot open text: ") + u_errorName(st));
  icu::BreakIterator& bi = sentence_iterator();
  bi.setText(ut, st);
  if (U_FAILURE(st)) {
    utext_close(ut);
    throw Error(what, std::string("ICU cannot segment text: ") + u_errorName(st));
  }
  int32_t prev = bi.first();
  for (int32_t b = bi.next(); b != icu::BreakIterator::DONE; b = bi.next()) {
    out.push_back({uint32_t(prev), uint32_t(b)});
    prev = b;
  }
  // Detach the iterator from the UText before closing it (the iterator is reused).
  bi.setText(icu::UnicodeString());
  utext_close(ut);
  BS_CHECK(!out.empty() && out.front().begin == 0 && out.back().end == text.size(), what,
           "ICU sentence spans do not cover the text");
  return out;
}

std::vector<uint32_t> token_sentence_indices(std::span<const TokenSpan> tokens,
                                             std::span<const SentenceSpan> sentences) {
  std::vector<uint32_t> out(tokens.size(), 0);
  if (sentences.empty()) return out;
  uint32_t s = 0;
  const uint32_t last = uint32_t(sentences.size() - 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenSpan& t = tokens[i];
    uint32_t key = t.end > t.begin ? t.end - 1 : t.begin;
    // Tokens come in text order, so the sentence pointer only moves forward.
    while (s < last && key >= sentences[s].end) ++s;
    out[i] = s;
  }
  return out;
}

std::vector<int> block_sentence_indices(const Tokenizer& tok, std::span<const int> previous,
                                        std::span<const int> block) {
  std::string bytes;
  std::vector<TokenSpan> spans(previous.size() + block.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    const int id = i < previous.size() ? previous[i] : block[i - previous.size()];
    spans[i].begin = uint32_t(bytes.size());
    bytes += tok.token_bytes(id);
    spans[i].end = uint32_t(bytes.size());
  }
  const std::string text = utf8_replace_invalid(bytes, ' ');
  const std::vector<uint32_t> all =
      token_sentence_indices(spans, sentence_spans(text, "block text"));
  std::vector<int> out(block.size(), 0);
  if (block.empty()) return out;
  const uint32_t first = all[previous.size()];
  for (size_t i = 0; i < block.size(); ++i) out[i] = int(all[previous.size() + i] - first);
  return out;
}

}  // namespace bs
