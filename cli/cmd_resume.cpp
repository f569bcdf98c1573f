// blockscribe resume — continues a generation session where it stopped: the committed blocks,
// summary memory, entities and generation options come from the session, so the blocks it writes
// are exactly those an uninterrupted run would have written (same seed: block b draws from
// (seed, b)).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/block_writer.h"
#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"

namespace bs::cli {
namespace {

struct ResumeArgs {
  std::string session, model;
  int blocks = -1;
  bool json = false, force = false;
};

void run_resume(const ResumeArgs& a) {
  auto store = SessionStore::open(a.session);
  const SessionMeta& meta = store->meta();
  const SessionState st = store->state();
  if (st.ended) {
    std::fprintf(stderr, "resume: the document in %s ended at block %d; nothing to continue\n",
                 a.session.c_str(), st.blocks - 1);
    return;
  }
  const std::string model_path = a.model.empty() ? meta.model_path : a.model;
  Checkpoint ck = load_checkpoint(model_path);
  const std::string model_hash = ck.metadata.count("data_hash") ? ck.metadata.at("data_hash") : "";
  const std::string tok_hash = hex64(ck.tokenizer->hash());
  auto mismatch = [&](const std::string& what) {
    const std::string msg = "was written with another " + what + " than " + model_path;
    if (!a.force) throw Error(a.session, msg + " (pass --force to continue anyway)");
    std::fprintf(stderr, "resume: warning: %s: %s; continuing because of --force\n",
                 a.session.c_str(), msg.c_str());
  };
  if (meta.tokenizer_hash != tok_hash)
    mismatch("tokenizer");
  else if (meta.model_hash != model_hash)
    mismatch("model");

  Config cfg;
  cfg.load_string(meta.config, a.session + " (saved config)");
  const GenOptions o = options_from_json(meta.options, a.session);
  Generator gen(*ck.model, *ck.tokenizer, o);
  const ModelConfig& c = ck.model->config();

  // Committed state: tokens of every block, the summaries memory keeps, the entity tracker.
  std::vector<int> tokens;
  std::vector<std::vector<float>> summaries;
  for (int b = 0; b < st.blocks; ++b) {
    BlockRecord r = store->block(b);
    if (int(r.tokens.size()) != c.block)
      throw Error(a.session, "block " + std::to_string(b) + " does not fit this model's blocks");
    tokens.insert(tokens.end(), r.tokens.begin(), r.tokens.end());
    if (b >= st.blocks - c.max_memory_blocks && !r.summary.empty())
      summaries.push_back(std::move(r.summary));
  }
  WriterState ws;
  ws.store = store.get();
  ws.mem.tracker.restore(store->entities(), meta.facts, st.carry);
  for (int b = std::max(0, st.blocks - 2); b < st.blocks; ++b) {  // the header's latest events
    for (const auto& j : nlohmann::json::parse(store->timeline(b))) {
      Event e;
      e.block = j.at("block").get<int>();
      e.sentence = j.at("sentence").get<std::string>();
      ws.mem.recent.push_back(e);
    }
  }
  auto doc = gen.restore(std::move(tokens), summaries, meta.queue, st.pending, st.ended);
  doc->set_token_limit(meta.token_limit);
  WriteLimits lim;
  lim.blocks = a.blocks >= 0 ? a.blocks : cfg.generate.blocks;
  lim.max_tokens = meta.token_limit;
  if (lim.blocks == 0 && lim.max_tokens == 0)
    throw Error("--blocks", "is 0 and the session has no token budget: nothing would stop it");
  WriteResult r = write_blocks(gen, *doc, ws, lim, a.json);
  if (r.interrupted) {
    std::fprintf(stderr, "resume: interrupted; %d blocks are committed in %s\n", doc->blocks(),
                 a.session.c_str());
    std::exit(128 + r.interrupted);
  }
}

}  // namespace

void add_resume_command(CLI::App& app) {
  auto a = std::make_shared<ResumeArgs>();
  CLI::App* sub = app.add_subcommand(
      "resume", "Continue a generation session from its saved memory (prints the new blocks)");
  sub->add_option("--session", a->session, "Session directory made by `generate --session`")
      ->required();
  sub->add_option("--blocks", a->blocks, "Blocks to add (default: the session's generate.blocks)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("-m,--model", a->model,
                  "Checkpoint to continue with (default: the one the session was made with)");
  sub->add_flag("--force", a->force,
                "Continue even when the model or tokenizer differs from the session's");
  sub->add_flag("--json", a->json, "One JSON object per block on stdout instead of text");
  sub->callback([a] { run_resume(*a); });
}

}  // namespace bs::cli
