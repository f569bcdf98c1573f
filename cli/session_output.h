// The block loop of `generate` and `resume` as a terminal shows it: Session::write with each
// committed block printed (text, or one JSON object per block) and the status line on stderr
// (cli/stream_output.h), Ctrl-C/SIGTERM stopping at the next denoising step with every committed
// block kept.
#pragma once
#include <string>

#include "session/session.h"

namespace bs::cli {

struct PrintResult {
  int written = 0;      // blocks the sampler wrote into
  int interrupted = 0;  // the signal that stopped the run, or 0
};

// Writes up to `blocks` blocks (Session::write) and prints them.
PrintResult print_blocks(Session& s, int blocks, bool json);

// The first line of --json output: what a run can be repeated from (model, tokenizer, every
// generation setting, the seed).
std::string json_header(const Session& s, const std::string& command);

}  // namespace bs::cli
