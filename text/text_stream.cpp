#include "text/text_stream.h"

#include "core/fileio.h"
#include "text/utf8.h"

namespace bs {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

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
    if (utf8_incomplete_tail(rest, bad)) {  // wait for the rest of the character
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
