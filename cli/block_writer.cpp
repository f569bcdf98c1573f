#include "cli/block_writer.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/error.h"

namespace bs::cli {

WriteResult write_blocks(const Generator& gen, Document& doc, WriterState& ws,
                         const WriteLimits& lim, bool json) {
  const int E = gen.model().config().header_tokens;
  const bool tty = stderr_is_tty();
  SignalGuard signals;
  WriteResult r;
  int64_t tokens_out = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto progress = [&](const StepInfo& s) {
    if (tty) {
      std::fprintf(stderr, "\rblock %d  step %d/%d  %d open  %.0f tok/s   ", s.block, s.step,
                   s.steps_max, s.masked_left, double(tokens_out) / std::max(1e-9, elapsed()));
    }
    return SignalGuard::caught() == 0;
  };
  BlockOutput out;
  while (!doc.ended()) {
    const bool in_queue = doc.queued() > 0;
    if (!in_queue && (lim.template_only || (lim.blocks > 0 && r.written >= lim.blocks))) break;
    if (lim.max_tokens > 0 && int64_t(doc.tokens().size()) - 1 >= lim.max_tokens) break;
    if (E > 0) doc.set_header(ws.mem.header(gen.tokenizer(), E));
    if (!gen.next_block(doc, out, progress)) break;
    std::vector<Event> events;
    std::vector<int> changed = ws.mem.read(out.index, out.text, out.end, events);
    if (ws.store) {
      BlockRecord rec;
      rec.index = out.index;
      rec.tokens = out.tokens;
      rec.text = out.text;
      rec.generated = out.generated;
      rec.steps = out.steps;
      rec.seconds = out.seconds;
      rec.end = out.end;
      rec.summary = doc.last_summary();
      std::map<int, std::string> records;
      for (int id : changed) records[id] = EntityTracker::to_json(ws.mem.tracker.entities()[id]);
      SessionState next{out.index + 1, doc.pending_text(), out.end, ws.mem.tracker.carry()};
      ws.store->commit(rec, records, EntityTracker::events_json(events), next);
    }
    if (out.generated > 0) ++r.written;
    tokens_out += int64_t(out.tokens.size());
    if (json) {
      nlohmann::json j = {{"block", out.index},   {"text", out.text},
                          {"tokens", out.tokens}, {"generated", out.generated},
                          {"steps", out.steps},   {"seconds", out.seconds},
                          {"end", out.end}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::fwrite(out.text.data(), 1, out.text.size(), stdout);
    }
    std::fflush(stdout);
  }
  if (!json) std::printf("\n");
  std::fflush(stdout);
  if (tty) {
    std::fprintf(stderr, "\r%d blocks committed (%d written), %.1f s, %.0f tok/s%s\n", doc.blocks(),
                 r.written, elapsed(), double(tokens_out) / std::max(1e-9, elapsed()),
                 doc.ended() ? ", end of document" : "");
  }
  r.interrupted = SignalGuard::caught();
  return r;
}

std::string options_json(const GenOptions& o) {
  nlohmann::json j = {{"strategy", strategy_name(o.sampler.strategy)},
                      {"threshold", o.sampler.threshold},
                      {"temperature", o.sampler.temperature},
                      {"top_k", o.sampler.top_k},
                      {"top_p", o.sampler.top_p},
                      {"allow_eos", o.sampler.allow_eos},
                      {"steps", o.steps},
                      {"seed", o.seed},
                      {"prefix_cache", o.prefix_cache},
                      {"memory", int(o.memory)},
                      {"full_context", o.full_context}};
  return j.dump();
}

GenOptions options_from_json(const std::string& json, const std::string& origin) {
  GenOptions o;
  try {
    auto j = nlohmann::json::parse(json);
    o.sampler.strategy = parse_strategy(j.at("strategy").get<std::string>());
    o.sampler.threshold = j.at("threshold").get<float>();
    o.sampler.temperature = j.at("temperature").get<float>();
    o.sampler.top_k = j.at("top_k").get<int>();
    o.sampler.top_p = j.at("top_p").get<float>();
    o.sampler.allow_eos = j.at("allow_eos").get<bool>();
    o.steps = j.at("steps").get<int>();
    o.seed = j.at("seed").get<uint64_t>();
    o.prefix_cache = j.at("prefix_cache").get<bool>();
    const int mem = j.at("memory").get<int>();
    if (mem < 0 || mem > 3) throw Error(origin, "unknown memory mode in the saved options");
    o.memory = GenMemory(mem);
    o.full_context = j.at("full_context").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin, std::string("saved generation options are corrupt: ") + e.what());
  }
  return o;
}

}  // namespace bs::cli
