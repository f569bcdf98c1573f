// Forward-pass benchmark: the default small model (V 4096, C 256, 6 layers, 4 heads, F 1024)
// over a 512-token context, 1 and 2 threads. Reports tokens/s and achieved GFLOP/s next to a
// plain large sgemm and an FMA probe measured in the same run (the second vCPU of this machine is
// not always ours; the probe shows whether it was).
//
//   build/cpu-release/bench/bench_forward [--repeats N] [--threads-list 1,2]
//
// Two contexts: "plain512" = one 512-token block, logits on all 512 rows (the shape PyTorch was
// measured on); "block" = the design's block layout [M 32x4 | W 16 | X 64 | Σ 4] (logits on X).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/sgemm_probe.h"
#include "blocks/layout.h"
#include "core/forward.h"
#include "core/model.h"
#include "kernels/thread_pool.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Exact FLOPs of one forward call (multiply-add = 2), attention counted over visible keys only.
double forward_flops(const bs::ModelConfig& c, const bs::SeqSpec& s) {
  const double C = c.d, F = c.ffn, V = c.vocab, T = s.T;
  double visible = 0;
  for (int i = 0; i < s.T; ++i) visible += s.key_limit[i];
  double per_layer = 2 * T * C * (3 * C + C + 2 * F) + 2 * T * F * C + 2 * 2 * visible * C;
  double head = 2.0 * (s.out_end - s.out_begin) * C * V;
  double summary = 2.0 * (s.T - s.slot_begin) * C * C;
  return c.layers * per_layer + head + summary;
}

struct Result {
  double tok_s, gflops;
};

Result run(const bs::Model& m, const bs::SeqSpec& spec, int repeats, int tokens_per_call) {
  bs::ForwardContext fc(m, bs::kernels::cpu_ops());
  fc.forward(spec);  // warm-up (allocations, caches)
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    double t0 = now();
    fc.forward(spec);
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  double med = t[t.size() / 2];
  return {tokens_per_call / med, forward_flops(m.config(), spec) / med / 1e9};
}

}  // namespace

int main(int argc, char** argv) {
  bs::bench::BenchArgs args{15};
  if (const int rc = bs::bench::parse_bench_args(argc, argv, "bench_forward", args); rc >= 0) return rc;
  const int repeats = args.repeats;
  const std::vector<int>& threads = args.threads;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> tok(10, 4095);

  // plain512: a 512-token block, no memory, no Σ.
  bs::ModelConfig c512;
  c512.block = 512;
  c512.window = 16;
  bs::Model m512(c512);
  m512.init_random();
  std::vector<int> x512(512);
  for (auto& t : x512) t = tok(rng);
  bs::BlockContext ctx;
  ctx.block = x512;
  bs::SeqSpec plain = bs::make_block_spec(c512, ctx);

  // block: the design's layout with a full memory, the commit pass (with Σ).
  bs::ModelConfig cb;  // defaults: L 64, K 4, W 16; a memory of 32 blocks (as first measured)
  cb.max_memory_blocks = 32;
  bs::Model mb(cb);
  mb.init_random();
  std::vector<float> mem(size_t(cb.max_memory_blocks) * cb.summary_slots * cb.d);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : mem) v = nd(rng);
  std::vector<int> win(cb.window), blk(cb.block), sent(cb.block);
  for (auto& t : win) t = tok(rng);
  for (int i = 0; i < cb.block; ++i) blk[i] = tok(rng), sent[i] = i / 20;
  bs::BlockContext bctx;
  bctx.mem = mem.data();
  bctx.mem_rows = cb.max_memory_blocks * cb.summary_slots;
  bctx.window = win;
  bctx.block = blk;
  bctx.sentence = sent;
  bctx.slots = true;
  bs::SeqSpec block = bs::make_block_spec(cb, bctx);

  std::printf("bench_forward: V 4096, C 256, 6 layers, 4 heads, F 1024; median of %d runs\n",
              repeats);
  std::printf("%-8s %-8s %10s %10s %10s %10s %8s\n", "threads", "context", "tokens/s", "GFLOP/s",
              "sgemm", "fma-probe", "of-sgemm");
  std::printf("(fma-probe: %s FMAs on every thread)\n", bs::bench::fma_probe_width());
  for (int th : threads) {
    bs::set_num_threads(th);
    double fma = bs::bench::fma_probe_gflops(th, 0.3);
    double sg = bs::bench::sgemm_gflops(th, 512, 1024, 256, 0.5);
    Result a = run(m512, plain, repeats, 512);
    Result b = run(mb, block, repeats, cb.block);
    std::printf("%-8d %-8s %10.0f %10.1f %10.1f %10.1f %7.0f%%\n", th, "plain512", a.tok_s,
                a.gflops, sg, fma, 100 * a.gflops / sg);
    std::printf("%-8d %-8s %10.0f %10.1f %10.1f %10.1f %7.0f%%\n", th, "block", b.tok_s, b.gflops,
                sg, fma, 100 * b.gflops / sg);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
  return 0;
}
