// How confident a trained model is on held-out text, by masking rate: the figure that decides
// how many tokens threshold decoding (generate --strategy threshold) can fill per step.
//
// For validation blocks (b >= 1, window context [W | X̃], the same for every checkpoint) and each
// masking rate t, one random mask; for every masked position: p_max (the top probability of the
// softmax over the vocabulary, reserved ids included), whether the argmax is the true token, and
// -log p(true). Reported per rate: mean p_max, the share of positions with p_max above 0.5 / 0.9
// (what τ = 0.5 / 0.9 could fill at once), the argmax accuracy overall and among positions above
// 0.5 (calibration: a calibrated model is right about as often as it says), and the mean NLL.
// Then threshold decoding with the true text as context: each block starts fully masked; every
// step unmasks the positions whose p_max exceeds τ (at least the most confident one) and fills
// them with the *true* tokens, so the context is always real text. Steps per block there are
// what the threshold rule could reach on text the model reads at its best.
//
//   build/cpu-release/bench/bench_confidence --model runs/story-small/model.safetensors
//       --data data/stories [--blocks 400] [--threads 2]   (one command line)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "blocks/layout.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/forward.h"
#include <CLI/CLI.hpp>

#include "text/tokenizer.h"
#include "kernels/thread_pool.h"
#include "corpus/prepare.h"
#include "training/masking.h"
#include "training/trainer.h"

namespace {

struct Args {
  std::string model, data;
  int blocks = 400, threads = 2, decode_blocks = 50;
};

struct Tally {
  double n = 0, pmax = 0, above5 = 0, above9 = 0, right = 0, right5 = 0, right9 = 0, nll = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"How often the model is confident, and how right it is then"};
  app.add_option("--model", a.model, "Checkpoint (.safetensors)")->required();
  app.add_option("--data", a.data, "Prepared corpus (its validation split is read)")->required();
  app.add_option("--blocks", a.blocks, "Validation blocks")->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--threads", a.threads, "Threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--decode-blocks", a.decode_blocks, "Blocks decoded with the true text filled in")
      ->check(CLI::Range(0, 1 << 24))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    bs::set_num_threads(a.threads);
    bs::Checkpoint ck = bs::load_checkpoint(a.model);
    const bs::Model& m = *ck.model;
    const bs::ModelConfig& c = m.config();
    bs::PreparedCorpus corpus = bs::open_prepared_corpus(a.data);
    if (corpus.tokenizer.hash() != ck.tokenizer->hash())
      throw bs::Error(a.data, "its tokenizer differs from the model's");
    auto docs = bs::load_blocks(corpus.val, c.block, *ck.tokenizer, 0);
    const int L = c.block, V = c.vocab, W = c.window;
    const std::vector<float> rates = {1.f / float(L), 0.25f, 0.5f, 0.75f, 1.f};
    std::vector<Tally> tally(rates.size());
    bs::ForwardContext fc(m, bs::kernels::cpu_ops());
    std::mt19937_64 rng(7);
    int used = 0;
    for (size_t d = 0; d < docs.size() && used < a.blocks; ++d)
      for (int b = 1; b < docs[d].nblocks() && used < a.blocks; ++b, ++used) {
        std::span<const int> clean = docs[d].block(b);
        for (size_t r = 0; r < rates.size(); ++r) {
          std::vector<int> xm;
          std::vector<int> where = bs::mask_block(clean, rates[r], bs::Tokenizer::kMask, rng, xm);
          if (where.empty()) continue;
          bs::BlockContext ctx;
          ctx.window = {clean.data() - W, size_t(W)};
          ctx.block = xm;
          fc.clear_cache();
          fc.forward(bs::make_block_spec(c, ctx));
          Tally& t = tally[r];
          for (int i : where) {
            const float* lg = fc.logits().data() + size_t(i) * V;
            const int top = int(std::max_element(lg, lg + V) - lg);
            double z = 0;
            for (int v = 0; v < V; ++v) z += std::exp(double(lg[v]) - lg[top]);
            const double pmax = 1.0 / z;
            const bool right = top == clean[i];
            t.n += 1;
            t.pmax += pmax;
            t.right += right;
            t.nll += std::log(z) + lg[top] - lg[clean[i]];
            if (pmax > 0.5) t.above5 += 1, t.right5 += right;
            if (pmax > 0.9) t.above9 += 1, t.right9 += right;
          }
        }
      }
    std::printf("%s: %d validation blocks, window context\n", a.model.c_str(), used);
    std::printf("%-8s %9s %9s %10s %10s %9s %12s %12s %8s\n", "rate", "masked", "mean pmax",
                "pmax>0.5", "pmax>0.9", "accuracy", "acc|p>0.5", "acc|p>0.9", "nll");
    for (size_t r = 0; r < rates.size(); ++r) {
      const Tally& t = tally[r];
      auto share = [&](double k) { return t.n > 0 ? 100.0 * k / t.n : 0.0; };
      auto cond = [](double k, double n) { return n > 0 ? 100.0 * k / n : NAN; };
      std::printf("%-8.3f %9.0f %9.3f %9.2f%% %9.2f%% %8.1f%% %11.1f%% %11.1f%% %8.3f\n", rates[r],
                  t.n, t.pmax / std::max(t.n, 1.0), share(t.above5), share(t.above9),
                  share(t.right), cond(t.right5, t.above5), cond(t.right9, t.above9),
                  t.nll / std::max(t.n, 1.0));
    }
    // Threshold decoding on true text.
    for (float tau : {0.9f, 0.5f}) {
      int nb = 0;
      long steps = 0;
      for (size_t d = 0; d < docs.size() && nb < a.decode_blocks; ++d)
        for (int b = 1; b < docs[d].nblocks() && nb < a.decode_blocks; ++b, ++nb) {
          std::span<const int> clean = docs[d].block(b);
          std::vector<int> x(size_t(L), bs::Tokenizer::kMask);
          bs::BlockContext ctx;
          ctx.window = {clean.data() - W, size_t(W)};
          for (int open = L; open > 0; ++steps) {
            ctx.block = x;
            fc.clear_cache();
            fc.forward(bs::make_block_spec(c, ctx));
            int best = -1;
            double best_p = -1;
            std::vector<int> fill;
            for (int i = 0; i < L; ++i) {
              if (x[i] != bs::Tokenizer::kMask) continue;
              const float* lg = fc.logits().data() + size_t(i) * V;
              const float mx = *std::max_element(lg, lg + V);
              double z = 0;
              for (int v = 0; v < V; ++v) z += std::exp(double(lg[v]) - mx);
              const double pmax = 1.0 / z;
              if (pmax > tau) fill.push_back(i);
              if (pmax > best_p) best_p = pmax, best = i;
            }
            if (fill.empty()) fill.push_back(best);
            for (int i : fill) x[i] = clean[i];
            open -= int(fill.size());
          }
        }
      std::printf("threshold %.1f, true text as context: %.1f steps per block of %d (%d blocks)\n",
                  tau, nb ? double(steps) / nb : 0.0, L, nb);
    }
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
