// The story on stdout and a status line on stderr, without the status line ever covering text.
//
// When stdout and stderr are the same terminal, the status line is drawn on the row below the
// text's cursor and the cursor is put back where the text goes on: before more text is written
// the status row is erased (ESC[J), after it the status is drawn again. This needs the text's
// column, so the display width of what was written since the last newline is tracked (East Asian
// wide characters 2, combining marks 0, tabs expanded). Control characters in generated text
// (ESC, CR, ...) are shown as U+FFFD on a terminal, so the text cannot move the cursor or change
// the terminal's state; redirected output is written exactly as generated.
// When only stderr is a terminal the status line is the usual "\r...ESC[K" line; when stderr is
// not a terminal there is no status line.
#pragma once
#include <string>
#include <string_view>

namespace bs::cli {

class StreamOutput {
 public:
  // text_on_stdout false: nothing goes to stdout (training), the status line keeps its own row.
  explicit StreamOutput(bool text_on_stdout = true);
  ~StreamOutput();  // erases the status line
  StreamOutput(const StreamOutput&) = delete;
  StreamOutput& operator=(const StreamOutput&) = delete;

  // Writes to stdout (and flushes); the status line, when shown, is kept below it.
  void text(std::string_view s);
  // Shows s (one line, cut to the terminal's width) as the status line.
  void status(const std::string& s);
  // A message line on stderr, above the status line (which is drawn again after it).
  void note(const std::string& line);
  // Erases the status line; the next status() draws it again.
  void clear_status();
  // Ends a partial text line with a newline on stdout (before a final message on stderr).
  void end_line();
  bool has_status() const { return mode_ != Mode::none; }

 private:
  enum class Mode { none, own_line, below_text };
  void draw();
  int columns() const;
  Mode mode_ = Mode::none;
  bool stdout_tty_ = false;
  bool shown_ = false;
  std::string line_;        // the status text
  long long width_ = 0;     // display width of the text since its last newline
  bool wrote_text_ = false;
  bool past_wrap_ = false;  // the cursor was moved from a full row to the next one
};

}  // namespace bs::cli
