// blockscribe resume — continues a generation session where it stopped: the committed blocks,
// summary memory, entities and generation settings come from the session (Session::resume), so
// the blocks it writes are exactly those an uninterrupted run would have written (same seed:
// block b draws from (seed, b)).
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/session_output.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "session/session.h"

namespace bs::cli {
namespace {

struct ResumeArgs {
  std::string session, model, device = "cpu";
  int blocks = 0;
  bool json = false, force = false;
  CLI::Option* blocks_opt = nullptr;
};

void run_resume(const ResumeArgs& a) {
  if (a.blocks_opt->count() && a.blocks == 0)
    throw UsageError("--blocks", "is 0: nothing would be written");
  auto store = SessionStore::open(a.session);
  const SessionMeta meta = store->meta();
  const std::string model_path = a.model.empty() ? meta.model_path : a.model;
  Checkpoint ck = load_checkpoint(model_path);
  const std::string model_hash = ck.metadata.count("data_hash") ? ck.metadata.at("data_hash") : "";
  GenOptions o = meta.options;  // the session's settings; the device is this run's choice
  o.backend = &device_backend(a.device);
  Generator gen(*ck.model, *ck.tokenizer, o);
  auto session = Session::resume(gen, std::move(store), model_hash, a.force);
  if (!session->warning().empty())
    std::fprintf(stderr, "resume: warning: %s\n", session->warning().c_str());
  if (session->ended()) {
    std::fprintf(stderr, "resume: the document in %s ended at block %d; nothing to continue\n",
                 a.session.c_str(), session->blocks() - 1);
    return;
  }
  const int blocks = a.blocks_opt->count() ? a.blocks : session->default_blocks();
  if (blocks == 0 && meta.token_limit == 0)
    throw UsageError("--blocks",
                     "not given, and the session has neither a default block count "
                     "nor a token budget: nothing would stop it");
  if (a.json) {
    std::printf("%s\n", json_header(*session, "resume").c_str());
    std::fflush(stdout);
  }
  const PrintResult r = print_blocks(*session, blocks, a.json);
  if (r.interrupted) {
    std::fprintf(stderr, "resume: interrupted; %d blocks are committed in %s\n", session->blocks(),
                 a.session.c_str());
    throw ExitCode{128 + r.interrupted};
  }
}

}  // namespace

void add_resume_command(CLI::App& app) {
  auto a = std::make_shared<ResumeArgs>();
  CLI::App* sub = app.add_subcommand(
      "resume", "Continue a generation session from its saved memory (prints the new blocks)");
  sub->add_option("--session", a->session, "Session directory made by `generate --session`")
      ->required();
  a->blocks_opt = sub->add_option("--blocks", a->blocks,
                                  "Blocks to add (default: the --blocks the session was made with)")
                      ->check(IntRange(0, 1 << 20));
  sub->add_option("-m,--model", a->model,
                  "Checkpoint to continue with (default: the one the session was made with)");
  sub->add_flag("--force", a->force,
                "Continue even when the model or tokenizer differs from the session's");
  sub->add_flag("--json", a->json,
                "JSON lines on stdout: a header (session, model, settings), then one object per "
                "block");
  add_device_option(sub, a->device);
  sub->callback([a] { run_resume(*a); });
}

}  // namespace bs::cli
