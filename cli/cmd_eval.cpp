// blockscribe eval — the masked-diffusion NLL bound of a model on a prepared corpus split, in one
// or all memory modes (summary, window, full, none), with 95% intervals over blocks and over the
// masking (eval/evaluate.h says which answers what), and paired differences between modes.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "corpus/prepare.h"
#include "eval/evaluate.h"
#include "training/trainer.h"

namespace bs::cli {
namespace {

struct EvalArgs {
  std::string model, data, split = "val", memory = "summary", device = "cpu";
  int samples = 4, max_blocks = 0, memory_blocks = -1;
  uint64_t seed = 7;
  bool json = false, no_header = false;
};

void run_eval(const EvalArgs& a) {
  // Each entry: a memory mode, and whether its passes get the header E. "summary-no-header" is
  // the summary mode without H, so one call can compare the two block by block.
  struct Mode {
    ContextMode mode;
    bool headers;
    std::string name;
  };
  std::vector<Mode> modes;
  const std::string list = a.memory == "all" ? "summary,window,full,none" : a.memory;
  for (size_t b = 0; b <= list.size();) {  // comma-separated list
    size_t e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    const std::string m = list.substr(b, e - b);
    if (m == "summary-no-header")
      modes.push_back({ContextMode::summary, false, m});
    else
      modes.push_back({parse_context_mode(m), !a.no_header, m});
    b = e + 1;
  }
  Checkpoint ck = load_checkpoint(a.model);
  PreparedCorpus corpus = open_prepared_corpus(a.data);
  if (corpus.tokenizer.hash() != ck.tokenizer->hash())
    throw Error(a.data, "its tokenizer differs from the one in " + a.model +
                            " (the model was trained on other data)");
  const ShardReader& shard = a.split == "train" ? corpus.train : corpus.val;
  if (shard.num_docs() == 0) throw Error(shard.path(), "split '" + a.split + "' has no documents");
  auto docs =
      load_blocks(shard, ck.config.model.block, *ck.tokenizer, ck.config.model.header_tokens);
  const bool tty = stderr_is_tty();
  std::vector<EvalResult> results;
  for (const Mode& md : modes) {
    const ContextMode mode = md.mode;
    EvalOptions o;
    o.mode = mode;
    o.samples = a.samples;
    o.max_blocks = a.max_blocks;
    o.seed = a.seed;
    o.mask_eps = ck.config.train.mask_eps;
    o.full_context = ck.config.train.full_context;
    o.memory_blocks = a.memory_blocks;
    o.headers = md.headers;
    o.backend = &device_backend(a.device);
    EvalResult r = evaluate(*ck.model, docs, o, [&](int64_t done, int64_t total) {
      if (tty)
        std::fprintf(stderr, "\reval %s: %lld/%lld blocks ", md.name.c_str(), (long long)done,
                     (long long)total);
    });
    if (tty) std::fprintf(stderr, "\n");
    if (a.json) {
      nlohmann::json j = {{"memory", md.name},       {"nll", r.nll},    {"ci95", r.ci95},
                          {"ci95_masks", r.ci95_mc}, {"ppl", r.ppl()},  {"blocks", r.blocks},
                          {"samples", a.samples},    {"split", a.split}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf(
          "%-8s NLL bound %.4f ± %.4f (blocks) ± %.4f (masks) nats/token  (perplexity bound %.2f; "
          "%lld blocks × %d samples, %s)\n",
          md.name.c_str(), r.nll, r.ci95, r.ci95_mc, r.ppl(), (long long)r.blocks, a.samples,
          a.split.c_str());
    }
    std::fflush(stdout);
    results.push_back(std::move(r));
  }
  // Paired differences against the first mode: same blocks, same rates, same masks.
  for (size_t i = 1; i < results.size(); ++i) {
    auto [d, ci] = paired_difference(results[i], results[0]);
    if (a.json) {
      nlohmann::json j = {
          {"paired", modes[i].name + " - " + modes[0].name}, {"diff", d}, {"ci95", ci}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%-8s - %-8s %+.4f ± %.4f nats/token (paired over the same blocks and masks)\n",
                  modes[i].name.c_str(), modes[0].name.c_str(), d, ci);
    }
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* sub =
      app.add_subcommand("eval", "Validation NLL bound of a model in one or all memory modes");
  sub->add_option("-m,--model", a->model, "Model checkpoint (.safetensors)")->required();
  sub->add_option("-d,--data", a->data, "Prepared corpus folder (from `corpus prepare`)")
      ->required();
  sub->add_option("--split", a->split, "Which split to score")
      ->check(CLI::IsMember({"val", "train"}))
      ->capture_default_str();
  sub->add_option(
         "--memory", a->memory,
         "summary (memory + window, the design) | window (overlap only) | full (raw earlier "
         "tokens, up to "
         "train.full_context) | none | summary-no-header (without the header E) | all, or a "
         "comma-separated list; later modes are also compared with the first, block by block")
      ->capture_default_str();
  sub->add_option("--samples", a->samples, "Masking rates drawn per block")
      ->check(IntRange(1, 64))
      ->capture_default_str();
  sub->add_option("--max-blocks", a->max_blocks,
                  "Score at most this many blocks (0 = all), spread over documents")
      ->check(IntRange(0, 1 << 30))
      ->capture_default_str();
  sub->add_option("--memory-blocks", a->memory_blocks,
                  "Summary mode keeps at most this many earlier blocks in memory (default: the "
                  "model's max_memory_blocks)")
      ->check(IntRange(0, 1 << 20));
  sub->add_option("--seed", a->seed, "Seed of the masks (fixed: the number is reproducible)")
      ->check(kUint64)
      ->capture_default_str();
  sub->add_flag("--no-header", a->no_header,
                "Summary mode without the entity/timeline header E (models with "
                "model.header_tokens > 0), to measure what it adds");
  sub->add_flag("--json", a->json, "One JSON object per mode on stdout");
  add_device_option(sub, a->device);
  sub->callback([a] { run_eval(*a); });
}

}  // namespace bs::cli
