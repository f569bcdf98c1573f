#include "text/text_stream.h"

#include "core/fileio.h"

namespace bs {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length a lead byte announces, or 0 for a byte that cannot start a character.
size_t lead_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t start = 0;
  while (start < pending_.size()) {
    std::string_view rest(pending_.data() + start, pending_.size() - start);
    size_t bad = 0;
    if (valid_utf8(rest, &bad)) {
      out.append(rest);
      start = pending_.size();
      break;
    }
    out.append(rest.substr(0, bad));
    const size_t len = lead_length(static_cast<unsigned char>(rest[bad]));
    bool incomplete = len > 1 && rest.size() - bad < len;
    for (size_t k = bad + 1; incomplete && k < rest.size(); ++k)
      incomplete = (static_cast<unsigned char>(rest[k]) & 0xC0) == 0x80;
    if (incomplete) {  // wait for the rest of the character
      start += bad;
      break;
    }
    out.append(kReplacement);
    start += bad + 1;
  }
  pending_.erase(0, start);
  return out;
}

std::string Utf8Stream::finish() {
  std::string out = pending_.empty() ? std::string() : std::string(kReplacement);
  pending_.clear();
  return out;
}

}  // namespace bs
