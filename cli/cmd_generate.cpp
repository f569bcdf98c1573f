// blockscribe generate — writes a document block by block (blocks/generator.h) and streams each
// committed block to stdout as text, or as one JSON object per block with --json.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "blocks/generator.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"

namespace bs::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_file, tmpl, tmpl_file, strategy, memory = "summary";
  ConfigArgs cfg;
  int blocks = -1, max_tokens = -1, steps = -1, top_k = -1, full_context = 0;
  float threshold = -1, temperature = -1, top_p = -1;
  uint64_t seed = 0;
  bool json = false, no_cache = false;
  CLI::Option *prompt_opt = nullptr, *seed_opt = nullptr, *blocks_opt = nullptr;
};

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
  if (a.steps >= 0) g.steps = a.steps;
  if (!a.strategy.empty()) g.strategy = a.strategy;
  if (a.threshold >= 0) g.threshold = a.threshold;
  if (a.temperature >= 0) g.temperature = a.temperature;
  if (a.top_k >= 0) g.top_k = a.top_k;
  if (a.top_p >= 0) g.top_p = a.top_p;
  if (a.seed_opt->count()) g.seed = a.seed;
  if (a.blocks >= 0) g.blocks = a.blocks;
  if (a.max_tokens >= 0) g.max_tokens = a.max_tokens;
  c.validate();
  return c;
}

void run_generate(const GenerateArgs& a) {
  // Options first: a typo should not wait for a checkpoint to load.
  GenOptions o;
  o.memory = parse_gen_memory(a.memory);
  o.prefix_cache = !a.no_cache;
  o.full_context = a.full_context;
  if (!a.strategy.empty()) parse_strategy(a.strategy);

  Checkpoint ck = load_checkpoint(a.model);
  const Config cfg = generation_config(a, ck.config);
  const GenerateConfig& g = cfg.generate;
  o.steps = g.steps;
  o.seed = g.seed;
  o.sampler.strategy = parse_strategy(g.strategy);
  o.sampler.threshold = g.threshold;
  o.sampler.temperature = g.temperature;
  o.sampler.top_k = g.top_k;
  o.sampler.top_p = g.top_p;
  Generator gen(*ck.model, *ck.tokenizer, o);

  // The opening text: a prompt (kept) or a template ("<mask>" = one position to fill).
  const bool is_template = !a.tmpl.empty() || !a.tmpl_file.empty();
  std::string text, what;
  if (!a.prompt_file.empty() || !a.tmpl_file.empty()) {
    what = a.prompt_file.empty() ? a.tmpl_file : a.prompt_file;
    text = read_file(what);
  } else {
    what = is_template ? "--template" : "--prompt";
    text = is_template ? a.tmpl : a.prompt;
  }
  const bool given = a.prompt_opt->count() || is_template || !a.prompt_file.empty();
  if (given && text.empty()) throw Error(what, "is empty (leave it out to start from nothing)");
  std::vector<int> ids =
      is_template ? gen.encode_template(text, what) : ck.tokenizer->encode(text, what);
  if (given && ids.empty()) throw Error(what, "holds no tokens");
  if (g.max_tokens > 0 && int64_t(ids.size()) >= g.max_tokens)
    throw Error(what, "is " + std::to_string(ids.size()) + " tokens long, so a budget of " +
                          std::to_string(g.max_tokens) + " tokens leaves nothing to generate");
  // Budgets: --blocks counts blocks the sampler writes into; a template is filled in full and
  // only continued past its end when --blocks is given.
  const int new_blocks = is_template && a.blocks < 0 ? 0 : g.blocks;
  if (!is_template && new_blocks == 0 && g.max_tokens == 0)
    throw Error("budget", "give --blocks or --max-tokens (both are 0)");

  auto doc = gen.start(ids);
  doc->set_token_limit(g.max_tokens);
  const bool tty = stderr_is_tty();
  SignalGuard signals;
  int written = 0, after_template = 0;
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
  while (!doc->ended()) {
    const bool in_template = doc->queued() > 0;
    if (!in_template && (is_template ? after_template : written) >= new_blocks &&
        (new_blocks > 0 || is_template))
      break;
    if (g.max_tokens > 0 && int64_t(doc->tokens().size()) - 1 >= g.max_tokens) break;
    if (!gen.next_block(*doc, out, progress)) break;
    if (out.generated > 0) ++written;
    if (!in_template) ++after_template;
    tokens_out += int64_t(out.tokens.size());
    if (a.json) {
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
  if (!a.json) std::printf("\n");
  std::fflush(stdout);
  if (tty) {
    std::fprintf(stderr, "\rgenerate: %d blocks (%d written), %.1f s, %.0f tok/s%s\n",
                 doc->blocks(), written, elapsed(), double(tokens_out) / std::max(1e-9, elapsed()),
                 doc->ended() ? ", end of document" : "");
  }
  if (const int sig = SignalGuard::caught()) {
    std::fprintf(stderr, "generate: interrupted; the document up to block %d is above\n",
                 doc->blocks() - 1);
    std::exit(128 + sig);
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand(
      "generate",
      "Write a document block by block from a prompt (text streams to stdout as blocks commit)");
  sub->add_option("-m,--model", a->model, "Model checkpoint (.safetensors)")->required();
  a->prompt_opt = sub->add_option("-p,--prompt", a->prompt, "Opening text, kept as written");
  auto* pf = sub->add_option("--prompt-file", a->prompt_file, "File holding the opening text");
  auto* tp = sub->add_option("--template", a->tmpl,
                             "Text to fill in: each \"<mask>\" is one token to write, the rest "
                             "stays fixed");
  auto* tf = sub->add_option("--template-file", a->tmpl_file, "File holding a --template");
  for (CLI::Option* x : {pf, tp, tf}) a->prompt_opt->excludes(x);
  pf->excludes(tp)->excludes(tf);
  tp->excludes(tf);
  sub->add_option(
         "--blocks", a->blocks,
         "Blocks to write (default generate.blocks; with a template: extra blocks after it)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--max-tokens", a->max_tokens,
                  "Document length limit in tokens, prompt included (default generate.max_tokens; "
                  "0 = none)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--steps", a->steps, "Denoising steps per block at most (default generate.steps)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--strategy", a->strategy,
                  "Which positions to unmask each step: low_confidence | margin | entropy | random "
                  "| threshold (default generate.strategy)");
  sub->add_option("--threshold", a->threshold,
                  "tau for --strategy threshold: unmask every position whose probability is above "
                  "it, in (0, 1]");
  sub->add_option("--temperature", a->temperature, "Sampling temperature (0 = greedy)");
  sub->add_option("--top-k", a->top_k, "Sample among the k most likely tokens (0 = off)");
  sub->add_option("--top-p", a->top_p, "Sample from the smallest set holding this mass, (0, 1]");
  a->seed_opt = sub->add_option("--seed", a->seed, "Seed (default generate.seed)");
  sub->add_option("--memory", a->memory,
                  "Context from earlier blocks: summary (the design) | window | none | full "
                  "(raw earlier tokens; for comparison)")
      ->capture_default_str();
  sub->add_option("--full-context", a->full_context, "--memory full: earlier tokens kept (0 = all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--no-cache", a->no_cache,
                "Recompute the whole context at every step (slow; for comparison)");
  sub->add_flag("--json", a->json, "One JSON object per block on stdout instead of text");
  a->cfg.add_to(sub);
  sub->callback([a] { run_generate(*a); });
}

}  // namespace bs::cli
