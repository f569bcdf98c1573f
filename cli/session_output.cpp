#include "cli/session_output.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/stream_output.h"
#include "core/fileio.h"
#include "memory/codec.h"

namespace bs::cli {

std::string json_header(const Session& s, const std::string& command) {
  const Generator& g = s.generator();
  nlohmann::json j = {{"type", "header"},
                      {"command", command},
                      {"tokenizer_hash", hex64(g.tokenizer().hash())},
                      {"settings", encode_settings(g.options(), s.default_blocks())},
                      {"blocks_committed", s.blocks()}};
  if (const SessionStore* st = s.store()) {
    j["session"] = st->dir();
    j["model"] = st->meta().model_path;
    j["model_hash"] = st->meta().model_hash;
    j["token_limit"] = st->meta().token_limit;
  }
  return j.dump();
}

PrintResult print_blocks(Session& s, int blocks, bool json) {
  SignalGuard signals;
  StreamOutput out;
  PrintResult r;
  int64_t tokens_done = 0;  // tokens committed by this run
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto progress = [&](const StepInfo& i) {
    if (out.has_status()) {
      // Positions filled so far, this block's included, so the first block shows a rate too.
      const double filled = double(tokens_done + i.open - i.masked_left);
      char buf[160];
      std::snprintf(buf, sizeof buf, "block %d  step %d/%d  %d open  %.0f tok/s", i.block, i.step,
                    i.steps_max, i.masked_left, filled / std::max(1e-9, elapsed()));
      out.status(buf);
    }
    return SignalGuard::caught() == 0;
  };
  r.written = s.write(
      blocks,
      [&](const Block& b) {
        tokens_done += int64_t(b.tokens.size());
        if (json) {
          nlohmann::json j = encode_block(b);
          j["type"] = "block";
          out.text(j.dump() + "\n");
        } else {
          out.text(b.text);
        }
      },
      progress);
  if (!json) out.end_line();
  out.clear_status();
  if (out.has_status())
    std::fprintf(stderr, "%d blocks committed (%d written), %.1f s, %.0f tok/s%s\n", s.blocks(),
                 r.written, elapsed(), double(tokens_done) / std::max(1e-9, elapsed()),
                 s.ended() ? ", end of document" : "");
  r.interrupted = SignalGuard::caught();
  return r;
}

}  // namespace bs::cli
