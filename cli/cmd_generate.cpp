// blockscribe generate — writes a document block by block (session/session.h) and streams each
// committed block to stdout as text, or as one JSON object per block with --json.
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/session_output.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "session/plan.h"
#include "session/session.h"

namespace bs::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_file, tmpl, tmpl_file, strategy, memory = "summary";
  std::string session, plan, device = "cpu";
  ConfigArgs cfg;
  int blocks = 0, steps = 0, top_k = 0, full_context = 0, repeat_last_n = 0;
  int64_t max_tokens = 0, max_new_tokens = 0;
  float threshold = 0, temperature = 0, top_p = 0, repeat_penalty = 0;
  uint64_t seed = 0;
  bool json = false, no_cache = false, no_eos = false;
  // Given on the command line? (An option's value alone cannot say: every value is a valid one.)
  CLI::Option *prompt_opt, *prompt_file_opt, *tmpl_opt, *tmpl_file_opt, *seed_opt, *blocks_opt,
      *steps_opt, *strategy_opt, *threshold_opt, *temperature_opt, *top_k_opt, *top_p_opt,
      *repeat_penalty_opt, *repeat_last_n_opt, *max_tokens_opt, *max_new_opt;
};

// The help text of the options a checkpoint's [generate] section gives defaults for, with the
// values of g (from `source`: a new model, or the checkpoint named on the command line).
void describe_defaults(const GenerateArgs& a, const GenerateConfig& g, const std::string& source) {
  auto d = [&](const std::string& key, const std::string& v) {
    return " (default " + v + ": generate." + key + " of " + source + ")";
  };
  a.blocks_opt->description("Blocks to write; with a template, blocks after it" +
                            d("blocks", std::to_string(g.blocks)));
  a.max_tokens_opt->description("Document length limit in tokens, the prompt included; 0 = none" +
                                d("max_tokens", std::to_string(g.max_tokens)));
  a.steps_opt->description("Denoising steps per block at most" +
                           d("steps", std::to_string(g.steps)));
  a.strategy_opt->description(
      "Which positions to unmask each step: low_confidence | margin | entropy | random | "
      "threshold" +
      d("strategy", g.strategy));
  a.threshold_opt->description(
      "tau in (0, 1]: unmask every position more probable than it; implies --strategy threshold" +
      d("threshold", shortest(g.threshold)));
  a.temperature_opt->description("Sampling temperature, 0 = greedy" +
                                 d("temperature", shortest(g.temperature)));
  a.top_k_opt->description("Sample among the k most likely tokens, 0 = off" +
                           d("top_k", std::to_string(g.top_k)));
  a.top_p_opt->description("Sample from the smallest set holding this mass, in (0, 1]" +
                           d("top_p", shortest(g.top_p)));
  a.repeat_penalty_opt->description(
      "Lower the tokens of the recent text: logit/p if positive, logit*p if not; p in [1, 10], "
      "1 = off" +
      d("repeat_penalty", shortest(g.repeat_penalty)));
  a.repeat_last_n_opt->description("Committed tokens the repeat penalty looks back over" +
                                   d("repeat_last_n", std::to_string(g.repeat_last_n)));
  a.seed_opt->description(
      "Seed: the same seed writes the same text again; 0 draws a new one, which is printed" +
      d("seed", std::to_string(g.seed)));
}

GenerateArgs* g_args = nullptr;  // for show_checkpoint_defaults

}  // namespace

void show_checkpoint_defaults(const std::string& model_path) {
  if (!g_args) return;
  try {
    describe_defaults(*g_args, load_checkpoint(model_path).config.generate, model_path);
  } catch (const Error&) {
    // An unreadable checkpoint: the help shows a new model's defaults; running says what is wrong.
  }
}

namespace {

// The checkpoint's config, then --config's [generate] (a [model] change is refused: the weights
// fix the model), then --set, then the command-line flags.
Config generation_config(const GenerateArgs& a, const Config& saved) {
  Config c = saved;
  const std::string model_toml = c.to_toml(true);
  if (!a.cfg.path.empty()) c.load_file(a.cfg.path);
  for (const std::string& s : a.cfg.sets) c.apply_override(s);
  if (c.to_toml(true) != model_toml)
    throw Error(a.cfg.path.empty() ? "--set" : a.cfg.path,
                "changes the [model] section, which is fixed by the checkpoint " + a.model);
  GenerateConfig& g = c.generate;
  if (a.steps_opt->count()) g.steps = a.steps;
  if (a.strategy_opt->count()) g.strategy = a.strategy;
  if (a.threshold_opt->count()) {
    g.threshold = a.threshold;
    if (!a.strategy_opt->count()) g.strategy = "threshold";  // --threshold implies the strategy
  }
  if (a.temperature_opt->count()) g.temperature = a.temperature;
  if (a.top_k_opt->count()) g.top_k = a.top_k;
  if (a.top_p_opt->count()) g.top_p = a.top_p;
  if (a.repeat_penalty_opt->count()) g.repeat_penalty = a.repeat_penalty;
  if (a.repeat_last_n_opt->count()) g.repeat_last_n = a.repeat_last_n;
  if (a.seed_opt->count()) g.seed = a.seed;
  if (a.blocks_opt->count()) g.blocks = a.blocks;
  if (a.max_tokens_opt->count()) g.max_tokens = int(std::min<int64_t>(a.max_tokens, INT_MAX));
  c.validate();
  return c;
}

void run_generate(const GenerateArgs& a) {
  // Options first: a typo should not wait for a checkpoint to load.
  const ContextMode memory = parse_context_mode(a.memory);
  if (a.strategy_opt->count()) parse_strategy(a.strategy);
  if (a.threshold_opt->count() && a.strategy_opt->count() && a.strategy != "threshold")
    throw UsageError("--threshold", "applies to --strategy threshold only (given: --strategy " +
                                        a.strategy + "); leave --strategy out to imply it");
  Checkpoint ck = load_checkpoint(a.model);
  const Config cfg = generation_config(a, ck.config);
  const GenerateConfig& g = cfg.generate;
  GenOptions o = options_from_config(g, memory);
  o.prefix_cache = !a.no_cache;
  o.full_context = a.full_context;
  o.sampler.allow_eos = !a.no_eos;
  o.backend = &device_backend(a.device);
  Generator gen(*ck.model, *ck.tokenizer, o);

  // The opening text: a prompt (kept) or a template ("<mask>" = one position to fill).
  const bool is_template = a.tmpl_opt->count() || a.tmpl_file_opt->count();
  const bool from_file = a.prompt_file_opt->count() || a.tmpl_file_opt->count();
  std::string text, what;
  if (from_file) {
    what = a.prompt_file_opt->count() ? a.prompt_file : a.tmpl_file;
    text = read_file(what);
  } else {
    what = is_template ? "--template" : "--prompt";
    text = is_template ? a.tmpl : a.prompt;
  }
  const bool given = a.prompt_opt->count() || is_template || from_file;
  if (given && text.empty()) throw Error(what, "is empty (leave it out to start from nothing)");
  std::vector<int> ids =
      is_template ? gen.encode_template(text, what) : ck.tokenizer->encode(text, what);
  if (given && ids.empty()) throw Error(what, "holds no tokens");

  // Budgets. --blocks counts blocks the sampler writes into; --max-tokens the document's tokens,
  // the opening text included; -n the new tokens after it. A template is filled in full and ends
  // at its last token unless a budget continues it.
  const bool token_budget = a.max_new_opt->count() > 0 || g.max_tokens > 0;
  int64_t limit = a.max_new_opt->count() ? int64_t(ids.size()) + a.max_new_tokens : g.max_tokens;
  if (a.max_new_opt->count() && a.max_new_tokens == 0)
    throw UsageError("--max-new-tokens", "is 0: nothing would be written");
  if (g.max_tokens > 0 && int64_t(ids.size()) >= g.max_tokens)
    throw Error(what, "is " + std::to_string(ids.size()) + " tokens long, so a budget of " +
                          std::to_string(g.max_tokens) + " tokens leaves nothing to generate");
  int blocks = a.blocks_opt->count() ? a.blocks : token_budget ? 0 : g.blocks;
  if (is_template && !a.blocks_opt->count() && !token_budget) {
    limit = int64_t(ids.size());  // the template's end is the document's end
    blocks = 0;
  }
  if (!is_template && blocks == 0 && limit == 0)
    throw UsageError("budget", "give --blocks, --max-tokens or --max-new-tokens (all are 0)");

  SessionStart start;
  start.prompt = ids;
  start.token_limit = limit;
  start.blocks = blocks;
  if (!a.plan.empty()) read_plan(a.plan, start.plan);
  start.model_path = std::filesystem::absolute(a.model).string();
  start.model_hash = ck.metadata.count("data_hash") ? ck.metadata.at("data_hash") : "";
  auto session = Session::create(gen, std::move(start), a.session);

  if (a.json) {
    std::printf("%s\n", json_header(*session, "generate").c_str());
  } else {
    std::fprintf(stderr, "generate: %s, seed %llu (--seed %llu writes this text again)\n",
                 a.model.c_str(), (unsigned long long)o.seed, (unsigned long long)o.seed);
  }
  std::fflush(stdout);
  const PrintResult r = print_blocks(*session, blocks, a.json);
  if (r.interrupted) {
    std::fprintf(
        stderr, "generate: interrupted; the document up to block %d is above%s\n",
        session->blocks() - 1,
        session->store()
            ? (" and in " + a.session + " (blockscribe resume --session " + a.session + ")").c_str()
            : "");
    throw ExitCode{128 + r.interrupted};
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  g_args = a.get();
  CLI::App* sub = app.add_subcommand(
      "generate",
      "Write a document block by block from a prompt (text streams to stdout as blocks commit)");
  sub->footer(
      "Defaults: a checkpoint's [generate] section (`blockscribe info MODEL` prints it) sets "
      "them; `generate -m MODEL --help` shows that checkpoint's.");
  sub->add_option("-m,--model", a->model, "Model checkpoint (.safetensors)")->required();
  a->prompt_opt = sub->add_option("-p,--prompt", a->prompt, "Opening text, kept as written");
  a->prompt_file_opt =
      sub->add_option("-f,--prompt-file", a->prompt_file, "File holding the opening text");
  a->tmpl_opt = sub->add_option("--template", a->tmpl,
                                "Text to fill in: each \"<mask>\" is one token to write, the "
                                "rest stays fixed; the document ends where the template ends "
                                "unless a budget continues it");
  a->tmpl_file_opt = sub->add_option("--template-file", a->tmpl_file, "File holding a --template");
  a->prompt_opt->excludes(a->prompt_file_opt)->excludes(a->tmpl_opt)->excludes(a->tmpl_file_opt);
  a->prompt_file_opt->excludes(a->tmpl_opt)->excludes(a->tmpl_file_opt);
  a->tmpl_opt->excludes(a->tmpl_file_opt);
  a->blocks_opt = sub->add_option("--blocks", a->blocks)->check(IntRange(0, 1 << 20));
  a->max_tokens_opt = sub->add_option("--max-tokens", a->max_tokens)->check(IntRange(0, INT_MAX));
  a->max_new_opt = sub->add_option("-n,--max-new-tokens", a->max_new_tokens,
                                   "New tokens to write after the prompt")
                       ->check(IntRange(0, INT_MAX));
  a->max_new_opt->excludes(a->max_tokens_opt);
  a->steps_opt = sub->add_option("--steps", a->steps)->check(IntRange(1, 1 << 20));
  a->strategy_opt = sub->add_option("--strategy", a->strategy);
  a->threshold_opt = sub->add_option("--threshold", a->threshold)->check(kFinite);
  a->temperature_opt = sub->add_option("--temperature,--temp", a->temperature)->check(kFinite);
  a->top_k_opt = sub->add_option("--top-k", a->top_k)->check(IntRange(INT_MIN, INT_MAX));
  a->top_p_opt = sub->add_option("--top-p", a->top_p)->check(kFinite);
  a->repeat_penalty_opt = sub->add_option("--repeat-penalty", a->repeat_penalty)->check(kFinite);
  a->repeat_last_n_opt =
      sub->add_option("--repeat-last-n", a->repeat_last_n)->check(IntRange(INT_MIN, INT_MAX));
  a->seed_opt = sub->add_option("--seed", a->seed)->check(kUint64);
  describe_defaults(*a, GenerateConfig{}, "a new model");
  sub->add_option("--memory", a->memory,
                  "Context from earlier blocks: summary (the design) | window | none | full "
                  "(raw earlier tokens; for comparison)")
      ->capture_default_str();
  sub->add_option("--full-context", a->full_context, "--memory full: earlier tokens kept (0 = all)")
      ->check(IntRange(0, INT_MAX));
  sub->add_flag("--no-cache", a->no_cache,
                "Recompute the whole context at every step (slow; for comparison)");
  sub->add_flag("--no-eos", a->no_eos,
                "Never end the document early: run to the --blocks/--max-tokens budget");
  sub->add_flag("--json", a->json,
                "JSON lines on stdout: a header (model, tokenizer, seed, every setting), then "
                "one object per block");
  sub->add_option("--session", a->session,
                  "Write the document into this new session directory as it goes (RocksDB; "
                  "continue it with `resume`)");
  sub->add_option("--plan", a->plan,
                  "TOML plan declaring characters, places and facts before generation");
  a->cfg.add_to(sub);
  add_device_option(sub, a->device);
  sub->callback([a] { run_generate(*a); });
}

}  // namespace bs::cli
