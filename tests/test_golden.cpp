// Recorded values of a tiny fixed-seed model and training run, so that an unintended change of
// the initialisation, the masking or the training step shows as a failing test. The values were
// recorded from this code on 2026-12-02 (Intel Xeon, AVX-512, OpenBLAS 0.3.21) and are not
// derived from anything else: a deliberate change of any of these must re-record them, and say
// so in its commit.
//   - initialisation and masking are integer or platform-independent arithmetic (docs/MODEL.md
//     §6: mt19937_64, 53-bit uniforms, Box–Muller): compared to 1e-7;
//   - the training losses go through OpenBLAS, whose rounding differs between CPUs: compared to
//     1e-4 relative, far above a rounding difference after 6 steps (~1e-6) and far below what a
//     changed mask, rate or update does (~1e-2).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/config.h"
#include "core/model.h"
#include "tests/testutil.h"
#include "training/doc_blocks.h"
#include "training/masking.h"
#include "training/trainer.h"

namespace {

bs::Config tiny_config() {
  bs::Config c = bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
  c.model.vocab = bs::test::tiny_tokenizer().vocab_size();
  return c;
}

TEST(Golden, Initialisation) {
  bs::Model m(tiny_config().model);
  m.init_random();
  const double want_tok[4] = {0.00623417879, 0.00429971935, 0.0348154269, 0.00938728452};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(m.tok_emb[i], want_tok[i], 1e-7) << "tok_emb " << i;
  EXPECT_NEAR(m.layers[1].wo[5], 0.00611979235, 1e-7);  // the scaled-down residual projections
  EXPECT_NEAR(m.sum_slots[3], -0.0235984921, 1e-7);
  EXPECT_EQ(m.layers[0].recency[1], 2.f);
  EXPECT_EQ(m.mem_type[0], 0.f);
}

TEST(Golden, Masking) {
  std::mt19937_64 rng(42);
  const std::vector<float> rates = bs::stratified_rates(4, 1e-3f, rng);
  const double want_rates[4] = {0.284784108, 0.226591423, 0.77374357, 0.643998921};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(rates[i], want_rates[i], 1e-7) << "rate " << i;
  std::vector<int> clean(16, 20), masked;
  const std::vector<int> where = bs::mask_block(clean, 0.5f, 4, rng, masked);
  EXPECT_EQ(where, (std::vector<int>{0, 1, 2, 3, 10, 11, 12, 14, 15}));
}

TEST(Golden, SixTrainingSteps) {
  const bs::Config cfg = tiny_config();
  const bs::Tokenizer& tok = bs::test::tiny_tokenizer();
  std::vector<bs::DocBlocks> docs;
  for (int d = 0; d < 4; ++d) {
    std::string text;
    for (int i = 0; i < 6; ++i)
      text += "Elizabeth walked to Longbourn on day " + std::to_string(d * 10 + i) +
              ". Mr. Bennet laughed at the letter! ";
    const std::vector<int> ids = tok.encode(text);
    docs.push_back(bs::cut_blocks(std::span<const int>(ids), cfg.model.block, tok,
                                  cfg.model.header_tokens));
  }
  bs::Trainer tr(cfg, bs::Tokenizer::from_serialized(tok.serialized(), "tok"), docs);
  const double want[6] = {6.03553869, 4.72625195, 5.67285553, 6.45851534, 7.28371954, 3.9489846};
  for (int s = 0; s < 6; ++s) {
    const bs::StepStats st = tr.step();
    EXPECT_NEAR(st.loss, want[s], 1e-4 * want[s]) << "step " << s + 1;
  }
}

}  // namespace
