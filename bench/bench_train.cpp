// Training benchmark for the default small model (V 4096, C 256, 6 layers, 4 heads, F 1024),
// 1 and 2 threads. Two measurements:
//   plain8x512: one optimizer step (forward + hand-written backward + AdamW) over 8 sequences of
//               512 tokens with a loss on every row — the shape PyTorch was measured on;
//               tokens/s and GFLOP/s (3 × forward FLOPs: the backward does two products per
//               forward product) next to a plain sgemm and an FMA probe measured in the same run.
//   blockstep:  the design's training step (story-small: batch 8 × unroll 4 blocks of 64, burn-in
//               4, masked + clean pass per block, backward through the summaries); tokens/s
//               counts block tokens trained (2048 per step), which is what a user's epoch costs;
//               GFLOP/s counts every pass the step runs (PackedPass::flops: burn-in forwards,
//               masked and clean passes 3× forward), the median over steps.
//
//   build/cpu-release/bench/bench_train [--repeats N] [--threads-list 1,2]
// Like `blockscribe train` it keeps freed memory in the heap (core/heap.h); BS_DEFAULT_MALLOC=1
// measures the same steps with glibc's default policy, for the comparison in docs/BENCHMARKS.md.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/sgemm_probe.h"
#include "blocks/layout.h"
#include "core/heap.h"
#include "text/tokenizer.h"
#include "kernels/thread_pool.h"
#include "training/adamw.h"
#include "training/packed_pass.h"
#include "training/trainer.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Forward FLOPs of one plain sequence of T tokens with logits on every row.
double plain_forward_flops(const bs::ModelConfig& c, int T) {
  const double C = c.d, F = c.ffn, V = c.vocab;
  const double visible = double(T) * T;  // bidirectional block: every row sees every key
  const double per_layer =
      2.0 * T * C * (3 * C + C + 2 * F) + 2.0 * T * F * C + 2.0 * 2 * visible * C;
  return c.layers * per_layer + 2.0 * T * C * V;
}

}  // namespace

int main(int argc, char** argv) {
  bs::bench::BenchArgs args{5};
  if (!std::getenv("BS_DEFAULT_MALLOC")) bs::keep_freed_memory();  // as `train` does
  if (const int rc = bs::bench::parse_bench_args(argc, argv, "bench_train", args); rc >= 0) return rc;
  const int repeats = args.repeats;
  const std::vector<int>& threads = args.threads;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> tok(10, 4095);

  // plain8x512 --------------------------------------------------------------------------------
  bs::ModelConfig c512;
  c512.block = 512;
  bs::Model m512(c512);
  m512.init_random();
  std::vector<bs::PassSeq> batch;
  for (int s = 0; s < 8; ++s) {
    std::vector<int> x(512);
    for (auto& t : x) t = tok(rng);
    bs::BlockContext ctx;
    ctx.block = x;
    bs::PassSeq p;
    p.spec = bs::make_block_spec(c512, ctx);
    for (int i = 0; i < 512; ++i) {
      p.loss_rows.push_back(p.spec.out_begin + i);
      p.targets.push_back(tok(rng));
      p.weights.push_back(1.f / 4096);
    }
    batch.push_back(std::move(p));
  }
  const double step_flops = 3.0 * 8 * plain_forward_flops(c512, 512);

  // blockstep: synthetic documents of 40 blocks (random ids of the 4096-token vocabulary, a
  // sentence every 20 tokens: the bench tokenizer below cannot read them, so the blocks are laid
  // out here rather than by cut_blocks).
  bs::Config cfg;  // defaults = story-small model; batch 8, unroll 4
  cfg.train.burn_in = 4;
  cfg.train.steps = 1000000;
  std::vector<bs::DocBlocks> docs;
  for (int d = 0; d < 16; ++d) {
    bs::DocBlocks b;
    b.L = 64;
    b.tokens.resize(40 * 64);
    b.sentence.resize(b.tokens.size());
    for (size_t i = 0; i < b.tokens.size(); ++i)
      b.tokens[i] = tok(rng), b.sentence[i] = int(i % 64) / 20;
    b.tokens.front() = bs::Tokenizer::kBos, b.tokens.back() = bs::Tokenizer::kEos;
    docs.push_back(std::move(b));
  }
  std::vector<std::string> tdocs = {"a tiny tokenizer only for the trainer's bookkeeping"};
  for (int i = 0; i < 200; ++i)
    tdocs.push_back("Elizabeth walked to Longbourn on day " + std::to_string(i) + ".");
  std::vector<std::string_view> tv(tdocs.begin(), tdocs.end());
  bs::TokenizerTrainOptions to;
  to.vocab_size = 300;
  const std::string spm = bs::train_tokenizer(tv, to);

  std::printf("bench_train: V 4096, C 256, 6 layers, 4 heads, F 1024; median of %d steps\n",
              repeats);
  std::printf("%-8s %-11s %10s %10s %10s %10s %8s\n", "threads", "shape", "tokens/s", "GFLOP/s",
              "sgemm", "fma-probe", "of-sgemm");
  std::printf("(fma-probe: %s FMAs on every thread)\n", bs::bench::fma_probe_width());
  for (int th : threads) {
    bs::set_num_threads(th);
    const double fma = bs::bench::fma_probe_gflops(th, 0.3);
    const double sg = bs::bench::sgemm_gflops(th, 512, 1024, 256, 0.5);
    {
      bs::AdamW opt(m512);
      std::vector<float> grads(m512.num_params());
      bs::TrainConfig tc;
      std::vector<double> t;
      for (int r = 0; r <= repeats; ++r) {  // the first step is a warm-up
        const double t0 = now();
        std::fill(grads.begin(), grads.end(), 0.f);
        bs::PackedPass pass(m512, bs::kernels::cpu_ops(), bs::kernels::cpu_grad_ops());
        pass.forward(batch);
        pass.backward(std::vector<const float*>(8, nullptr), grads.data());
        opt.step(m512.params, grads, tc, 1e-4f);
        if (r > 0) t.push_back(now() - t0);
      }
      const double med = median(t);
      std::printf("%-8d %-11s %10.0f %10.1f %10.1f %10.1f %7.0f%%\n", th, "plain8x512", 4096 / med,
                  step_flops / med / 1e9, sg, fma, 100 * step_flops / med / 1e9 / sg);
    }
    {
      bs::Trainer tr(cfg, bs::Tokenizer::from_serialized(spm, "bench tokenizer"), docs);
      std::vector<double> t, gf;
      int64_t tokens = 0;
      for (int r = 0; r <= repeats; ++r) {
        bs::StepStats s = tr.step();
        if (r > 0)
          t.push_back(s.seconds), gf.push_back(s.flops / s.seconds / 1e9), tokens = s.tokens;
      }
      const double g = median(gf);
      std::printf("%-8d %-11s %10.0f %10.1f %10.1f %10.1f %7.0f%%\n", th, "blockstep",
                  tokens / median(t), g, sg, fma, 100 * g / sg);
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
  return 0;
}
