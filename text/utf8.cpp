#include "text/utf8.h"

#include <cstdint>

#include "core/error.h"

namespace bs {

namespace {

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length a lead byte announces, or 0 for a byte that cannot start a character.
size_t lead_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}

}  // namespace

size_t utf8_char_length(std::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t len = lead_length(p[i]);
  if (len <= 1) return len;
  if (i + len > s.size()) return 0;
  uint32_t cp = p[i] & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if (!continuation(p[i + k])) return 0;
    cp = (cp << 6) | (p[i + k] & 0x3F);
  }
  const bool overlong =
      (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool utf8_incomplete_tail(std::string_view s, size_t i) {
  if (i >= s.size()) return false;
  const size_t len = lead_length(static_cast<unsigned char>(s[i]));
  if (len < 2 || s.size() - i >= len) return false;
  for (size_t k = i + 1; k < s.size(); ++k)
    if (!continuation(static_cast<unsigned char>(s[k]))) return false;
  return true;
}

bool valid_utf8(std::string_view s, size_t* bad_offset) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_char_length(s, i);
    if (len == 0) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

void require_utf8(std::string_view s, const std::string& what) {
  size_t off = 0;
  if (!valid_utf8(s, &off)) throw Error(what, "invalid UTF-8 at byte " + std::to_string(off));
}

size_t utf8_floor(std::string_view s, size_t max) {
  if (max >= s.size()) return s.size();
  size_t n = max;
  while (n > 0 && continuation(static_cast<unsigned char>(s[n]))) --n;
  return n;
}

size_t utf8_ceil(std::string_view s, size_t i) {
  while (i < s.size() && continuation(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

std::string utf8_replace_invalid(std::string_view s, char sub) {
  std::string out(s);
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_char_length(s, i);
    if (len == 0) {
      out[i] = sub;
      ++i;
    } else {
      i += len;
    }
  }
  return out;
}

}  // namespace bs
