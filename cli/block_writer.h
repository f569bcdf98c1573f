// The block loop shared by `generate` and `resume`: before each block the header is rendered from
// the entity tracker; each committed block is read by the tracker, written to the session (one
// synced batch) and only then printed, so what a user has seen is always in the session.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "blocks/generator.h"
#include "memory/entities.h"
#include "memory/session_store.h"

namespace bs::cli {

struct WriteLimits {
  int blocks = 0;              // blocks to write (counted when the sampler writes into them)
  bool template_only = false;  // stop when the queued template/prompt is done
  int64_t max_tokens = 0;      // document length limit (0 = none)
};

struct WriterState {
  DocumentMemory mem;  // entities, timeline, header (the same loop training uses)
  SessionStore* store = nullptr;
};

struct WriteResult {
  int written = 0;      // blocks the sampler wrote into
  int interrupted = 0;  // the signal that stopped the run, or 0
};

WriteResult write_blocks(const Generator& gen, Document& doc, WriterState& ws,
                         const WriteLimits& lim, bool json);

// Generation options as the session stores them, and back.
std::string options_json(const GenOptions& o);
GenOptions options_from_json(const std::string& json, const std::string& origin);

}  // namespace bs::cli
