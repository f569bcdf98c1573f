// blockscribe forward — runs the model over a prompt block by block, the way generation will:
// each block is scored with a random subset of its tokens masked (context [M | W | X̃]), then
// committed with a clean pass whose summary joins the memory M of the next block. Prints, per
// block, the masked-token NLL and accuracy and the model's fill of the masked positions.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>

#include "blocks/layout.h"
#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/forward.h"
#include "text/sentences.h"
#include "blocks/summary_memory.h"
#include "training/masking.h"

namespace bs::cli {
namespace {

struct ForwardArgs {
  std::string model, prompt, prompt_file, memory = "summary";
  float mask_rate = 0.5f;
  uint64_t seed = 1;
  bool show = false;
};

void run_forward(const ForwardArgs& a) {
  Checkpoint ck = load_checkpoint(a.model);
  const Model& m = *ck.model;
  const ModelConfig& c = m.config();
  std::string text = a.prompt;
  std::string what = "--prompt";
  if (!a.prompt_file.empty()) {
    text = read_file(a.prompt_file);
    what = a.prompt_file;
  }
  if (text.empty()) throw Error(what, "prompt is empty");
  Encoding enc = ck.tokenizer->encode_with_offsets(text, what);
  std::vector<SentenceSpan> sents = sentence_spans(text, what.c_str());
  std::vector<uint32_t> sidx = token_sentence_indices(enc.spans, sents);
  std::vector<int> ids = {Tokenizer::kBos};
  std::vector<int> sid = {0};
  ids.insert(ids.end(), enc.ids.begin(), enc.ids.end());
  sid.insert(sid.end(), sidx.begin(), sidx.end());

  SummaryMemory mem(c.max_memory_blocks, c.summary_slots, c.d);
  ForwardContext fc(m, kernels::cpu_ops());
  std::mt19937_64 rng(a.seed);
  double total_nll = 0, t_total = 0;
  long total_masked = 0, total_rows = 0;
  std::printf("%-6s %-7s %-7s %-10s %-8s %-8s\n", "block", "tokens", "masked", "nll/tok", "acc",
              "ms");
  for (size_t b0 = 0, bi = 0; b0 < ids.size(); b0 += c.block, ++bi) {
    size_t b1 = std::min(ids.size(), b0 + size_t(c.block));
    std::vector<int> clean(ids.begin() + b0, ids.begin() + b1);
    std::vector<int> sent(sid.begin() + b0, sid.begin() + b1);
    for (auto& s : sent) s -= int(sid[b0]);
    std::vector<int> masked;
    std::vector<int> where = mask_block(clean, a.mask_rate, Tokenizer::kMask, rng, masked, true);
    std::vector<int> window;
    if (b0 > 0) window.assign(ids.begin() + b0 - std::min<size_t>(b0, c.window), ids.begin() + b0);
    BlockContext ctx;
    if (a.memory == "summary") {
      ctx.mem = mem.data();
      ctx.mem_rows = mem.rows();
      ctx.window = window;
    }
    ctx.block = masked;
    ctx.sentence = sent;
    auto t0 = std::chrono::steady_clock::now();
    SeqSpec spec = make_block_spec(c, ctx);
    fc.clear_cache();
    fc.forward(spec);
    // Masked-token NLL from the logits (log-softmax per masked row) and the argmax fill.
    double nll = 0;
    int correct = 0;
    std::vector<int> fill = masked;
    for (int i : where) {
      const float* lg = fc.logits().data() + size_t(i) * c.vocab;
      float mx = lg[0];
      int arg = 0;
      for (int v = 1; v < c.vocab; ++v)
        if (lg[v] > mx) mx = lg[v], arg = v;
      double z = 0;
      for (int v = 0; v < c.vocab; ++v) z += std::exp(double(lg[v]) - mx);
      nll += -(double(lg[clean[i]]) - mx - std::log(z));
      correct += arg == clean[i];
      fill[i] = arg;
    }
    total_rows += spec.T;
    // Commit: clean pass with Σ, reusing the prefix rows already in the cache.
    ctx.block = clean;
    ctx.slots = true;
    SeqSpec commit = make_block_spec(c, ctx);
    fc.forward(commit, commit.out_begin);
    if (a.memory == "summary") mem.push(fc.summary());
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    t_total += ms;
    total_nll += nll;
    total_masked += long(where.size());
    std::printf("%-6zu %-7zu %-7zu %-10.4f %-8.3f %-8.2f\n", bi, clean.size(), where.size(),
                nll / where.size(), double(correct) / where.size(), ms);
    if (a.show) {
      std::vector<int> shown;
      for (int t : fill)
        if (t >= Tokenizer::kNumReserved || t == Tokenizer::kMask) shown.push_back(t);
      std::printf("       fill: %s\n", ck.tokenizer->decode(shown).c_str());
    }
  }
  std::printf("total: %zu tokens, %ld masked, NLL %.4f nats/token, %.0f tokens/s\n", ids.size(),
              total_masked, total_nll / total_masked, ids.size() / (t_total / 1000.0));
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto* sub =
      app.add_subcommand("forward", "Run the model over a prompt block by block and score it");
  auto a = std::make_shared<ForwardArgs>();
  sub->add_option("-m,--model", a->model, "Checkpoint (.safetensors)")->required();
  auto* p = sub->add_option("-p,--prompt", a->prompt, "Prompt text");
  auto* pf = sub->add_option("--prompt-file", a->prompt_file, "File holding the prompt (UTF-8)");
  p->excludes(pf);
  sub->add_option("--mask-rate", a->mask_rate, "Fraction of each block's tokens masked for scoring")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--memory", a->memory, "Context from earlier blocks: summary (M + W) or none")
      ->check(CLI::IsMember({"summary", "none"}))
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed for the masks")->capture_default_str();
  sub->add_flag("--show", a->show, "Print the model's fill of the masked positions");
  sub->callback([=] {
    if (a->prompt.empty() && a->prompt_file.empty())
      throw Error("forward", "give --prompt or --prompt-file");
    run_forward(*a);
  });
}

}  // namespace bs::cli
