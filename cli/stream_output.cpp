#include "cli/stream_output.h"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unicode/uchar.h>
#include <unistd.h>

#include <cstdio>

#include "text/utf8.h"

namespace bs::cli {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool same_terminal(int a, int b) {
  struct stat sa = {}, sb = {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev &&
         sa.st_ino == sb.st_ino;
}

// Display width of one code point in a terminal.
int char_width(UChar32 c) {
  const int cat = u_charType(c);
  if (cat == U_NON_SPACING_MARK || cat == U_ENCLOSING_MARK || cat == U_FORMAT_CHAR) return 0;
  const int ea = u_getIntPropertyValue(c, UCHAR_EAST_ASIAN_WIDTH);
  return ea == U_EA_WIDE || ea == U_EA_FULLWIDTH ? 2 : 1;
}

UChar32 decode(std::string_view s, size_t i, size_t len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + i);
  if (len == 1) return p[0];
  UChar32 c = p[0] & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) c = (c << 6) | (p[k] & 0x3F);
  return c;
}

}  // namespace

StreamOutput::StreamOutput(bool text_on_stdout) {
  stdout_tty_ = ::isatty(1) == 1;
  if (::isatty(2) != 1) return;
  mode_ = text_on_stdout && stdout_tty_ && same_terminal(1, 2) ? Mode::below_text : Mode::own_line;
}

StreamOutput::~StreamOutput() { clear_status(); }

int StreamOutput::columns() const {
  struct winsize ws {};
  if (::ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

void StreamOutput::text(std::string_view s) {
  const bool redraw = shown_;
  clear_status();
  if (!stdout_tty_) {
    std::fwrite(s.data(), 1, s.size(), stdout);
  } else {
    // On a terminal: control characters become U+FFFD; the width of the last line is tracked.
    const int cols = columns();
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      const size_t len = utf8_char_length(s, i);
      if (len == 0) {  // not text (the generator only emits valid UTF-8; a guard)
        out += kReplacement, ++width_, ++i;
        continue;
      }
      const UChar32 c = decode(s, i, len);
      if (c == '\n') {
        out += '\n', width_ = 0;
      } else if (c == '\t') {
        const int n = 8 - int(width_ % cols % 8);
        out.append(size_t(n), ' '), width_ += n;
      } else if (c < 0x20 || (c >= 0x7F && c < 0xA0)) {
        out += kReplacement, ++width_;
      } else {
        out.append(s.substr(i, len)), width_ += char_width(c);
      }
      i += len;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  if (!s.empty()) wrote_text_ = true, past_wrap_ = false;
  if (redraw) draw();
}

void StreamOutput::status(const std::string& s) {
  if (mode_ == Mode::none) return;
  line_ = s;
  clear_status();
  draw();
}

void StreamOutput::draw() {
  const int cols = columns();
  std::string line = line_.substr(0, size_t(std::max(1, cols - 1)));
  std::string seq;
  if (mode_ == Mode::own_line) {
    seq = "\r" + line + "\x1b[K";
  } else {
    // The text's cursor: row R, column width_ % cols; a line that fills the row exactly leaves
    // the cursor waiting to wrap, so its text goes on at the start of the next row.
    const long long col = width_ % cols;
    const bool at_wrap = width_ > 0 && col == 0;
    if (at_wrap && !past_wrap_) seq += "\r\n";  // to the row where the text goes on
    past_wrap_ = at_wrap;
    seq += "\n" + line + "\x1b[A";
    seq += at_wrap ? "\r" : "\x1b[" + std::to_string(col + 1) + "G";
  }
  std::fwrite(seq.data(), 1, seq.size(), stderr);
  std::fflush(stderr);
  shown_ = true;
}

void StreamOutput::note(const std::string& line) {
  const bool redraw = shown_;
  clear_status();
  if (mode_ == Mode::below_text && width_ > 0) {  // the story's line is not finished: below it
    std::fputc('\n', stdout);
    std::fflush(stdout);
    width_ = 0, past_wrap_ = false;
  }
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  if (redraw) draw();
}

void StreamOutput::clear_status() {
  if (!shown_) return;
  const char* seq = mode_ == Mode::own_line ? "\r\x1b[K" : "\x1b[J";
  std::fputs(seq, stderr);
  std::fflush(stderr);
  shown_ = false;
}

void StreamOutput::end_line() {
  clear_status();
  if (stdout_tty_ ? width_ > 0 : wrote_text_) {
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  width_ = 0;
  wrote_text_ = false;
}

}  // namespace bs::cli
