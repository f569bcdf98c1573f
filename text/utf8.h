// UTF-8 in one place: validity, character boundaries and the repair of byte sequences that are not
// text. Token bytes are arbitrary (byte-fallback pieces can split a character across blocks, and a
// sampler can write bytes that never form one), so every component that cuts, prints or segments
// token bytes goes through these functions instead of its own boundary loop.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace bs {

// True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// On false, *bad_offset (if given) receives the byte offset of the first bad sequence.
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

// Throws bs::Error(what, "invalid UTF-8 at byte N") unless s is valid UTF-8.
void require_utf8(std::string_view s, const std::string& what);

// Length (1-4) of the well-formed character that starts at s[i], or 0 when none does (a
// continuation byte, an invalid lead, or a sequence cut off by the end of s).
size_t utf8_char_length(std::string_view s, size_t i);

// True when s[i..] is the beginning of a character that more bytes could still complete: a lead
// byte followed only by valid continuation bytes, too few of them.
bool utf8_incomplete_tail(std::string_view s, size_t i);

// The largest n <= max that is not inside a character: n backs off over continuation bytes, so
// s.substr(0, n) of valid text is valid text.
size_t utf8_floor(std::string_view s, size_t max);

// The smallest n >= i that does not start with a continuation byte (the next boundary).
size_t utf8_ceil(std::string_view s, size_t i);

// s with every byte that is not part of a well-formed character replaced by `sub` (an ASCII byte),
// so the result is valid UTF-8 of the same length: byte offsets into s stay offsets into it.
std::string utf8_replace_invalid(std::string_view s, char sub);

}  // namespace bs
