// Token bytes -> UTF-8 text, incrementally. A character whose byte-fallback pieces straddle two
// blocks is held back until it is complete; bytes that can never form a character become U+FFFD,
// so what is emitted is always valid UTF-8 (stdout and JSON need that).
#pragma once
#include <string>
#include <string_view>

namespace bs {

class Utf8Stream {
 public:
  // Appends bytes; returns the text that is now complete.
  std::string push(std::string_view bytes);
  // End of text: any incomplete tail becomes U+FFFD.
  std::string finish();
  // Bytes held back (part of a character); a stream continued elsewhere starts from them.
  const std::string& pending() const { return pending_; }
  void set_pending(std::string bytes) { pending_ = std::move(bytes); }

 private:
  std::string pending_;
};

}  // namespace bs
