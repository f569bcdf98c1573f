// The training pass (PackedPass, what the trainer optimises) and the inference pass
// (ForwardContext, what the generator samples from) must compute the same function: the trainer
// "builds exactly the context and masks that generation will see" only if the same context gives
// the same probabilities in both. Checked on packed sequences of different lengths and memory
// modes, with weights perturbed away from init so attention and the recency bias matter.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "blocks/layout.h"
#include "core/forward.h"
#include "core/model.h"
#include "kernels/backward.h"
#include "kernels/thread_pool.h"
#include "training/packed_pass.h"

namespace {

bs::ModelConfig cfg() {
  bs::ModelConfig c;
  c.vocab = 48, c.d = 32, c.layers = 2, c.heads = 4, c.ffn = 48;
  c.block = 8, c.summary_slots = 2, c.window = 3, c.max_memory_blocks = 2, c.header_tokens = 2;
  c.recency_init = 0.9f;
  c.rope_ntk = 1.2f;
  return c;
}

// -log softmax(logits)[target] in double.
double nll_of(const float* logits, int V, int target) {
  double mx = logits[0];
  for (int v = 1; v < V; ++v) mx = std::max(mx, double(logits[v]));
  double z = 0;
  for (int v = 0; v < V; ++v) z += std::exp(double(logits[v]) - mx);
  return std::log(z) + mx - double(logits[target]);
}

TEST(TrainInfer, TrainingPassGivesTheInferenceProbabilities) {
  for (int threads : {1, 2}) {
    bs::set_num_threads(threads);
    const bs::ModelConfig c = cfg();
    bs::Model m(c);
    m.init_random();
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.f, 0.12f);
    for (auto& p : m.params) p += nd(rng);
    std::uniform_int_distribution<int> tok(5, c.vocab - 1);
    std::vector<float> mem(size_t(2 * c.summary_slots) * c.d);
    for (float& v : mem) v = nd(rng) * 4.f;

    // Three contexts: summary mode (memory, header, window), window only, block alone.
    struct Ctx {
      std::vector<int> hdr, win, blk, sent;
      int mem_rows;
    };
    std::vector<Ctx> ctxs;
    for (int k = 0; k < 3; ++k) {
      Ctx x;
      if (k == 0) x.hdr = {tok(rng), tok(rng)};
      if (k < 2)
        for (int i = 0; i < c.window; ++i) x.win.push_back(tok(rng));
      for (int i = 0; i < c.block; ++i) x.blk.push_back(i % 3 == k ? 4 : tok(rng));  // 4 = mask
      x.sent = {0, 0, 1, 1, 1, 2, 2, 2};
      x.mem_rows = k == 0 ? 2 * c.summary_slots : 0;
      ctxs.push_back(x);
    }
    std::vector<bs::PassSeq> seqs;
    std::vector<std::vector<double>> want;  // per context: nll per X row (target = row index + 5)
    for (const Ctx& x : ctxs) {
      bs::BlockContext bc;
      bc.mem = x.mem_rows ? mem.data() : nullptr;
      bc.mem_rows = x.mem_rows;
      bc.header = x.hdr, bc.window = x.win, bc.block = x.blk, bc.sentence = x.sent;
      bs::PassSeq p;
      p.spec = bs::make_block_spec(c, bc);
      bs::ForwardContext fc(m, bs::kernels::cpu_ops());
      fc.forward(p.spec);
      std::vector<double> w;
      for (int i = 0; i < c.block; ++i) {
        p.loss_rows.push_back(p.spec.out_begin + i);
        p.targets.push_back(5 + i);
        p.weights.push_back(1.f);
        w.push_back(nll_of(fc.logits().data() + size_t(i) * c.vocab, c.vocab, 5 + i));
      }
      seqs.push_back(std::move(p));
      want.push_back(w);
    }
    bs::PackedPass pass(m, bs::kernels::cpu_ops(), bs::kernels::cpu_grad_ops());
    pass.forward(seqs);
    const std::vector<float>& got = pass.nll();
    ASSERT_EQ(got.size(), size_t(3 * c.block));
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < c.block; ++i)
        EXPECT_NEAR(got[size_t(k * c.block + i)], want[k][i], 2e-4 * (1 + want[k][i]))
            << "context " << k << " row " << i << " threads " << threads;
  }
  bs::set_num_threads(1);
}

}  // namespace
