// The Kneser–Ney judge (eval/ngram_judge.h): probabilities computed by hand on a corpus of
// two documents, distributions that sum to 1 over the vocabulary for seen and unseen contexts,
// and the judge's point — a repeated phrase is no easier the second time.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "core/error.h"
#include "eval/ngram_judge.h"

namespace {

// Order 2, V = 16, documents [10 11 10 12] and [10 11], read with one <s> (id 2) in front.
// Bigram counts: (<s>,10)=2, (10,11)=2, (11,10)=1, (10,12)=1.
// Continuation counts: 10 ← {<s>, 11} = 2, 11 ← {10} = 1, 12 ← {10} = 1; total 4, types 3.
// D_1 = n1/(n1+2 n2) = 2/(2+2) = 1/2; D_2 = 2/(2+4) = 1/3.
// P_1(10) = (2 − 1/2 + (1/2)(3/16)) / 4 = 0.3984375, P_1(11) = P_1(12) = 0.1484375,
// P_1(other) = (3/32)/4 = 0.0234375.
// Context 10: total 3, types 2: P(11|10) = (2 − 1/3 + (1/3)(2)(0.1484375)) / 3 = 0.58854166…,
// P(10|10) = (1/3)(2)(0.3984375)/3 = 0.08854166…; context <s>: total 2, types 1:
// P(10|<s>) = (2 − 1/3 + (1/3)(0.3984375)) / 2 = 0.89973958…; an unseen context gives P_1.
TEST(NgramJudge, MatchesHandComputedKneserNey) {
  bs::NgramJudge j(2, 16);
  j.add(std::vector<int>{10, 11, 10, 12});
  j.add(std::vector<int>{10, 11});
  j.finish();
  EXPECT_DOUBLE_EQ(j.discount(1), 0.5);
  EXPECT_DOUBLE_EQ(j.discount(2), 1.0 / 3);
  const std::vector<int> h10{10}, h13{13}, none{};
  EXPECT_NEAR(j.prob(h10, 11), (2 - 1.0 / 3 + (1.0 / 3) * 2 * 0.1484375) / 3, 1e-12);
  EXPECT_NEAR(j.prob(h10, 10), (1.0 / 3) * 2 * 0.3984375 / 3, 1e-12);
  EXPECT_NEAR(j.prob(none, 10), (2 - 1.0 / 3 + (1.0 / 3) * 0.3984375) / 2, 1e-12);
  EXPECT_NEAR(j.prob(h13, 10), 0.3984375, 1e-12);
  EXPECT_NEAR(j.prob(h13, 12), 0.1484375, 1e-12);
  EXPECT_NEAR(j.prob(h13, 5), 0.0234375, 1e-12);
  // nll: the mean of −ln P over the document's tokens, each with its own context.
  const std::vector<int> doc{10, 11};
  EXPECT_NEAR(j.nll(doc), -(std::log(j.prob(none, 10)) + std::log(j.prob(h10, 11))) / 2, 1e-12);
}

TEST(NgramJudge, EveryContextGivesADistribution) {
  const int V = 40;
  bs::NgramJudge j(4, V);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> tok(10, 25);  // ids 26..39 never seen
  for (int d = 0; d < 30; ++d) {
    std::vector<int> doc;
    for (int i = 0; i < 50; ++i) doc.push_back(tok(rng));
    j.add(doc);
  }
  j.finish();
  for (int k = 1; k <= 4; ++k) {
    EXPECT_GT(j.discount(k), 0.0);
    EXPECT_LT(j.discount(k), 1.0);
  }
  const std::vector<std::vector<int>> hs = {{},           {11},         {12, 13},
                                            {10, 11, 12}, {30, 31, 32}, {12, 30, 11}};
  for (const auto& h : hs) {
    double s = 0;
    for (int w = 0; w < V; ++w) {
      const double p = j.prob(h, w);
      EXPECT_GT(p, 0.0);
      s += p;
    }
    EXPECT_NEAR(s, 1.0, 1e-9) << "history of " << h.size();
  }
}

TEST(NgramJudge, ARepeatedPhraseEarnsNothingTheSecondTime) {
  // The judge has no memory beyond its last N−1 tokens: a phrase scores the same each time it
  // comes (past its first N−1 tokens), where the diffusion model would find the copy easy.
  bs::NgramJudge j(3, 64);
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> tok(10, 60);
  for (int d = 0; d < 50; ++d) {
    std::vector<int> doc;
    for (int i = 0; i < 40; ++i) doc.push_back(tok(rng));
    j.add(doc);
  }
  j.finish();
  std::vector<int> phrase;
  for (int i = 0; i < 8; ++i) phrase.push_back(tok(rng));
  std::vector<int> twice = phrase;
  twice.insert(twice.end(), phrase.begin(), phrase.end());
  const std::span<const int> t(twice);
  for (size_t i = 2; i < phrase.size(); ++i)
    EXPECT_DOUBLE_EQ(j.prob(t.first(i), t[i]), j.prob(t.first(i + 8), t[i + 8])) << i;
}

TEST(NgramJudge, BadUseIsRefused) {
  EXPECT_THROW(bs::NgramJudge(0, 10), bs::Error);
  EXPECT_THROW(bs::NgramJudge(5, 10), bs::Error);
  EXPECT_THROW(bs::NgramJudge(2, 70000), bs::Error);
  bs::NgramJudge j(2, 16);
  EXPECT_THROW(j.add(std::vector<int>{3, 16}), bs::Error);
  EXPECT_THROW(j.prob({}, 3), bs::Error);  // before finish()
  EXPECT_THROW(j.finish(), bs::Error);     // nothing added
}

}  // namespace
