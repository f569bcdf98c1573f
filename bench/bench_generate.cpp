// Generation benchmark on a trained checkpoint: 32 blocks of 64 tokens, written by
//   (a) naive:     full recompute of the whole context at every step, one token per step
//   (b) cache:     exact prefix cache, one token per step (the same text as (a))
//   (c) threshold: prefix cache + threshold decoding at tau = 0.9
//   (c') (c) with greedy candidates (temperature 0), and (e) (c) with tau = 0.5
//   (d) default:   prefix cache + low_confidence with the config's 16 steps, and (f), (g),
//                  (h) the same with 8, 4 and 2 steps (the step budget as the speed lever)
//   (b-) (b) with per-call BLAS products instead of the weights packed once (the kernel A/B)
//   (b2) (b) with the AVX2 micro-kernel where the CPU has AVX-512 (the same text)
//   (r)  one token per step in a random order: the masked-diffusion ancestral sampler
//   (i)  the checkpoint's [generate] defaults; (j), (k) 4 steps with repeat penalty 1.1 and 1.3;
//   (l)  4 steps with top-p 0.9 (the defaults are chosen from these)
// Each reports tokens/s, seconds per block, steps per block and three quality figures of the
// text it wrote: its NLL bound under the same model (summary mode, 16 masking rates per block;
// lower = text the model finds more probable, which rewards repetition), the perplexity of an
// independent judge (with --data: a Kneser-Ney 4-gram model of the training split,
// eval/ngram_judge.h; its perplexity on the real validation text is printed as the
// reference) and distinct-2 (unique / all token bigrams; lower = more repetition), so speed is
// never bought with garbage unseen.
// Then peak RSS of separate processes writing 10 vs 200 blocks in summary mode, and 10 vs 200
// (--full-blocks) in the full-context mode (all earlier tokens as raw context) for contrast; the
// full mode's 200 blocks take about 7 minutes on 2 threads (its context grows by 64 rows a block).
//
//   build/cpu-release/bench/bench_generate --model runs/story-small/model.safetensors
//       [--data data/stories] [--repeats 3] [--threads 2] [--blocks 32] [--full-blocks 200]
//       [--no-rss] [--only a,f,g] [--register-blocks 16] [--prompt FILE]
// With --data it also runs the register test: after an Austen prompt, the share of generated
// blocks an Austen-only 4-gram prefers over a King James-only one, summary memory on and off.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench/quality.h"
#include "bench/sgemm_probe.h"
#include "blocks/generator.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "corpus/shard.h"
#include "eval/evaluate.h"
#include "eval/ngram_judge.h"
#include "kernels/packed_matmul.h"
#include "kernels/thread_pool.h"
#include "session/session.h"

namespace {

struct Args {
  std::string model, data;
  int repeats = 3, threads = 2, blocks = 32, full_blocks = 200;
  bool rss = true;
  std::string child_mode;  // internal: --child MODE BLOCKS measures one process's peak RSS
  int child_blocks = 0;
  int register_blocks = 16;  // blocks written after the Austen prompt per register run (0: none)
  std::string prompt;        // the register test's prompt file
  std::string only;          // --only: the variants to run, by letter ("a,f,g"); empty: all
};

// The variant's letter: "(b-) as (b)..." -> "b-".
std::string letter_of(const char* name) {
  const char* e = std::strchr(name, ')');
  return e ? std::string(name + 1, e) : std::string(name);
}

struct Run {
  double tok_s = 0, s_per_block = 0, steps_per_block = 0, gflops = 0;
  std::vector<int> tokens;
};

Run generate(const bs::Model& m, const bs::Tokenizer& tok, const bs::GenOptions& o, int blocks) {
  bs::GenOptions opt = o;
  opt.sampler.allow_eos = false;  // every variant writes all its blocks
  bs::Generator g(m, tok, opt);
  auto session = bs::Session::create(g, bs::SessionStart{});  // what `generate` runs, in memory
  double seconds = 0;
  long steps = 0;
  const int made = session->write(blocks, [&](const bs::Block& out) {
    seconds += out.seconds;  // the generator's time: denoising and the commit pass
    steps += out.steps;
  });
  Run r;
  r.tokens = session->document().tokens();
  r.tok_s = double(made) * m.config().block / seconds;
  r.s_per_block = seconds / std::max(made, 1);
  r.steps_per_block = double(steps) / std::max(made, 1);
  r.gflops = session->document().flops() / seconds / 1e9;
  return r;
}

// NLL bound of a generated document under the model (summary mode).
double self_nll(const bs::Model& m, const bs::Tokenizer& tok, const std::vector<int>& tokens) {
  bs::EvalOptions o;
  o.samples = 16;
  return bs::evaluate(m, {bs::doc_blocks(tokens, m.config().block, tok)}, o).nll;
}

// Runs this program again as `--child MODE BLOCKS` and returns the peak RSS it reports (MiB).
double child_rss(const char* self, const Args& a, const char* mode, int blocks) {
  const std::string cmd = std::string("exec '") + self + "' --model '" + a.model + "' --threads " +
                          std::to_string(a.threads) + " --child " + mode + " " +
                          std::to_string(blocks);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  double mib = -1;
  if (std::fscanf(p, "%lf", &mib) != 1) mib = -1;
  pclose(p);
  return mib;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Generation speed next to quality, per decoding variant"};
  app.add_option("--model", a.model, "Checkpoint (.safetensors)")->required();
  app.add_option("--data", a.data, "Prepared corpus: the judge and real text's figures");
  app.add_option("--repeats", a.repeats, "Runs per variant (the median is reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--threads", a.threads, "Threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--blocks", a.blocks, "Blocks per run")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--full-blocks", a.full_blocks, "Blocks of the full-context peak-RSS run")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_flag("!--no-rss", a.rss, "Skip the peak-RSS runs");
  app.add_option("--register-blocks", a.register_blocks,
                 "Register test: blocks after the Austen prompt per run (0 = skip; needs --data)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--only", a.only,
                 "Variants to run, by letter, comma-separated (e.g. a,f,g; default: all; (a) is "
                 "the speed-up's base and always runs)");
  app.add_option("--prompt", a.prompt,
                 "The register test's prompt (default: samples/prompts/austen.txt)");
  std::vector<std::string> child;
  app.add_option("--child", child, "internal: MODE BLOCKS, report one run's peak RSS")
      ->expected(2)
      ->group("");
  CLI11_PARSE(app, argc, argv);
  if (!child.empty()) {
    a.child_mode = child[0];
    a.child_blocks = std::atoi(child[1].c_str());
  }
  try {
    bs::set_num_threads(a.threads);
    bs::Checkpoint ck = bs::load_checkpoint(a.model);
    const bs::Model& m = *ck.model;
    const int L = m.config().block;
    if (!a.child_mode.empty()) {  // one RSS measurement
      bs::GenOptions o;
      o.memory = bs::parse_context_mode(a.child_mode);
      o.steps = 2;  // RSS does not depend on the step count; keeps the full mode affordable
      generate(m, *ck.tokenizer, o, a.child_blocks);
      // VmHWM, not getrusage: ru_maxrss survives exec and would report the parent's peak.
      std::FILE* f = std::fopen("/proc/self/status", "r");
      char line[256];
      double kib = -1;
      while (f && std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
      if (f) std::fclose(f);
      std::printf("%.1f\n", kib / 1024.0);
      return 0;
    }
    struct Variant {
      const char* name;
      bs::GenOptions o;
      bool avx2 = false;  // the AVX2 micro-kernel even where AVX-512 is present
    };
    std::vector<Variant> vs(16);
    vs[0].name = "(a) naive, 1 token/step";
    vs[0].o.prefix_cache = false, vs[0].o.steps = L;
    vs[1].name = "(b) prefix cache, 1 token/step";
    vs[1].o.steps = L;
    vs[2].name = "(c) cache + threshold 0.9";
    vs[2].o.steps = L, vs[2].o.sampler.strategy = bs::Strategy::threshold;
    vs[2].o.sampler.threshold = 0.9f;
    // Threshold decoding as it is usually run (greedy candidates: the confidence is the top
    // probability, the highest a candidate can have), and with a lower tau.
    vs[3].name = "(c') greedy + threshold 0.9";
    vs[3].o = vs[2].o, vs[3].o.sampler.temperature = 0.f;
    vs[4].name = "(e) cache + threshold 0.5";
    vs[4].o = vs[2].o, vs[4].o.sampler.threshold = 0.5f;
    // The step budget: low_confidence with 16 steps (the config's default), 8, 4 and 2.
    const char* budget_names[4] = {
        "(d) cache, low_confidence 16 steps", "(f) cache, low_confidence 8 steps",
        "(g) cache, low_confidence 4 steps", "(h) cache, low_confidence 2 steps"};
    for (int i = 0; i < 4; ++i) {
      vs[5 + i].name = budget_names[i];
      vs[5 + i].o.steps = 16 >> i;
    }
    // The kernel comparison: (b) with per-call BLAS products instead of the packed weights.
    vs[9].name = "(b-) as (b), per-call BLAS";
    vs[9].o = vs[1].o, vs[9].o.packed_weights = false;
    // The masked-diffusion ancestral sampler: one token per step in a random order, each drawn
    // from the model's conditional given the tokens already placed: the quality reference that
    // no confidence order biases.
    vs[11].name = "(b2) as (b), AVX2 micro-kernel";
    vs[11].o = vs[1].o, vs[11].avx2 = true;
    vs[10].name = "(r) cache, random order, 1/step";
    vs[10].o = vs[1].o, vs[10].o.sampler.strategy = bs::Strategy::random;
    // The generation defaults: the checkpoint's own [generate], then repetition control and
    // nucleus sampling at 4 steps (what the defaults are chosen from).
    vs[12].name = "(i) the checkpoint's defaults";
    vs[12].o = bs::options_from_config(ck.config.generate);
    vs[13].name = "(j) 4 steps, repeat penalty 1.1";
    vs[13].o = vs[7].o, vs[13].o.sampler.repeat_penalty = 1.1f;
    vs[14].name = "(k) 4 steps, repeat penalty 1.3";
    vs[14].o = vs[7].o, vs[14].o.sampler.repeat_penalty = 1.3f;
    vs[15].name = "(l) 4 steps, top-p 0.9";
    vs[15].o = vs[7].o, vs[15].o.sampler.top_p = 0.9f;

    bs::bench::Judge jd;
    if (!a.data.empty()) jd = bs::bench::make_judge(a.data, *ck.tokenizer, size_t(a.blocks) * L);
    const bs::NgramJudge* judge = jd.ngram.get();
    std::printf("bench_generate: %s, %d blocks of %d tokens from <s>, %d threads, median of %d\n",
                a.model.c_str(), a.blocks, L, a.threads, a.repeats);
    if (judge)
      std::printf(
          "judge: Kneser-Ney 4-gram of %s/train.bin; real validation text: judge "
          "perplexity %.1f, distinct-2 %.3f, unigram entropy %.3f (windows of %d tokens)\n",
          a.data.c_str(), jd.real_ppl, jd.real_d2, jd.real_entropy, a.blocks * L);
    const double sgemm = bs::bench::sgemm_gflops(a.threads, 512, 1024, 256, 0.5);
    const double fma = bs::bench::fma_probe_gflops(a.threads, 0.3);
    std::printf(
        "same run: sgemm 512x1024x256 %.1f GFLOP/s, %s FMA probe %.1f GFLOP/s (%d threads); "
        "packed micro-kernel %s\n",
        sgemm, bs::bench::fma_probe_width(), fma, a.threads, bs::kernels::packed_isa());
    std::printf("%-32s %9s %9s %8s %9s %8s %10s %9s %8s %8s %s\n", "decoding", "tokens/s",
                "s/block", "steps", "speedup", "GFLOP/s", "text NLL", "judge PPL", "dist-2",
                "entropy", "same text as (a)");
    double base = 0;
    std::vector<std::vector<int>> base_docs;  // (a)'s documents, one per repeat
    std::set<std::string> only;
    for (size_t i = 0; i < a.only.size();) {
      size_t j = a.only.find(',', i);
      if (j == std::string::npos) j = a.only.size();
      only.insert(a.only.substr(i, j - i));
      i = j + 1;
    }
    for (const std::string& l : only) {
      bool known = false;
      for (const Variant& v : vs) known = known || letter_of(v.name) == l;
      if (!known) throw bs::Error("--only", "no variant (" + l + ")");
    }
    for (Variant& v : vs) {
      if (!only.empty() && base != 0 && !only.count(letter_of(v.name))) continue;
      std::vector<double> tps, gfs;
      Run last;
      bool same = true;
      const bool isa = std::string(bs::kernels::packed_isa()) == "avx512";
      if (v.avx2) bs::kernels::set_packed_avx512(false);
      for (int r = 0; r < a.repeats; ++r) {
        v.o.seed = uint64_t(r + 1);  // a different document per repeat; the same across variants
        last = generate(m, *ck.tokenizer, v.o, a.blocks);
        tps.push_back(last.tok_s);
        gfs.push_back(last.gflops);
        if (base == 0)
          base_docs.push_back(last.tokens);
        else
          same = same && last.tokens == base_docs[size_t(r)];
      }
      bs::kernels::set_packed_avx512(isa);
      std::sort(tps.begin(), tps.end());
      std::sort(gfs.begin(), gfs.end());
      const double med = tps[tps.size() / 2];
      const bool first = base == 0;
      if (first) base = med;
      const std::vector<int> text = bs::bench::text_tokens(last.tokens);
      const double judge_ppl = judge ? std::exp(judge->nll(text)) : NAN;
      std::printf("%-32s %9.0f %9.3f %8.1f %8.1fx %8.1f %10.4f %9.1f %8.3f %8.3f %s\n", v.name, med,
                  L / med, last.steps_per_block, med / base, gfs[gfs.size() / 2],
                  self_nll(m, *ck.tokenizer, last.tokens), judge_ppl,
                  bs::bench::distinct2(last.tokens), bs::bench::unigram_entropy(text),
                  first  ? "-"
                  : same ? "yes"
                         : "no");
      std::fflush(stdout);
    }
    if (a.register_blocks > 0 && !a.data.empty()) {
      // After an Austen prompt: does the text stay in Austen's register? Each generated block is
      // judged by an Austen-only and a King James-only 4-gram; the summary memory on (summary)
      // and off (window: only the last W tokens), the checkpoint's generation defaults, the
      // medians' seeds (1..repeats).
      const std::string pf =
          a.prompt.empty() ? std::string(BS_SOURCE_DIR) + "/samples/prompts/austen.txt" : a.prompt;
      const std::vector<int> prompt = ck.tokenizer->encode(bs::read_file(pf), pf);
      const bs::bench::RegisterJudges rj = bs::bench::make_register_judges(*ck.tokenizer, 50, L);
      std::printf(
          "register test: %d blocks after %s (%zu tokens), %s steps, %d runs; real "
          "Austen validation blocks the Austen judge prefers: %.3f\n",
          a.register_blocks, pf.c_str(), prompt.size(),
          std::to_string(ck.config.generate.steps).c_str(), a.repeats, rj.real_austen_share);
      for (const char* mode : {"summary", "window"}) {
        double share = 0;
        for (int r = 0; r < a.repeats; ++r) {
          bs::GenerateConfig g = ck.config.generate;
          g.seed = uint64_t(r + 1);
          bs::GenOptions o = bs::options_from_config(g, bs::parse_context_mode(mode));
          o.sampler.allow_eos = false;
          bs::Generator gen(m, *ck.tokenizer, o);
          bs::SessionStart st;
          st.prompt = prompt;
          auto sess = bs::Session::create(gen, std::move(st));
          sess->write(a.register_blocks, {});
          // The generated blocks only: those after the prompt's last (partial) block.
          const std::vector<int>& t = sess->document().tokens();
          const size_t from = ((prompt.size() + 1 + L - 1) / L) * size_t(L);
          share += bs::bench::austen_share(rj, std::vector<int>(t.begin() + from, t.end()), L);
        }
        std::printf("  memory %-8s generated blocks the Austen judge prefers: %.3f\n", mode,
                    share / a.repeats);
      }
    }
    if (a.rss) {
      std::printf("peak RSS (separate processes, MiB):\n");
      const double s10 = child_rss(argv[0], a, "summary", 10);
      const double s200 = child_rss(argv[0], a, "summary", 200);
      std::printf("  summary  10 blocks %.1f  200 blocks %.1f  growth %+.2f%%\n", s10, s200,
                  100 * (s200 - s10) / s10);
      const double f10 = child_rss(argv[0], a, "full", 10);
      const double fn = child_rss(argv[0], a, "full", a.full_blocks);
      std::printf("  full     10 blocks %.1f  %d blocks %.1f  growth %+.2f%%\n", f10, a.full_blocks,
                  fn, 100 * (fn - f10) / f10);
    }
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "bench_generate: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
