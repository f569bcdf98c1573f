// The model forward pass against an independent, deliberately naive implementation written
// straight from docs/MODEL.md: dense visibility matrix built from the segment rules (not from
// key limits), double precision, no kernels. Also: prefix cache exactness, and that the prefix
// never sees the block.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "blocks/layout.h"
#include "core/error.h"
#include "core/forward.h"
#include "core/model.h"
#include "kernels/thread_pool.h"

namespace {

using Mat = std::vector<double>;

bs::ModelConfig small_cfg() {
  bs::ModelConfig c;
  c.vocab = 50, c.d = 24, c.layers = 2, c.heads = 3, c.ffn = 40;
  c.block = 8, c.summary_slots = 3, c.window = 3, c.max_memory_blocks = 2, c.header_tokens = 4;
  c.rope_ntk = 1.5f;
  c.recency_init = 1.3f;
  return c;
}

struct Case {
  std::vector<float> mem;  // (nm, C)
  int nm;
  std::vector<int> hdr, win, blk, sent;
};

// Naive forward: returns logits (L, V) and summary (K, C) for the context of `cs`.
void naive_forward(const bs::Model& m, const Case& cs, bool slots, Mat& logits, Mat& summary) {
  const auto& c = m.config();
  const int C = c.d, H = c.heads, D = C / H, F = c.ffn, V = c.vocab, K = c.summary_slots;
  const int nm = cs.nm, nh = int(cs.hdr.size()), nw = int(cs.win.size()), L = int(cs.blk.size());
  const int nk = slots ? K : 0, P = nm + nh + nw, T = P + L + nk;
  enum Seg { kM, kH, kW, kX, kS };
  std::vector<Seg> seg(T);
  for (int i = 0; i < T; ++i)
    seg[i] = i < nm ? kM : i < nm + nh ? kH : i < P ? kW : i < P + L ? kX : kS;
  auto visible = [&](int i, int j) {
    Seg a = seg[i], b = seg[j];
    if (a == kS) return true;              // Σ sees everything
    if (a == kX) return b != kS;           // X sees M,E,W,X
    return b == kM || b == kH || b == kW;  // prefix sees prefix
  };
  // Embeddings.
  Mat x(size_t(T) * C);
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < C; ++j) {
      double v;
      if (seg[i] == kM)
        v = cs.mem[i * C + j] + m.mem_type[j];
      else if (seg[i] == kS)
        v = m.sum_slots[(i - P - L) * C + j];
      else {
        int tok = seg[i] == kH   ? cs.hdr[i - nm]
                  : seg[i] == kW ? cs.win[i - nm - nh]
                                 : cs.blk[i - P];
        v = m.tok_emb[tok * C + j];
      }
      x[i * C + j] = v;
    }
  auto rms = [&](const Mat& in, const float* w, Mat& out) {
    out.assign(in.size(), 0);
    for (size_t i = 0; i < in.size() / C; ++i) {
      double ss = 0;
      for (int j = 0; j < C; ++j) ss += in[i * C + j] * in[i * C + j];
      double r = 1.0 / std::sqrt(ss / C + c.norm_eps);
      for (int j = 0; j < C; ++j) out[i * C + j] = in[i * C + j] * r * w[j];
    }
  };
  auto lin = [](const Mat& in, const float* w, int rows, int cin, int cout) {
    Mat out(size_t(rows) * cout, 0);
    for (int i = 0; i < rows; ++i)
      for (int o = 0; o < cout; ++o) {
        double s = 0;
        for (int k = 0; k < cin; ++k) s += in[i * cin + k] * w[o * cin + k];
        out[i * cout + o] = s;
      }
    return out;
  };
  const double base = c.rope_base * std::pow(double(c.rope_ntk), double(D) / (D - 2));
  // Recency r_j on X keys: s/(S-1), or 1 when the block has one sentence.
  int smax = 0;
  for (int s : cs.sent) smax = std::max(smax, s);
  for (int l = 0; l < c.layers; ++l) {
    const auto& Lw = m.layers[l];
    Mat h;
    rms(x, Lw.attn_norm, h);
    Mat qkv = lin(h, Lw.wqkv, T, C, 3 * C);
    for (int i = 0; i < T; ++i)
      for (int part = 0; part < 2; ++part)
        for (int hh = 0; hh < H; ++hh)
          for (int j = 0; j < D / 2; ++j) {
            double* p = &qkv[i * 3 * C + part * C + hh * D];
            double ang = i * std::pow(base, -2.0 * j / D);
            double a = p[j], b = p[j + D / 2];
            p[j] = a * std::cos(ang) - b * std::sin(ang);
            p[j + D / 2] = a * std::sin(ang) + b * std::cos(ang);
          }
    Mat att(size_t(T) * C, 0);
    for (int hh = 0; hh < H; ++hh) {
      double beta = Lw.recency ? std::max<double>(Lw.recency[hh], 0) : 0;
      for (int i = 0; i < T; ++i) {
        std::vector<double> sc(T, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < T; ++j) {
          if (!visible(i, j)) continue;
          double s = 0;
          for (int k = 0; k < D; ++k)
            s += qkv[i * 3 * C + hh * D + k] * qkv[j * 3 * C + C + hh * D + k];
          s /= std::sqrt(double(D));
          if (seg[i] == kS && seg[j] == kX)
            s += beta * (smax == 0 ? 1.0 : double(cs.sent[j - P]) / smax);
          sc[j] = s;
          mx = std::max(mx, s);
        }
        double z = 0;
        for (int j = 0; j < T; ++j) z += sc[j] == -INFINITY ? 0 : std::exp(sc[j] - mx);
        for (int j = 0; j < T; ++j) {
          if (sc[j] == -INFINITY) continue;
          double p = std::exp(sc[j] - mx) / z;
          for (int k = 0; k < D; ++k)
            att[i * C + hh * D + k] += p * qkv[j * 3 * C + 2 * C + hh * D + k];
        }
      }
    }
    Mat o = lin(att, Lw.wo, T, C, C);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    rms(x, Lw.ffn_norm, h);
    Mat gu = lin(h, Lw.w13, T, C, 2 * F);
    Mat a(size_t(T) * F);
    for (int i = 0; i < T; ++i)
      for (int j = 0; j < F; ++j) {
        double g = gu[i * 2 * F + j], u = gu[i * 2 * F + F + j];
        a[i * F + j] = g / (1 + std::exp(-g)) * u;
      }
    Mat d2 = lin(a, Lw.w2, T, F, C);
    for (size_t i = 0; i < x.size(); ++i) x[i] += d2[i];
  }
  Mat xn;
  rms(x, m.final_norm, xn);
  Mat xb(xn.begin() + size_t(P) * C, xn.begin() + size_t(P + L) * C);
  logits = lin(xb, m.lm_head, L, C, V);
  summary.clear();
  if (slots) {
    Mat xs(xn.begin() + size_t(P + L) * C, xn.end());
    summary = lin(xs, m.sum_proj, K, C, C);
  }
}

Case make_case(const bs::ModelConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> tok(0, c.vocab - 1);
  std::normal_distribution<float> nd(0.f, 0.5f);
  Case cs;
  cs.nm = c.summary_slots * 2;
  for (int i = 0; i < cs.nm * c.d; ++i) cs.mem.push_back(nd(rng));
  for (int i = 0; i < 3; ++i) cs.hdr.push_back(tok(rng));
  for (int i = 0; i < c.window; ++i) cs.win.push_back(tok(rng));
  for (int i = 0; i < c.block; ++i) cs.blk.push_back(tok(rng));
  cs.sent = {0, 0, 0, 1, 1, 2, 2, 2};
  return cs;
}

bs::BlockContext context_of(const Case& cs, bool slots) {
  bs::BlockContext ctx;
  ctx.mem = cs.mem.data();
  ctx.mem_rows = cs.nm;
  ctx.header = cs.hdr;
  ctx.window = cs.win;
  ctx.block = cs.blk;
  ctx.sentence = cs.sent;
  ctx.slots = slots;
  return ctx;
}

double max_rel_err(const std::vector<float>& got, const Mat& want) {
  double num = 0, den = 1e-12;
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    num = std::max(num, std::abs(double(got[i]) - want[i]));
    den = std::max(den, std::abs(want[i]));
  }
  return num / den;
}

class ForwardVsNaive : public ::testing::TestWithParam<std::tuple<bool, int, std::string>> {};

TEST_P(ForwardVsNaive, LogitsAndSummaryMatch) {
  auto [use_cpu, threads, recency] = GetParam();
  bs::set_num_threads(threads);
  bs::ModelConfig c = small_cfg();
  c.recency = recency;
  bs::Model m(c);
  m.init_random();
  // Larger random weights than init so attention patterns and the bias matter.
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 0.15f);
  for (auto& p : m.params) p += nd(rng);
  Case cs = make_case(c, 3);
  for (bool slots : {false, true}) {
    Mat want_logits, want_sum;
    naive_forward(m, cs, slots, want_logits, want_sum);
    const bs::kernels::Ops& ops = use_cpu ? bs::kernels::cpu_ops() : bs::kernels::ref_ops();
    bs::ForwardContext fc(m, ops);
    fc.forward(bs::make_block_spec(c, context_of(cs, slots)));
    EXPECT_LT(max_rel_err(fc.logits(), want_logits), 2e-5) << "slots=" << slots;
    if (slots) {
      EXPECT_LT(max_rel_err(fc.summary(), want_sum), 2e-5);
    }
    // The same with the weights packed once (what the generator uses; the reference ops have no
    // preparation, so there this repeats the check above).
    fc.set_packed(bs::PackedWeights::pack(m, ops));
    fc.forward(bs::make_block_spec(c, context_of(cs, slots)));
    EXPECT_LT(max_rel_err(fc.logits(), want_logits), 2e-5) << "packed, slots=" << slots;
    if (slots) {
      EXPECT_LT(max_rel_err(fc.summary(), want_sum), 2e-5) << "packed";
    }
  }
  bs::set_num_threads(1);
}

INSTANTIATE_TEST_SUITE_P(Ops, ForwardVsNaive,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(1, 2),
                                            ::testing::Values("linear", "none")));

TEST(Forward, PrefixCacheIsExactAcrossBlockChanges) {
  bs::ModelConfig c = small_cfg();
  bs::Model m(c);
  m.init_random();
  Case cs = make_case(c, 11);
  bs::ForwardContext cached(m, bs::kernels::cpu_ops());
  bs::SeqSpec s = bs::make_block_spec(c, context_of(cs, false));
  const int P = s.out_begin;
  cached.forward(s);
  // Change the block (as denoising steps do) and recompute only rows [P, T).
  for (int step = 0; step < 3; ++step) {
    cs.blk[step] = (cs.blk[step] + 7) % c.vocab;
    s = bs::make_block_spec(c, context_of(cs, false));
    cached.forward(s, P);
    bs::ForwardContext fresh(m, bs::kernels::cpu_ops());
    fresh.forward(s);
    ASSERT_EQ(cached.logits().size(), fresh.logits().size());
    for (size_t i = 0; i < fresh.logits().size(); ++i)
      ASSERT_NEAR(cached.logits()[i], fresh.logits()[i], 1e-5f * (1 + std::abs(fresh.logits()[i])));
  }
  // The commit pass (clean block + Σ) may also reuse the prefix.
  s = bs::make_block_spec(c, context_of(cs, true));
  cached.forward(s, P);
  bs::ForwardContext fresh(m, bs::kernels::cpu_ops());
  fresh.forward(s);
  for (size_t i = 0; i < fresh.summary().size(); ++i)
    ASSERT_NEAR(cached.summary()[i], fresh.summary()[i],
                1e-5f * (1 + std::abs(fresh.summary()[i])));
}

// select_outputs: logits for a subset of X and the last layer finished only for those rows and Σ.
// The same to float tolerance as the full pass (the last layer's attention then runs on fewer
// query rows, and Eigen's product for one row takes another path than for eight), with the
// generator's packed weights and with the ops' products; from scratch and reusing the prefix
// cache, with and without Σ, and with no logits at all (a commit pass).
TEST(Forward, SelectedOutputsEqualTheFullPass) {
  bs::ModelConfig c = small_cfg();
  bs::Model m(c);
  m.init_random();
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 0.15f);
  for (auto& p : m.params) p += nd(rng);
  const Case cs = make_case(c, 4);
  const int V = c.vocab, C = c.d;
  for (bool packed : {true, false}) {
    for (bool slots : {false, true}) {
      for (const std::vector<int>& pick :
           {std::vector<int>{0, 2, 3, 7}, std::vector<int>{5}, std::vector<int>{}}) {
        bs::ForwardContext full(m, bs::kernels::cpu_ops()), sel(m, bs::kernels::cpu_ops());
        if (packed) {
          auto p = bs::PackedWeights::pack(m, bs::kernels::cpu_ops());
          full.set_packed(p);
          sel.set_packed(p);
        }
        bs::SeqSpec s = bs::make_block_spec(c, context_of(cs, slots));
        const int P = s.out_begin;
        full.forward(s);
        bs::SeqSpec t = s;
        t.select_outputs = true;
        t.outputs = pick;
        for (int first : {0, P}) {  // from scratch, then with the cached prefix
          sel.forward(t, first);
          ASSERT_EQ(sel.logits().size(), pick.size() * V);
          for (size_t j = 0; j < pick.size(); ++j)
            for (int v = 0; v < V; ++v) {
              const float want = full.logits()[size_t(pick[j]) * V + v];
              const float got = sel.logits()[j * V + v];
              ASSERT_NEAR(got, want, 1e-5f * (1 + std::abs(want)))
                  << "row " << pick[j] << " first " << first << " packed " << packed;
            }
          ASSERT_EQ(sel.summary().size(), slots ? size_t(c.summary_slots) * C : 0u);
          for (size_t i = 0; i < sel.summary().size(); ++i)
            ASSERT_NEAR(sel.summary()[i], full.summary()[i],
                        1e-5f * (1 + std::abs(full.summary()[i])));
        }
      }
    }
  }
}

TEST(Forward, SelectedOutputsMustBeIncreasingComputedRows) {
  bs::ModelConfig c = small_cfg();
  bs::Model m(c);
  m.init_random();
  bs::ForwardContext fc(m, bs::kernels::ref_ops());
  bs::SeqSpec s = bs::make_block_spec(c, context_of(make_case(c, 2), false));
  s.select_outputs = true;
  for (const std::vector<int>& bad : {std::vector<int>{3, 1}, std::vector<int>{2, 2},
                                      std::vector<int>{-1}, std::vector<int>{8}}) {
    s.outputs = bad;
    EXPECT_THROW(fc.forward(s), bs::Error);
  }
}

TEST(Forward, RecencyBiasChangesOnlyTheSummary) {
  bs::ModelConfig c = small_cfg();
  bs::Model m(c);
  m.init_random();
  Case cs = make_case(c, 5);
  bs::ForwardContext a(m, bs::kernels::ref_ops());
  a.forward(bs::make_block_spec(c, context_of(cs, true)));
  auto logits0 = a.logits();
  auto sum0 = a.summary();
  for (auto& l : m.layers) l.recency[0] += 3.f;
  a.clear_cache();
  a.forward(bs::make_block_spec(c, context_of(cs, true)));
  EXPECT_EQ(logits0, a.logits());  // X never sees Σ, and the bias only applies to Σ rows
  double diff = 0;
  for (size_t i = 0; i < sum0.size(); ++i) diff += std::abs(sum0[i] - a.summary()[i]);
  EXPECT_GT(diff, 1e-3);
}

TEST(Forward, OutOfVocabularyTokenIsRefused) {
  bs::ModelConfig c = small_cfg();
  bs::Model m(c);
  Case cs = make_case(c, 1);
  cs.blk[2] = c.vocab;
  bs::ForwardContext fc(m, bs::kernels::ref_ops());
  EXPECT_THROW(fc.forward(bs::make_block_spec(c, context_of(cs, false))), bs::Error);
}

TEST(Layout, SegmentsMaskAndRecency) {
  bs::ModelConfig c = small_cfg();
  Case cs = make_case(c, 2);
  bs::SeqSpec s = bs::make_block_spec(c, context_of(cs, true));
  const int P = cs.nm + 3 + c.window, L = c.block, K = c.summary_slots;
  ASSERT_EQ(s.T, P + L + K);
  for (int i = 0; i < s.T; ++i) {
    EXPECT_EQ(s.pos[i], i);
    EXPECT_EQ(s.key_limit[i], i < P ? P : i < P + L ? P + L : P + L + K) << i;
  }
  EXPECT_EQ(s.out_begin, P);
  EXPECT_EQ(s.out_end, P + L);
  EXPECT_EQ(s.bias_from, P + L);
  // sentences {0,0,0,1,1,2,2,2}: r = s/2 on X, 0 elsewhere.
  std::vector<float> want = {0, 0, 0, 0.5f, 0.5f, 1, 1, 1};
  for (int j = 0; j < s.T; ++j)
    EXPECT_FLOAT_EQ(s.key_bias[j], j >= P && j < P + L ? want[j - P] : 0.f);
  EXPECT_EQ(bs::recency_values(std::vector<int>{0, 0}, 2), (std::vector<float>{1, 1}));
  // Too long a window or block is refused.
  cs.win.push_back(1);
  EXPECT_THROW(bs::make_block_spec(c, context_of(cs, true)), bs::Error);
}

}  // namespace
