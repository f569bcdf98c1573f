// blockscribe generate — writes a document block by block (blocks/generator.h) and streams each
// committed block to stdout as text, or as one JSON object per block with --json.
#include <toml++/toml.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "blocks/generator.h"
#include "cli/block_writer.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"

namespace bs::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_file, tmpl, tmpl_file, strategy, memory = "summary";
  std::string session, plan;
  ConfigArgs cfg;
  int blocks = -1, max_tokens = -1, steps = -1, top_k = INT_MIN, full_context = 0;
  float threshold = NAN, temperature = NAN, top_p = NAN;
  uint64_t seed = 0;
  bool json = false, no_cache = false, no_eos = false;
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
  // NaN / INT_MIN mean "not given": any value a user types, negative ones included, reaches the
  // config's validation and its message.
  if (!std::isnan(a.threshold)) g.threshold = a.threshold;
  if (!std::isnan(a.temperature)) g.temperature = a.temperature;
  if (a.top_k != INT_MIN) g.top_k = a.top_k;
  if (!std::isnan(a.top_p)) g.top_p = a.top_p;
  if (a.seed_opt->count()) g.seed = a.seed;
  if (a.blocks >= 0) g.blocks = a.blocks;
  if (a.max_tokens >= 0) g.max_tokens = a.max_tokens;
  c.validate();
  return c;
}

// A plan file: characters, places and facts declared before generation.
//   [[character]] name = "Elizabeth Bennet"  aliases = ["Elizabeth", "Lizzy"]
//   [[place]]     name = "Longbourn"
//   facts = ["Mr. Bennet has five daughters."]
void read_plan(const std::string& path, EntityTracker& tr) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(path + ":" + std::to_string(b.line), std::string(e.description()));
  }
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    if (k == "character" || k == "place") {
      const toml::array* arr = node.as_array();
      if (!arr) throw Error(path, "'" + k + "' must be an array of tables ([[" + k + "]])");
      for (const auto& item : *arr) {
        const toml::table* e = item.as_table();
        if (!e) throw Error(path, "'" + k + "' must be an array of tables ([[" + k + "]])");
        std::vector<std::string> aliases;
        for (const auto& [ek, ev] : *e) {
          const std::string f(ek.str());
          if (f != "name" && f != "aliases")
            throw Error(path, "unknown key '" + f + "' in [[" + k + "]] (expected name, aliases)");
        }
        auto name = (*e)["name"].value<std::string>();
        if (!name) throw Error(path, "a [[" + k + "]] has no name");
        if (const toml::array* al = (*e)["aliases"].as_array())
          for (const auto& x : *al) {
            auto v = x.value<std::string>();
            if (!v) throw Error(path, "aliases of '" + *name + "' must be strings");
            aliases.push_back(*v);
          }
        tr.declare(*name, k, aliases);
      }
    } else if (k == "facts") {
      const toml::array* arr = node.as_array();
      if (!arr) throw Error(path, "'facts' must be an array of strings");
      for (const auto& x : *arr) {
        auto v = x.value<std::string>();
        if (!v) throw Error(path, "'facts' must be an array of strings");
        tr.add_fact(*v);
      }
    } else {
      throw Error(path, "unknown key '" + k + "' (expected [[character]], [[place]], facts)");
    }
  }
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
  o.sampler.allow_eos = !a.no_eos;
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

  WriterState ws;
  if (!a.plan.empty()) read_plan(a.plan, ws.mem.tracker);
  std::unique_ptr<SessionStore> store;
  if (!a.session.empty()) {
    SessionMeta meta;
    meta.model_hash = ck.metadata.count("data_hash") ? ck.metadata.at("data_hash") : "";
    meta.tokenizer_hash = hex64(ck.tokenizer->hash());
    meta.model_path = std::filesystem::absolute(a.model).string();
    meta.config = cfg.to_toml();
    meta.options = options_json(o);
    meta.queue.push_back(Tokenizer::kBos);
    meta.queue.insert(meta.queue.end(), ids.begin(), ids.end());
    meta.token_limit = g.max_tokens;
    meta.facts = ws.mem.tracker.facts_json();
    std::map<int, std::string> declared;
    for (const Entity& e : ws.mem.tracker.entities()) declared[e.id] = EntityTracker::to_json(e);
    store = SessionStore::create(a.session, meta, declared);
    ws.store = store.get();
  }
  auto doc = gen.start(ids);
  doc->set_token_limit(g.max_tokens);
  WriteLimits lim;
  lim.blocks = new_blocks;
  lim.template_only = is_template && new_blocks == 0;
  lim.max_tokens = g.max_tokens;
  WriteResult r = write_blocks(gen, *doc, ws, lim, a.json);
  if (r.interrupted) {
    std::fprintf(
        stderr, "generate: interrupted; the document up to block %d is above%s\n",
        doc->blocks() - 1,
        store
            ? (" and in " + a.session + " (blockscribe resume --session " + a.session + ")").c_str()
            : "");
    std::exit(128 + r.interrupted);
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
  sub->add_flag("--no-eos", a->no_eos,
                "Never end the document early: run to the --blocks/--max-tokens budget");
  sub->add_flag("--json", a->json, "One JSON object per block on stdout instead of text");
  sub->add_option("--session", a->session,
                  "Write the document into this new session directory as it goes (RocksDB; "
                  "continue it with `resume`)");
  sub->add_option("--plan", a->plan,
                  "TOML plan declaring characters, places and facts before generation");
  a->cfg.add_to(sub);
  sub->callback([a] { run_generate(*a); });
}

}  // namespace bs::cli
