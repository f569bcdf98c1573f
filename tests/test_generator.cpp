// The generator library on a tiny random model: the prefix cache against a full recompute, fixed
// tokens, end of document, budgets, determinism (seeds, thread counts, continuing a document),
// streaming text, and the refusal of bad options.
#include <gtest/gtest.h>

#include "blocks/generator.h"
#include "blocks/layout.h"
#include "core/config.h"
#include "core/error.h"
#include "kernels/thread_pool.h"
#include "tests/testutil.h"

namespace {

using bs::Tokenizer;

const bs::Tokenizer& tiny_tokenizer() { return bs::test::tiny_tokenizer(); }

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg = bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
    cfg.model.vocab = tiny_tokenizer().vocab_size();
    model = std::make_unique<bs::Model>(cfg.model);
    model->init_random();
    // Random weights at init_std 0.02 give nearly uniform logits; sharpen them so confidences
    // differ between positions and strategies have something to choose.
    for (size_t i = 0; i < size_t(cfg.model.vocab) * cfg.model.d; ++i) model->lm_head[i] *= 40.f;
    // </s> gets logit 0 against logits of spread ~4.5: practically never drawn, so documents
    // run to their budget unless a test asks for the end.
    std::fill_n(model->lm_head + size_t(Tokenizer::kEos) * cfg.model.d, cfg.model.d, 0.f);
  }
  std::vector<int> generate(const bs::GenOptions& o, int blocks, std::vector<int> prompt = {}) {
    bs::Generator g(*model, tiny_tokenizer(), o);
    auto d = g.start(prompt);
    bs::Block out;
    for (int b = 0; b < blocks && g.next_block(*d, out); ++b) {
    }
    return d->tokens();
  }
  bs::Config cfg;
  std::unique_ptr<bs::Model> model;
};

TEST_F(GeneratorTest, PrefixCacheGivesTheLogitsOfAFullRecompute) {
  const bs::ModelConfig& c = cfg.model;
  std::vector<float> mem(size_t(2 * c.summary_slots) * c.d);
  std::mt19937_64 rng(3);
  for (float& v : mem) v = float(int(rng() % 2001) - 1000) / 1000.f;
  std::vector<int> header = {Tokenizer::kHeaderBegin, 40, 41, Tokenizer::kHeaderEnd};
  std::vector<int> window = {50, 51, 52, 53};
  std::vector<int> x(size_t(c.block), Tokenizer::kMask);
  bs::BlockContext ctx;
  ctx.mem = mem.data(), ctx.mem_rows = 2 * c.summary_slots;
  ctx.header = header, ctx.window = window, ctx.block = x;
  bs::SeqSpec spec = bs::make_block_spec(c, ctx);
  const int P = spec.out_begin;
  bs::ForwardContext cached(*model, bs::kernels::cpu_ops());
  cached.forward(spec, 0);
  // Three denoising steps: fill some positions, rerun only X on the cached prefix, compare with
  // a fresh context that recomputes everything.
  for (int step = 0; step < 3; ++step) {
    for (int i = step; i < c.block; i += 3) spec.tokens[P + i] = 11 + (i * 7 + step) % 200;
    cached.forward(spec, P);
    bs::ForwardContext fresh(*model, bs::kernels::cpu_ops());
    fresh.forward(spec, 0);
    ASSERT_EQ(cached.logits().size(), fresh.logits().size());
    double worst = 0;
    for (size_t i = 0; i < fresh.logits().size(); ++i)
      worst = std::max(worst, double(std::abs(cached.logits()[i] - fresh.logits()[i])));
    EXPECT_LT(worst, 1e-4) << "step " << step;
  }
  // The commit pass (with Σ) on the same prefix also matches.
  std::vector<int> filled(spec.tokens.begin() + P, spec.tokens.begin() + P + c.block);
  ctx.block = filled;
  ctx.slots = true;
  bs::SeqSpec commit = bs::make_block_spec(c, ctx);
  cached.forward(commit, P);
  bs::ForwardContext fresh(*model, bs::kernels::cpu_ops());
  fresh.forward(commit, 0);
  for (size_t i = 0; i < fresh.summary().size(); ++i)
    ASSERT_NEAR(cached.summary()[i], fresh.summary()[i], 1e-4);
}

TEST_F(GeneratorTest, CachedAndNaiveDecodingWriteTheSameText) {
  bs::GenOptions o;
  o.sampler.temperature = 0.f;
  o.steps = cfg.model.block;  // one position per step
  auto cached = generate(o, 4);
  o.prefix_cache = false;
  EXPECT_EQ(generate(o, 4), cached);
  for (int t : cached) {
    EXPECT_GE(t, 0);
    EXPECT_NE(t, Tokenizer::kMask);
  }
}

TEST_F(GeneratorTest, EveryStrategyFillsTheBlockWithinTheSteps) {
  for (const char* s : {"low_confidence", "margin", "entropy", "random", "threshold"}) {
    bs::GenOptions o;
    o.sampler.strategy = bs::parse_strategy(s);
    o.steps = 5;
    bs::Generator g(*model, tiny_tokenizer(), o);
    auto d = g.start({});
    bs::Block out;
    std::vector<int> open_after;
    ASSERT_TRUE(g.next_block(*d, out, [&](const bs::StepInfo& i) {
      open_after.push_back(i.masked_left);
      return true;
    }));
    EXPECT_LE(out.steps, 5) << s;
    EXPECT_EQ(out.steps, int(open_after.size())) << s;
    EXPECT_EQ(open_after.back(), 0) << s;
    for (size_t k = 1; k < open_after.size(); ++k) EXPECT_LT(open_after[k], open_after[k - 1]);
    EXPECT_EQ(out.generated, cfg.model.block - 1) << s;  // all but <s>
    EXPECT_EQ(out.tokens[0], Tokenizer::kBos);
  }
}

TEST_F(GeneratorTest, FixedTokensSurviveAnywhereInABlock) {
  bs::Generator g(*model, tiny_tokenizer(), bs::GenOptions{});
  std::vector<int> tmpl =
      g.encode_template("Mr. <mask><mask> laughed<mask> at <mask>the letter", "template");
  ASSERT_EQ(std::count(tmpl.begin(), tmpl.end(), Tokenizer::kMask), 4);
  auto d = g.start(tmpl);  // spans two blocks of the tiny model (L = 16)
  bs::Block out;
  std::string text;
  int generated = 0;
  while (d->queued() > 0) {
    ASSERT_TRUE(g.next_block(*d, out));
    text += out.text;
    generated += out.generated;
  }
  const std::vector<int>& got = d->tokens();
  ASSERT_GE(got.size(), tmpl.size() + 1);
  int open = 0;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == Tokenizer::kMask) {
      ++open;
      EXPECT_NE(got[i + 1], Tokenizer::kMask);
    } else {
      EXPECT_EQ(got[i + 1], tmpl[i]) << "fixed token " << i << " changed";
    }
  }
  // The rest of the last block after the template is generated too.
  EXPECT_EQ(generated, open + int(got.size()) - 1 - int(tmpl.size()));
  EXPECT_EQ(text.rfind("Mr. ", 0), 0u) << text;
  EXPECT_NE(text.find(" laughed"), std::string::npos) << text;
  EXPECT_NE(text.find("the letter"), std::string::npos) << text;
}

TEST_F(GeneratorTest, PromptBlocksAreCommittedAndTheirTextStreams) {
  bs::Generator g(*model, tiny_tokenizer(), bs::GenOptions{});
  const std::string prompt =
      "Elizabeth walked to Longbourn on day 3. She said nothing. Mr. Bennet laughed at the letter!";
  std::vector<int> ids = tiny_tokenizer().encode(prompt);
  const int L = cfg.model.block;
  ASSERT_GT(int(ids.size()) + 1, L);  // at least one whole prompt block
  auto d = g.start(ids);
  bs::Block out;
  std::string text;
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_EQ(out.generated, 0);  // a whole prompt block: committed, nothing sampled
  EXPECT_EQ(out.steps, 0);
  text += out.text;
  while (d->queued() > 0) {
    ASSERT_TRUE(g.next_block(*d, out));
    text += out.text;
  }
  EXPECT_EQ(text.substr(0, prompt.size()), prompt);
  EXPECT_EQ(out.generated, L - int((ids.size() + 1) % L == 0 ? L : (ids.size() + 1) % L));
  EXPECT_EQ(text, tiny_tokenizer().decode(d->tokens()));
}

// A model that always predicts </s>: its residual stream has a large positive channel 0 (no layer
// writes to it) and </s>'s head row reads that channel.
void make_eos_model(bs::Model& m) {
  const bs::ModelConfig& c = m.config();
  for (auto& l : m.layers) {
    std::fill(l.wo, l.wo + size_t(c.d) * c.d, 0.f);
    std::fill(l.w2, l.w2 + size_t(c.d) * c.ffn, 0.f);
  }
  for (int v = 0; v < c.vocab; ++v) m.tok_emb[size_t(v) * c.d] = 10.f;
  std::fill(m.lm_head, m.lm_head + size_t(c.vocab) * c.d, 0.f);
  m.lm_head[size_t(Tokenizer::kEos) * c.d] = 10.f;
}

TEST_F(GeneratorTest, EndOfDocumentPadsTheBlockAndStops) {
  make_eos_model(*model);
  bs::GenOptions o;
  bs::Generator g(*model, tiny_tokenizer(), o);
  std::vector<int> ids = tiny_tokenizer().encode("Mr. Bennet");
  auto d = g.start(ids);
  bs::Block out;
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_TRUE(out.end);
  EXPECT_TRUE(d->ended());
  for (size_t i = ids.size() + 1; i < out.tokens.size(); ++i)
    EXPECT_EQ(out.tokens[i], Tokenizer::kEos);
  EXPECT_EQ(out.text, "Mr. Bennet");
  EXPECT_FALSE(g.next_block(*d, out));  // nothing after the end
  EXPECT_EQ(d->blocks(), 1);
}

TEST_F(GeneratorTest, TokenLimitEndsTheDocumentMidBlock) {
  bs::Generator g(*model, tiny_tokenizer(), bs::GenOptions{});
  auto d = g.start({});
  d->set_token_limit(20);  // L = 16: the second block keeps 20 + 1 - 16 = 5 positions
  bs::Block out;
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_FALSE(out.end);
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_TRUE(out.end);
  for (int i = 5; i < cfg.model.block; ++i) EXPECT_EQ(out.tokens[i], Tokenizer::kEos) << i;
  EXPECT_EQ(out.generated, 5);  // the positions past the limit were </s> from the start
  EXPECT_FALSE(g.next_block(*d, out));
}

TEST_F(GeneratorTest, TokenLimitOnABlockBoundaryEndsTheDocumentThere) {
  bs::Generator g(*model, tiny_tokenizer(), bs::GenOptions{});
  auto d = g.start({});
  d->set_token_limit(2 * cfg.model.block - 1);  // <s> + 31 tokens: exactly two blocks
  bs::Block out;
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_FALSE(out.end);
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_TRUE(out.end);
  EXPECT_TRUE(d->ended());
  EXPECT_FALSE(g.next_block(*d, out));  // no block of padding after it
  EXPECT_EQ(d->blocks(), 2);
}

TEST_F(GeneratorTest, SameSeedSameTextAtAnyThreadCount) {
  bs::GenOptions o;
  o.steps = 4;
  const int before = bs::num_threads();
  bs::set_num_threads(1);
  auto one = generate(o, 6);
  bs::set_num_threads(2);
  auto two = generate(o, 6);
  bs::set_num_threads(3);
  auto three = generate(o, 6);
  bs::set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
  o.seed = 2;
  EXPECT_NE(generate(o, 6), one);  // the seed matters
}

TEST_F(GeneratorTest, AbortCommitsNothingAndTheBlockCanBeRedone) {
  bs::GenOptions o;
  o.steps = 4;
  bs::Generator g(*model, tiny_tokenizer(), o);
  auto d = g.start({});
  bs::Block out;
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_FALSE(g.next_block(*d, out, [](const bs::StepInfo& i) { return i.step < 2; }));
  EXPECT_EQ(d->blocks(), 1);
  ASSERT_TRUE(g.next_block(*d, out));  // block 1 again, from (seed, 1): same as uninterrupted
  EXPECT_EQ(d->tokens(), generate(o, 2));
}

TEST_F(GeneratorTest, ComparisonMemoryModesWriteWithoutSummaries) {
  for (const char* mode : {"window", "none", "full"}) {
    bs::GenOptions o;
    o.memory = bs::parse_context_mode(mode);
    o.steps = 3;
    bs::Generator g(*model, tiny_tokenizer(), o);
    auto d = g.start({});
    bs::Block out;
    for (int b = 0; b < 5; ++b) ASSERT_TRUE(g.next_block(*d, out)) << mode;
    EXPECT_EQ(d->blocks(), 5) << mode;
    EXPECT_TRUE(out.summary.empty()) << mode;  // only the summary mode keeps memory
  }
  bs::Generator g(*model, tiny_tokenizer(), bs::GenOptions{});
  auto d = g.start({});
  bs::Block out;
  ASSERT_TRUE(g.next_block(*d, out));
  EXPECT_EQ(out.summary.size(), size_t(cfg.model.summary_slots) * cfg.model.d);
}

TEST_F(GeneratorTest, BadOptionsAreRefused) {
  bs::GenOptions o;
  o.steps = 0;
  EXPECT_THROW(bs::Generator(*model, tiny_tokenizer(), o), bs::Error);
  o = {};
  o.sampler.threshold = 1.5f;
  EXPECT_THROW(bs::Generator(*model, tiny_tokenizer(), o), bs::Error);
  EXPECT_THROW(bs::parse_context_mode("everything"), bs::Error);
  bs::ModelConfig c = cfg.model;
  c.vocab += 8;  // a tokenizer that does not fit the model
  bs::Model other(c);
  EXPECT_THROW(bs::Generator(other, tiny_tokenizer(), bs::GenOptions{}), bs::Error);
  bs::Generator g(*model, tiny_tokenizer(), bs::GenOptions{});
  EXPECT_THROW(g.start(std::vector<int>{cfg.model.vocab}), bs::Error);
  EXPECT_THROW(g.encode_template("bad \xff byte", "template"), bs::Error);
}

}  // namespace
