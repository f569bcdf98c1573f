// The training pass (PackedPass, what the trainer optimises) and the inference pass
// (ForwardContext, what the generator samples from) must compute the same function: the trainer
// "builds exactly the context and masks that generation will see" only if the same context gives
// the same probabilities in both. Checked on packed sequences of different lengths and memory
// modes, with weights perturbed away from init so attention and the recency bias matter.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>

#include "blocks/layout.h"
#include "core/config.h"
#include "core/forward.h"
#include "core/model.h"
#include "kernels/backward.h"
#include "kernels/thread_pool.h"
#include "session/session.h"
#include "tests/testutil.h"
#include "training/block_runner.h"
#include "training/doc_blocks.h"
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

// The summaries generation commits and the summaries training computes, for the same document,
// must be the same numbers: the same context (memory, header, window), the same block and the
// same sentence indices. Both sides run on the scalar reference ops, whose every output row is
// computed on its own in a fixed order, so any difference in the inputs shows as a difference in
// bits (the optimised ops agree only to rounding across different row counts).
class SameSummaries : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg = bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
    cfg.model.vocab = tok().vocab_size();
    cfg.model.header_tokens = 24;  // entities and events render (tests/test_headers.cpp)
    cfg.model.recency_init = 3.f;  // a strong recency bias: sentence indices matter
    model = std::make_unique<bs::Model>(cfg.model);
    model->init_random();
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.f, 0.05f);
    for (auto& p : model->params) p += nd(rng);
  }
  static const bs::Tokenizer& tok() { return bs::test::tiny_tokenizer(); }
  bs::GenOptions options() const {
    bs::GenOptions o;
    o.backend = &bs::kernels::ref_backend();
    o.packed_weights = false;
    o.steps = 4;
    o.seed = 9;
    return o;
  }
  // Training's clean passes over the document, block by block (summary mode, with headers).
  std::vector<std::vector<float>> training_summaries(const bs::DocBlocks& d) const {
    bs::BlockRunner runner(*model, bs::kernels::ref_backend(), 64);
    std::vector<bs::DocState> st(1);
    st[0].doc = &d;
    std::mt19937_64 rng(1);
    for (int b = 0; b < d.nblocks(); ++b) {
      bs::BlockJob j;
      j.doc = 0;
      runner.run(st, {j}, rng, -1);
    }
    return st[0].summaries;
  }
  bs::Config cfg;
  std::unique_ptr<bs::Model> model;
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_F(SameSummaries, PromptBlocksCommittedByGenerationAndTrainingsCleanPass) {
  const int L = cfg.model.block;
  // Text tokens laid out so that (a) "€", three byte-fallback pieces, straddles the boundary of
  // blocks 0 and 1 (document positions 15, 16, 17 with <s> at 0) and (b) sentences run across
  // the later block boundaries.
  std::vector<int> head =
      tok().encode("Mr. Bennet laughed at the letter and Elizabeth said nothing at all that day");
  head.resize(size_t(L - 2));
  std::vector<int> ids = head;
  for (unsigned char c : std::string("\xE2\x82\xAC")) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>", c);
    int id = -1;
    for (int i = 0; i < tok().vocab_size() && id < 0; ++i)
      if (tok().id_to_piece(i) == piece) id = i;
    ASSERT_GE(id, 0);
    ids.push_back(id);
  }
  for (int id : tok().encode(" She walked to Longbourn on day 12. Mr. Bennet laughed at the "
                             "letter! She said nothing. Elizabeth walked to Longbourn."))
    ids.push_back(id);
  const bs::DocBlocks d = bs::cut_blocks(std::span<const int>(ids), L, tok(), 24);
  ASSERT_GE(d.nblocks(), 4);
  int multi_sentence_blocks = 0;
  for (int b = 0; b < d.nblocks(); ++b) multi_sentence_blocks += d.sent(b)[L - 1] > 0;
  ASSERT_GE(multi_sentence_blocks, 2) << "the document should exercise the recency bias";

  // Generation: the same tokens (and the end of document) as a prompt, so every block is
  // committed as it stands, with the header the session renders.
  bs::Generator gen(*model, tok(), options());
  bs::SessionStart start;
  start.prompt = ids;
  start.prompt.push_back(bs::Tokenizer::kEos);
  auto session = bs::Session::create(gen, std::move(start));
  std::vector<std::vector<float>> committed;
  session->write(0, [&](const bs::Block& b) { committed.push_back(b.summary); });
  ASSERT_EQ(int(committed.size()), d.nblocks());
  EXPECT_EQ(session->document().tokens(), d.tokens);

  const auto trained = training_summaries(d);
  ASSERT_EQ(trained.size(), committed.size());
  for (size_t b = 0; b < trained.size(); ++b)
    EXPECT_TRUE(same_bits(committed[b], trained[b])) << "block " << b;

  // The comparison sees the sentence indices: with all of them 0 the summaries differ.
  bs::DocBlocks flat = d;
  std::fill(flat.sentence.begin(), flat.sentence.end(), 0);
  const auto other = training_summaries(flat);
  int differ = 0;
  for (size_t b = 0; b < other.size(); ++b) differ += !same_bits(committed[b], other[b]);
  EXPECT_GT(differ, 0);
}

TEST_F(SameSummaries, GeneratedBlocksCommittedByGenerationAndTrainingsCleanPass) {
  // Blocks the sampler wrote (committed through the prefix cache of their denoising steps).
  bs::Generator gen(*model, tok(), options());
  bs::SessionStart start;
  start.prompt = tok().encode("Elizabeth walked to Longbourn. Mr. Bennet laughed");
  auto session = bs::Session::create(gen, std::move(start));
  std::vector<std::vector<float>> committed;
  session->write(4, [&](const bs::Block& b) { committed.push_back(b.summary); });
  const std::vector<int>& t = session->document().tokens();
  const bs::DocBlocks d = bs::doc_blocks(t, cfg.model.block, tok(), 24);
  const auto trained = training_summaries(d);
  ASSERT_EQ(trained.size(), committed.size());
  for (size_t b = 0; b < trained.size(); ++b)
    EXPECT_TRUE(same_bits(committed[b], trained[b])) << "block " << b;
}

}  // namespace
