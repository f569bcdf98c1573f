// blockscribe forward — runs the model over a text block by block exactly as evaluation and
// generation do (training/doc_blocks.h: <s>, the text, </s> padding to whole blocks, each block's
// header E and sentence indices; training/block_runner.h: the context of the memory mode, <s>
// never masked): each block is scored with a random share of its tokens masked, then committed
// with a clean pass whose summary joins the memory M of the next block. Prints, per block, the
// masked tokens' NLL and accuracy; --json gives every figure in full precision and
// --dump-logits the raw logits, so the model can be checked from outside (docs/MODEL.md §7).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "training/block_runner.h"
#include "training/doc_blocks.h"

namespace bs::cli {
namespace {

struct ForwardArgs {
  std::string model, prompt, prompt_file, memory = "summary", dump, device = "cpu";
  float mask_rate = 0.5f;
  int full_context = 512;
  uint64_t seed = 1;
  bool json = false, show = false;
};

void run_forward(const ForwardArgs& a) {
  const ContextMode mode = parse_context_mode(a.memory);
  const kernels::Backend& be = device_backend(a.device);
  if (!(a.mask_rate > 0.f && a.mask_rate <= 1.f))
    throw UsageError("--mask-rate", shortest(a.mask_rate) + " is not in (0, 1]");
  Checkpoint ck = load_checkpoint(a.model);
  const Model& m = *ck.model;
  const ModelConfig& c = m.config();
  const Tokenizer& tok = *ck.tokenizer;
  std::string text = a.prompt, what = "--prompt";
  if (!a.prompt_file.empty()) text = read_file(what = a.prompt_file);
  if (text.empty()) throw Error(what, "is empty");
  const std::vector<int> ids = tok.encode(text, what);
  const DocBlocks doc = cut_blocks(std::span<const int>(ids), c.block, tok, c.header_tokens);

  BlockRunner runner(m, be, a.full_context);
  runner.set_keep_logits(true);
  std::vector<DocState> st(1);
  st[0].doc = &doc;
  std::mt19937_64 rng(a.seed);
  std::string dump;  // written whole at the end (atomically): no half file after an error

  const int V = c.vocab;
  double total_nll = 0, total_bound = 0;
  int64_t total_masked = 0, row = 0, total_right = 0;
  if (!a.json)
    std::printf("%-6s %-7s %-10s %-8s %-10s\n", "block", "masked", "nll/tok", "acc", "bound");
  for (int b = 0; b < doc.nblocks(); ++b) {
    BlockJob job;
    job.doc = 0;
    job.rates = {a.mask_rate};
    job.modes = {mode};
    job.clean = mode == ContextMode::summary && b + 1 < doc.nblocks();
    const Stage s = runner.run(st, {job}, rng, -1);
    const std::vector<int>& where = s.masked[0];
    const std::span<const int> clean = doc.block(b);
    std::vector<int> targets, fill;
    std::vector<double> nll;
    int right = 0;
    for (size_t i = 0; i < where.size(); ++i) {
      const float* lg = s.pass->logits().data() + i * size_t(V);
      const int arg = int(std::max_element(lg, lg + V) - lg);
      targets.push_back(clean[size_t(where[i])]);
      nll.push_back(s.pass->nll()[i]);
      fill.push_back(arg);
      right += arg == targets.back();
    }
    if (!a.dump.empty() && !where.empty())
      dump.append(reinterpret_cast<const char*>(s.pass->logits().data()),
                  sizeof(float) * size_t(V) * where.size());
    double sum = 0;
    for (double x : nll) sum += x;
    const double bound = s.block_bound[0];
    if (a.json) {
      nlohmann::json j = {{"type", "block"},         {"block", b},
                          {"tokens", clean},         {"sentence", doc.sent(b)},
                          {"header", doc.header(b)}, {"masked", where},
                          {"targets", targets},      {"nll", nll},
                          {"nll_sum", sum},          {"argmax", fill},
                          {"bound", bound},          {"logits_row", row}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%-6d %-7zu %-10.4f %-8.3f %-10.4f\n", b, where.size(),
                  where.empty() ? 0.0 : sum / double(where.size()),
                  where.empty() ? 0.0 : double(right) / double(where.size()), bound);
      if (a.show) {
        std::vector<int> shown(clean.begin(), clean.end());
        for (size_t i = 0; i < where.size(); ++i) shown[size_t(where[i])] = fill[i];
        std::printf("       fill: %s\n", tok.decode(shown).c_str());
      }
    }
    row += int64_t(where.size());
    total_masked += int64_t(where.size());
    total_nll += sum;
    total_right += right;
    total_bound += bound;
  }
  const double per_tok = total_masked ? total_nll / double(total_masked) : 0.0;
  if (a.json) {
    nlohmann::json j = {{"type", "total"},
                        {"blocks", doc.nblocks()},
                        {"vocab", V},
                        {"masked", total_masked},
                        {"nll_per_token", per_tok},
                        {"accuracy", total_masked ? double(total_right) / total_masked : 0.0},
                        {"bound", total_bound / doc.nblocks()},
                        {"memory", context_mode_name(mode)},
                        {"mask_rate", decimal(a.mask_rate)},
                        {"seed", a.seed}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("total: %d blocks, %lld masked, NLL %.4f nats/token, bound %.4f\n", doc.nblocks(),
                (long long)total_masked, per_tok, total_bound / doc.nblocks());
  }
  if (!a.dump.empty()) write_file_atomic(a.dump, dump);
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "forward", "Run the model over a text block by block as evaluation does, and score it");
  sub->footer(
      "--dump-logits writes float32 little-endian: for each block in order, for each masked "
      "position in increasing order, the V logits of that position (docs/MODEL.md §7); --json "
      "gives each block's masked positions, targets and first row.");
  auto a = std::make_shared<ForwardArgs>();
  sub->add_option("-m,--model", a->model, "Checkpoint (.safetensors)")->required();
  auto* p = sub->add_option("-p,--prompt", a->prompt, "Text to run");
  auto* pf = sub->add_option("-f,--prompt-file", a->prompt_file, "File holding the text (UTF-8)");
  p->excludes(pf);
  sub->add_option("--mask-rate", a->mask_rate, "Share of each block's tokens masked, in (0, 1]")
      ->check(kFinite)
      ->capture_default_str();
  sub->add_option("--memory", a->memory,
                  "Context from earlier blocks: summary | window | none | full")
      ->capture_default_str();
  sub->add_option("--full-context", a->full_context, "--memory full: earlier tokens seen")
      ->check(IntRange(0, 1 << 24))
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed for the masks")->check(kUint64)->capture_default_str();
  sub->add_flag("--json", a->json, "JSON lines: one object per block, then the total");
  sub->add_option("--dump-logits", a->dump, "Write the raw logits of the masked positions here");
  sub->add_flag("--show", a->show, "Print the model's fill of the masked positions");
  add_device_option(sub, a->device);
  sub->callback([=] {
    if (a->prompt.empty() && a->prompt_file.empty())
      throw UsageError("forward", "give --prompt or --prompt-file");
    run_forward(*a);
  });
}

}  // namespace bs::cli
