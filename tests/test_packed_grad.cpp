// Gradient checks for the training pass: the hand-written backward against central finite
// differences of the loss, per tensor (random directions) and per element for the small ones —
// including the attention mask, the recency bias and the summary path across two blocks
// (block 1's loss reaches block 0's summary through the memory rows). Fixed seeds: the check is
// deterministic, and a wrong gradient term gives relative errors of order 1, far above the
// tolerance. Also: the optimised backward ops against the scalar reference ops, tensor by tensor.
// (Each backward op on its own: tests/test_grad_ops.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "blocks/layout.h"
#include "core/model.h"
#include "kernels/thread_pool.h"
#include "training/packed_pass.h"

namespace {

bs::ModelConfig grad_cfg(const std::string& recency = "linear") {
  bs::ModelConfig c;
  c.vocab = 40, c.d = 16, c.layers = 2, c.heads = 2, c.ffn = 24;
  c.block = 6, c.summary_slots = 2, c.window = 2, c.max_memory_blocks = 3, c.header_tokens = 2;
  c.recency = recency;
  c.recency_init = 0.7f;
  c.rope_ntk = 1.3f;
  return c;
}

// A two-block document: block 0 (masked + clean passes), then block 1 with block 0's summary as
// memory, its last tokens as window and a header (masked + clean passes).
struct TwoBlocks {
  std::vector<int> b0 = {11, 12, 13, 14, 15, 16}, b1 = {21, 22, 23, 24, 25, 26};
  std::vector<int> s0 = {0, 0, 1, 1, 1, 2}, s1 = {0, 1, 1, 2, 2, 2};
  std::vector<int> hdr = {6, 30};
  std::vector<int> m0 = {1, 3}, m1 = {0, 2, 5};  // masked positions
  float t0 = 0.4f, t1 = 0.6f;

  bs::PassSeq masked(const bs::ModelConfig& c, const std::vector<int>& blk,
                     const std::vector<int>& sent, const std::vector<int>& where, float t,
                     const float* mem, int mem_rows, std::span<const int> win,
                     std::span<const int> header) const {
    std::vector<int> x = blk;
    for (int i : where) x[i] = 4;
    bs::BlockContext ctx;
    ctx.mem = mem, ctx.mem_rows = mem_rows, ctx.window = win, ctx.header = header;
    ctx.block = x, ctx.sentence = sent;
    bs::PassSeq p;
    p.spec = bs::make_block_spec(c, ctx);
    for (int i : where) {
      p.loss_rows.push_back(p.spec.out_begin + i);
      p.targets.push_back(blk[i]);
      p.weights.push_back(1.f / (t * float(blk.size())));
    }
    return p;
  }
  bs::PassSeq clean(const bs::ModelConfig& c, const std::vector<int>& blk,
                    const std::vector<int>& sent, const float* mem, int mem_rows,
                    std::span<const int> win, std::span<const int> header) const {
    bs::BlockContext ctx;
    ctx.mem = mem, ctx.mem_rows = mem_rows, ctx.window = win, ctx.header = header;
    ctx.block = blk, ctx.sentence = sent, ctx.slots = true;
    bs::PassSeq p;
    p.spec = bs::make_block_spec(c, ctx);
    return p;
  }

  // Loss of both blocks; with grads != null also the full backward.
  double run(const bs::Model& m, const bs::kernels::Ops& ops, const bs::kernels::GradOps& g,
             float* grads) const {
    const auto& c = m.config();
    bs::PackedPass p0(m, ops, g), p1(m, ops, g);
    std::vector<bs::PassSeq> s;
    s.push_back(masked(c, b0, s0, m0, t0, nullptr, 0, {}, {}));
    s.push_back(clean(c, b0, s0, nullptr, 0, {}, {}));
    double loss = p0.forward(std::move(s));
    std::vector<float> mem(p0.summary(1), p0.summary(1) + c.summary_slots * c.d);
    std::span<const int> win(b0.data() + b0.size() - c.window, c.window);
    s.clear();
    s.push_back(masked(c, b1, s1, m1, t1, mem.data(), c.summary_slots, win, hdr));
    s.push_back(clean(c, b1, s1, mem.data(), c.summary_slots, win, hdr));
    loss += p1.forward(std::move(s));
    if (grads) {
      p1.backward({nullptr, nullptr}, grads);
      std::vector<float> dsum(mem.size());
      for (size_t i = 0; i < dsum.size(); ++i) dsum[i] = p1.d_mem(0)[i] + p1.d_mem(1)[i];
      p0.backward({nullptr, dsum.data()}, grads);
    }
    return loss;
  }
};

void randomize(bs::Model& m, uint32_t seed) {
  m.init_random();
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 0.3f);
  for (auto& p : m.params) p += nd(rng);
  // Keep the recency betas clearly positive (the max(beta, 0) kink is not differentiable at 0).
  for (auto& L : m.layers)
    if (L.recency)
      for (int h = 0; h < m.config().heads; ++h) L.recency[h] = 0.5f + 0.4f * h;
}

class GradCheck : public ::testing::TestWithParam<std::string> {};

TEST_P(GradCheck, BackwardMatchesFiniteDifferencesPerTensor) {
  bs::set_num_threads(1);
  bs::Model m(grad_cfg(GetParam()));
  randomize(m, 3);
  TwoBlocks doc;
  const auto& ops = bs::kernels::ref_ops();
  const auto& g = bs::kernels::ref_grad_ops();
  std::vector<float> grads(m.params.size(), 0.f);
  doc.run(m, ops, g, grads.data());
  std::mt19937 rng(9);
  // 3e-3: at 1e-2 the curvature of the summary path already costs a few % (measured); float
  // rounding of the loss stays far below the tolerance down to 1e-3.
  const float eps = 3e-3f;
  int checked = 0;
  for (const auto& t : m.tensors()) {
    // Small tensors element by element, large ones along 3 random directions.
    const bool elementwise = t.numel <= 16;
    const int dirs = elementwise ? int(t.numel) : 3;
    for (int k = 0; k < dirs; ++k) {
      std::vector<float> u(t.numel, 0.f);
      if (elementwise)
        u[k] = 1.f;
      else  // unit-norm ±1/sqrt(n) direction: the step is eps long whatever the tensor's size
        for (auto& v : u) v = ((rng() & 1) ? 1.f : -1.f) / std::sqrt(float(t.numel));
      double ana = 0;
      for (size_t i = 0; i < t.numel; ++i) ana += double(grads[t.offset + i]) * u[i];
      std::vector<float> saved(m.params.begin() + t.offset, m.params.begin() + t.offset + t.numel);
      for (size_t i = 0; i < t.numel; ++i) m.params[t.offset + i] = saved[i] + eps * u[i];
      double fp = doc.run(m, ops, g, nullptr);
      for (size_t i = 0; i < t.numel; ++i) m.params[t.offset + i] = saved[i] - eps * u[i];
      double fm = doc.run(m, ops, g, nullptr);
      std::copy(saved.begin(), saved.end(), m.params.begin() + t.offset);
      double num = (fp - fm) / (2 * eps);
      EXPECT_NEAR(ana, num, 2e-2 * std::max(std::abs(num), 0.05)) << t.name << " direction " << k;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

INSTANTIATE_TEST_SUITE_P(Recency, GradCheck, ::testing::Values("linear", "none"));

TEST(GradCheck, SummaryPathCarriesGradient) {
  // summary.proj and summary.slots only reach the loss through block 1's memory: their gradients
  // must be non-zero, and zero when block 1 ignores its memory gradient.
  bs::Model m(grad_cfg());
  randomize(m, 5);
  TwoBlocks doc;
  std::vector<float> grads(m.params.size(), 0.f);
  doc.run(m, bs::kernels::ref_ops(), bs::kernels::ref_grad_ops(), grads.data());
  const auto* proj = m.find("summary.proj.weight");
  double n = 0;
  for (size_t i = 0; i < proj->numel; ++i) n += std::abs(grads[proj->offset + i]);
  EXPECT_GT(n, 1e-4);
}

TEST(GradOps, OptimisedBackwardMatchesReference) {
  for (int threads : {1, 2, 3}) {
    bs::set_num_threads(threads);
    bs::Model m(grad_cfg());
    randomize(m, 7);
    TwoBlocks doc;
    std::vector<float> gr(m.params.size(), 0.f), gc(m.params.size(), 0.f);
    double lr = doc.run(m, bs::kernels::ref_ops(), bs::kernels::ref_grad_ops(), gr.data());
    double lc = doc.run(m, bs::kernels::cpu_ops(), bs::kernels::cpu_grad_ops(), gc.data());
    EXPECT_NEAR(lr, lc, 1e-4 * std::abs(lr));
    // Per tensor, so a wrong small tensor (a norm gain, the recency betas) cannot hide in the
    // norm of the whole gradient.
    for (const auto& t : m.tensors()) {
      double num = 0, den = 0;
      for (size_t i = t.offset; i < t.offset + t.numel; ++i)
        num += (gr[i] - gc[i]) * (gr[i] - gc[i]), den += gr[i] * gr[i];
      EXPECT_LE(std::sqrt(num), 1e-4 * std::sqrt(den) + 1e-7) << t.name << " threads " << threads;
    }
  }
  bs::set_num_threads(1);
}

}  // namespace

// The FLOP count the training benchmark reports, for one masked pass of block 0 worked by hand:
// R = 6 rows, each sees all 6 keys (the block is bidirectional), 2 loss rows, no Σ rows.
TEST(PackedPass, CountsModelFlops) {
  bs::ModelConfig c = grad_cfg();  // C 16, F 24, 2 layers, V 40
  bs::Model m(c);
  m.init_random();
  TwoBlocks d;
  std::vector<bs::PassSeq> s;
  s.push_back(d.masked(c, d.b0, d.s0, d.m0, d.t0, nullptr, 0, {}, {}));
  ASSERT_EQ(s[0].spec.T, 6);
  for (int lim : s[0].spec.key_limit) ASSERT_EQ(lim, 6);
  bs::PackedPass p(m, bs::kernels::ref_ops(), bs::kernels::ref_grad_ops());
  p.forward(std::move(s));
  // Per layer: qkv 2·6·16·48, out 2·6·16·16, w13 2·6·16·48, w2 2·6·24·16, attention 4·36·16.
  const double layer = 2 * 6 * 16 * 48 + 2 * 6 * 16 * 16 + 2 * 6 * 16 * 48 + 2 * 6 * 24 * 16 +
                       4 * 36 * 16;     // = 28,416
  const double head = 2 * 2 * 16 * 40;  // two loss rows through the (40 × 16) head
  EXPECT_DOUBLE_EQ(p.forward_flops(), 2 * layer + head);
  EXPECT_DOUBLE_EQ(p.flops(), 2 * layer + head);  // no backward yet
  std::vector<float> grads(m.num_params(), 0.f);
  p.backward({nullptr}, grads.data());
  EXPECT_DOUBLE_EQ(p.flops(), 3 * (2 * layer + head));
}
