// The trainer: AdamW and the schedule against hand-written formulas, the block cutting, the
// backward through summaries across an unroll (finite differences over the BlockRunner), a tiny
// model overfitting a tiny document, bit-identical resume, and the NaN stop.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/checkpoint.h"
#include "core/error.h"
#include "eval/evaluate.h"
#include "kernels/thread_pool.h"
#include "tests/testutil.h"
#include "text/sentences.h"
#include "text/tokenizer.h"
#include "training/adamw.h"
#include "training/block_runner.h"
#include "training/trainer.h"

namespace bs {
namespace {

ModelConfig tiny_model(int vocab) {
  ModelConfig c;
  c.vocab = vocab, c.d = 32, c.layers = 2, c.heads = 2, c.ffn = 64;
  c.block = 8, c.summary_slots = 2, c.window = 2, c.max_memory_blocks = 3;
  return c;
}

// The tokenizer of these tests: trained once, a fresh copy for each caller (Trainer owns one).
Tokenizer tiny_tokenizer() {
  static const std::string bytes = [] {
    std::vector<std::string> docs;
    for (int i = 0; i < 60; ++i)
      docs.push_back("Elizabeth walked to Longbourn on day " + std::to_string(i) +
                     ". She laughed.\n");
    std::vector<std::string_view> v(docs.begin(), docs.end());
    TokenizerTrainOptions o;
    o.vocab_size = 300;
    return train_tokenizer(v, o);
  }();
  return Tokenizer::from_serialized(bytes, "test tokenizer");
}

// A document of n tokens cycling through ids 10.. (ordinary pieces of tiny_tokenizer()).
DocBlocks make_doc(int n, int L, int offset = 0, int vocab = 60) {
  static const Tokenizer tok = tiny_tokenizer();
  std::vector<int> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = 10 + (i * 7 + offset) % (vocab - 10);
  return cut_blocks(std::span<const int>(ids), L, tok);
}

TEST(Schedule, WarmupThenCosineToMinLr) {
  TrainConfig tc;
  tc.lr = 1e-3f, tc.min_lr = 1e-4f, tc.warmup = 10, tc.steps = 110;
  EXPECT_FLOAT_EQ(lr_at(tc, 0), 1e-4f);
  EXPECT_FLOAT_EQ(lr_at(tc, 9), 1e-3f);
  EXPECT_FLOAT_EQ(lr_at(tc, 10), 1e-3f);
  EXPECT_NEAR(lr_at(tc, 60), 0.5 * (1e-3 + 1e-4) + 0.5 * (1e-3 - 1e-4) * std::cos(M_PI * 50 / 99),
              1e-9);
  EXPECT_NEAR(lr_at(tc, 109), 1e-4f, 1e-9);
  for (int s = 10; s < 109; ++s) EXPECT_GE(lr_at(tc, s), lr_at(tc, s + 1));
}

TEST(AdamW, MatchesTheFormulaWithClippingAndDecayMask) {
  Model m(tiny_model(40));
  m.init_random();
  AdamW opt(m);
  TrainConfig tc;
  tc.grad_clip = 0.5f, tc.weight_decay = 0.1f, tc.beta1 = 0.9f, tc.beta2 = 0.95f;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.01f);
  std::vector<double> p(m.params.begin(), m.params.end()), mm(p.size(), 0), vv(p.size(), 0);
  const TensorInfo* norm = m.find("layers.0.attn_norm.weight");
  const TensorInfo* emb = m.find("tok_emb.weight");
  ASSERT_EQ(opt.decay[norm->offset], 0);
  ASSERT_EQ(opt.decay[emb->offset], 1);
  for (int t = 1; t <= 3; ++t) {
    std::vector<float> g(p.size());
    for (auto& x : g) x = nd(rng);
    double n2 = 0;
    for (float x : g) n2 += double(x) * x;
    const double clip = std::sqrt(n2) > 0.5 ? 0.5 / std::sqrt(n2) : 1.0;
    const float lr = 1e-2f;
    for (size_t i = 0; i < p.size(); ++i) {
      const double gi = g[i] * clip;
      mm[i] = 0.9 * mm[i] + 0.1 * gi;
      vv[i] = 0.95 * vv[i] + 0.05 * gi * gi;
      const double mh = mm[i] / (1 - std::pow(0.9, t)), vh = vv[i] / (1 - std::pow(0.95, t));
      p[i] -= lr * (mh / (std::sqrt(vh) + 1e-8) + (opt.decay[i] ? 0.1 * p[i] : 0));
    }
    double norm_before = opt.step(m.params, g, tc, lr);
    EXPECT_NEAR(norm_before, std::sqrt(n2), 1e-6 * std::sqrt(n2));
  }
  double err = 0;
  for (size_t i = 0; i < p.size(); ++i) err = std::max(err, std::abs(p[i] - m.params[i]));
  EXPECT_LT(err, 2e-5);
}

TEST(CutBlocks, BosTextEosPaddingAndSentencesPerBlock) {
  const Tokenizer tok = tiny_tokenizer();
  // "She laughed. She said nothing." as tokens, twice: sentences cross the 6-token blocks.
  std::vector<int> ids =
      tok.encode("She laughed. She said nothing. She laughed. She said nothing.");
  const int L = 6;
  DocBlocks b = cut_blocks(std::span<const int>(ids), L, tok);
  const size_t n = ids.size() + 2;
  ASSERT_EQ(b.nblocks(), int((n + L - 1) / L));
  EXPECT_EQ(b.tokens[0], Tokenizer::kBos);
  EXPECT_EQ(std::vector<int>(b.tokens.begin() + 1, b.tokens.begin() + 1 + ids.size()), ids);
  for (size_t i = n - 1; i < b.tokens.size(); ++i) EXPECT_EQ(b.tokens[i], Tokenizer::kEos);
  // Every block's indices are block_sentence_indices over the previous block and itself.
  for (int k = 0; k < b.nblocks(); ++k) {
    const std::span<const int> prev = k > 0 ? b.block(k - 1) : std::span<const int>();
    const std::vector<int> want = block_sentence_indices(tok, prev, b.block(k));
    EXPECT_EQ(std::vector<int>(b.sent(k).begin(), b.sent(k).end()), want) << "block " << k;
    EXPECT_EQ(b.sent(k)[0], 0);
  }
  // A short document: 1 + 3 + 1 = 5 tokens, padded with </s> to one block of 8.
  DocBlocks c = cut_blocks(std::span<const int>(ids.data(), 3), 8, tok);
  EXPECT_EQ(c.tokens, (std::vector<int>{2, ids[0], ids[1], ids[2], 3, 3, 3, 3}));
}

// The loss of a fixed 3-block unroll over two documents, and its gradient, through BlockRunner:
// every block's masked pass sees the summaries of the earlier blocks (summary mode), so the
// gradient of the later losses flows back through the clean passes.
double unroll_loss(const Model& m, const std::vector<DocBlocks>& docs, std::vector<float>* grads,
                   ContextMode mode2 = ContextMode::summary) {
  BlockRunner r(m, kernels::ref_backend(), 64);
  std::vector<DocState> st(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) st[i].doc = &docs[i];
  std::mt19937_64 rng(5);
  std::vector<Stage> stages;
  double loss = 0;
  const float rates[3][2] = {{0.3f, 0.8f}, {0.5f, 0.6f}, {0.9f, 0.4f}};
  for (int b = 0; b < 3; ++b) {
    std::vector<BlockJob> jobs;
    for (int d = 0; d < 2; ++d) {
      BlockJob j;
      j.doc = d;
      j.rates = {rates[b][d]};
      j.modes = {b == 2 && d == 1 ? mode2 : ContextMode::summary};
      j.scale = 0.1f;
      j.clean = b < 2;
      j.grad = true;
      jobs.push_back(j);
    }
    stages.push_back(r.run(st, jobs, rng, b));
    loss += stages.back().loss;
  }
  if (grads) r.backward(stages, st, grads->data());
  return loss;
}

TEST(BlockRunner, BackwardThroughSummariesMatchesFiniteDifferences) {
  ModelConfig c = tiny_model(60);
  c.d = 16, c.ffn = 24;
  Model m(c);
  m.init_random();
  std::mt19937 prng(3);
  std::normal_distribution<float> nd(0.f, 0.2f);
  for (auto& p : m.params) p += nd(prng);
  std::vector<DocBlocks> docs = {make_doc(30, 8, 0), make_doc(26, 8, 3)};
  std::vector<float> g(m.params.size(), 0.f);
  unroll_loss(m, docs, &g, ContextMode::full);
  std::mt19937 rng(11);
  const float eps = 3e-3f;
  for (const char* name :
       {"summary.proj.weight", "summary.slots", "memory.type_emb", "layers.1.attn.recency_beta",
        "tok_emb.weight", "layers.0.attn.wqkv.weight"}) {
    const TensorInfo* t = m.find(name);
    ASSERT_TRUE(t) << name;
    for (int k = 0; k < 2; ++k) {
      std::vector<float> u(t->numel);
      for (auto& v : u) v = ((rng() & 1) ? 1.f : -1.f) / std::sqrt(float(t->numel));
      double ana = 0;
      for (size_t i = 0; i < t->numel; ++i) ana += double(g[t->offset + i]) * u[i];
      std::vector<float> saved(m.params.begin() + t->offset,
                               m.params.begin() + t->offset + t->numel);
      for (size_t i = 0; i < t->numel; ++i) m.params[t->offset + i] = saved[i] + eps * u[i];
      double fp = unroll_loss(m, docs, nullptr, ContextMode::full);
      for (size_t i = 0; i < t->numel; ++i) m.params[t->offset + i] = saved[i] - eps * u[i];
      double fm = unroll_loss(m, docs, nullptr, ContextMode::full);
      std::copy(saved.begin(), saved.end(), m.params.begin() + t->offset);
      const double num = (fp - fm) / (2 * eps);
      EXPECT_NEAR(ana, num, 3e-2 * std::max(std::abs(num), 0.02)) << name << " direction " << k;
    }
  }
  // summary.proj only reaches the loss through memory: its gradient must not vanish.
  const TensorInfo* proj = m.find("summary.proj.weight");
  double n = 0;
  for (size_t i = 0; i < proj->numel; ++i) n += std::abs(g[proj->offset + i]);
  EXPECT_GT(n, 1e-4);
}

Config tiny_train_config(int vocab) {
  Config cfg;
  cfg.model = tiny_model(vocab);
  cfg.train.batch = 2, cfg.train.unroll = 2, cfg.train.steps = 20, cfg.train.warmup = 2;
  cfg.train.lr = 3e-3f, cfg.train.min_lr = 3e-4f, cfg.train.burn_in = 2;
  cfg.train.eval_blocks = 8;
  return cfg;
}

TEST(Trainer, TinyModelOverfitsATinyDocument) {
  set_num_threads(2);
  Tokenizer tok = tiny_tokenizer();
  Config cfg = tiny_train_config(tok.vocab_size());
  cfg.model.d = 64, cfg.model.ffn = 128;
  cfg.train.steps = 600, cfg.train.lr = 3e-3f, cfg.train.min_lr = 3e-4f,
  cfg.train.weight_decay = 0.f;
  cfg.train.memory_dropout = 0.f, cfg.train.none_prob = 0.f, cfg.train.full_prob = 0.f;
  std::vector<DocBlocks> docs = {make_doc(20, cfg.model.block, 0, tok.vocab_size())};
  Trainer tr(cfg, std::move(tok), docs);
  double first = 0, last = 0;
  for (int s = 0; s < cfg.train.steps; ++s) {
    StepStats st = tr.step();
    if (s < 10) first += st.loss / 10;
    if (s >= cfg.train.steps - 20) last += st.loss / 20;
  }
  EXPECT_GT(first, 2.0);
  EXPECT_LT(last, 0.05) << "first " << first;
  EXPECT_LT(validation_nll(tr.model(), docs, cfg.train), 0.05);
  set_num_threads(1);
}

TEST(Trainer, ResumeIsBitIdentical) {
  set_num_threads(2);
  test::TempDir dir;
  Tokenizer tok = tiny_tokenizer();
  Config cfg = tiny_train_config(tok.vocab_size());
  cfg.train.steps = 8;
  std::vector<DocBlocks> docs;
  for (int i = 0; i < 5; ++i)
    docs.push_back(make_doc(40 + 9 * i, cfg.model.block, i, tok.vocab_size()));
  std::vector<double> want;
  std::vector<float> want_params;
  {
    Trainer a(cfg, tiny_tokenizer(), docs);
    for (int s = 0; s < 8; ++s) want.push_back(a.step().loss);
    want_params = a.model().params;
  }
  {
    Trainer b(cfg, tiny_tokenizer(), docs);
    for (int s = 0; s < 4; ++s) ASSERT_EQ(b.step().loss, want[s]);
    b.save(dir.str("run"));
  }
  auto c = Trainer::resume(dir.str("run/state.safetensors"), cfg, docs);
  EXPECT_EQ(c->steps_done(), 4);
  for (int s = 4; s < 8; ++s) EXPECT_EQ(c->step().loss, want[s]) << "step " << s;
  EXPECT_EQ(c->model().params, want_params);
  // The model checkpoint beside it loads as a plain model with the same weights.
  Checkpoint ck = load_checkpoint(dir.str("run/model.safetensors"));
  EXPECT_TRUE(ck.extra.empty());
  set_num_threads(1);
}

TEST(Trainer, ResumeRefusesAnotherModelOrAPlainCheckpoint) {
  test::TempDir dir;
  Tokenizer tok = tiny_tokenizer();
  Config cfg = tiny_train_config(tok.vocab_size());
  std::vector<DocBlocks> docs = {make_doc(40, cfg.model.block, 0, tok.vocab_size())};
  Trainer a(cfg, tiny_tokenizer(), docs);
  a.step();
  a.save(dir.str("run"));
  Config other = cfg;
  other.model.d = 64;
  try {
    Trainer::resume(dir.str("run/state.safetensors"), other, docs);
    FAIL() << "resumed with another model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[model] section differs"), std::string::npos) << e.what();
  }
  // Keys that change no parameter may differ: a header budget, a smaller memory bound.
  Config relaxed = cfg;
  relaxed.model.header_tokens = cfg.model.header_tokens + 4;
  relaxed.model.max_memory_blocks = cfg.model.max_memory_blocks - 1;
  auto c = Trainer::resume(dir.str("run/state.safetensors"), relaxed, docs);
  EXPECT_EQ(c->steps_done(), 1);
  EXPECT_EQ(c->model().config().header_tokens, relaxed.model.header_tokens);  // the new values
  EXPECT_EQ(c->model().config().max_memory_blocks, relaxed.model.max_memory_blocks);
  EXPECT_EQ(c->model().params, a.model().params);
  relaxed.model.max_memory_blocks = cfg.train.burn_in + cfg.train.unroll;  // beyond training
  EXPECT_THROW(Trainer::resume(dir.str("run/state.safetensors"), relaxed, docs), Error);
  try {
    Trainer::resume(dir.str("run/model.safetensors"), cfg, docs);
    FAIL() << "resumed from a model checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer moments missing"), std::string::npos)
        << e.what();
  }
}

TEST(Trainer, NonFiniteLossStopsWithoutAnUpdate) {
  Tokenizer tok = tiny_tokenizer();
  Config cfg = tiny_train_config(tok.vocab_size());
  std::vector<DocBlocks> docs = {make_doc(40, cfg.model.block, 0, tok.vocab_size())};
  Trainer a(cfg, tiny_tokenizer(), docs);
  a.step();
  a.model().params[a.model().find("final_norm.weight")->offset] = NAN;
  std::vector<float> before = a.model().params;
  try {
    a.step();
    FAIL() << "a NaN loss did not stop training";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(a.steps_done(), 1);
  for (size_t i = 0; i < before.size(); ++i)
    if (!std::isnan(before[i])) {
      ASSERT_EQ(before[i], a.model().params[i]);
    }
}

TEST(Evaluate, FixedSeedIsReproducibleAndModesDiffer) {
  Model m(tiny_model(60));
  m.init_random();
  std::vector<DocBlocks> docs;
  for (int i = 0; i < 3; ++i) docs.push_back(make_doc(50, 8, i));
  EvalOptions o;
  o.samples = 3;
  EvalResult a = evaluate(m, docs, o), b = evaluate(m, docs, o);
  EXPECT_EQ(a.nll, b.nll);
  EXPECT_EQ(a.blocks, 21);  // 3 docs × ceil(52/8) blocks
  EXPECT_GT(a.ci95, 0);
  EXPECT_NEAR(a.nll, std::log(60.0), 1.0);  // untrained: about uniform over the vocabulary
  o.mode = ContextMode::none;
  EXPECT_NE(evaluate(m, docs, o).nll, a.nll);
  o.max_blocks = 6;
  EXPECT_EQ(evaluate(m, docs, o).blocks, 6);
}

// The Monte-Carlo interval measures the masking noise of the estimate on fixed blocks: it is
// undefined with one sample, shrinks with more samples, and is calibrated — its standard error
// matches the spread of the estimate over independent seeds (8 replications: the empirical
// spread itself is only known to about ±25%, hence the wide band).
TEST(Evaluate, MonteCarloIntervalIsCalibrated) {
  Model m(tiny_model(60));
  m.init_random();
  std::vector<DocBlocks> docs;
  for (int i = 0; i < 4; ++i) docs.push_back(make_doc(50, 8, i));
  EvalOptions o;
  o.samples = 1;
  EXPECT_TRUE(std::isnan(evaluate(m, docs, o).ci95_mc));
  o.samples = 16;
  const double ci16 = evaluate(m, docs, o).ci95_mc;
  o.samples = 4;
  std::vector<double> nll, se;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    o.seed = seed;
    const EvalResult r = evaluate(m, docs, o);
    nll.push_back(r.nll);
    se.push_back(r.ci95_mc / 1.96);
  }
  double mean = 0, var = 0, se_mean = 0;
  for (size_t i = 0; i < nll.size(); ++i) mean += nll[i] / 8, se_mean += se[i] / 8;
  for (double x : nll) var += (x - mean) * (x - mean) / 7;
  ASSERT_GT(se_mean, 0);
  EXPECT_LT(ci16, 1.96 * se_mean / 1.4);  // 4x the samples: clearly narrower
  const double ratio = se_mean / std::sqrt(var);
  EXPECT_GT(ratio, 0.5) << "interval too narrow for the observed spread";
  EXPECT_LT(ratio, 2.5) << "interval far wider than the observed spread";
}

}  // namespace
}  // namespace bs
