// Text cleaning for the corpus: reStructuredText (the kernel's Documentation/) to plain prose.
//
// The output is paragraphs separated by single "\n", each paragraph one line with single spaces,
// the way every blockscribe document is laid out (see docs/DATA.md).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace bs {

// reStructuredText -> plain paragraphs. Removes: directives (".. name::") with their indented
// blocks (admonitions such as note/warning keep their prose), comments, link targets, footnote
// and substitution definitions, literal blocks after "::", section adornment lines, grid and
// simple tables, field lists (":Author: ..."), and code-like indented blocks. Inline markup keeps
// its text: :role:`x` and :role:`title <target>` -> x / title, ``x`` -> x, `text <url>`_ -> text,
// *x* / **x** -> x, |name| -> name, footnote references [1]_ are dropped. Section titles stay as
// their own paragraphs. Input must be valid UTF-8 (checked by the caller).
std::string clean_rst(std::string_view rst);

// Inline markup only, on one paragraph (exposed for tests).
std::string clean_rst_inline(std::string_view text);

// Whitespace-separated words.
size_t count_words(std::string_view text);

// Normalises line endings ("\r\n" and lone "\r" -> "\n") and drops a leading UTF-8 BOM.
std::string normalize_newlines(std::string_view text);

}  // namespace bs
