// The in-block sampler against probabilities computed by hand on small logits: the candidate
// distribution (reserved ids, temperature, top-k, top-p), each strategy's confidence, and the
// choice of positions to unmask (schedule, threshold, ties).
#include <gtest/gtest.h>

#include <cmath>

#include "blocks/sampler.h"
#include "core/error.h"
#include "text/tokenizer.h"

namespace {

using bs::Candidate;
using bs::SamplerOptions;
using bs::Strategy;

// V = 14: ids 10..13 have probabilities 0.1, 0.2, 0.3, 0.4 at temperature 1. The reserved ids
// get large logits, so excluding them is visible; </s> (3) gets a logit of -inf-like weight.
std::vector<float> small_logits() {
  std::vector<float> l(14, 50.f);  // reserved ids: would dominate if not excluded
  l[bs::Tokenizer::kEos] = -1e30f;
  for (int i = 0; i < 4; ++i) l[10 + i] = std::log(float(i + 1));
  return l;
}

std::vector<float> dist(const SamplerOptions& o) {
  std::vector<float> q;
  auto l = small_logits();
  bs::candidate_distribution(l.data(), 14, o, q);
  return q;
}

void expect_tail(const std::vector<float>& q, std::vector<double> want) {
  for (int v = 0; v < 10; ++v) EXPECT_EQ(q[v], 0.f) << "reserved id " << v;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(q[10 + i], want[i], 1e-6) << "id " << 10 + i;
}

TEST(Sampler, DistributionExcludesReservedIdsButKeepsEos) {
  expect_tail(dist({}), {0.1, 0.2, 0.3, 0.4});
  std::vector<float> l(14, 0.f), q;  // all equal: </s> shares the mass, the others get none
  bs::candidate_distribution(l.data(), 14, {}, q);
  EXPECT_NEAR(q[bs::Tokenizer::kEos], 0.2, 1e-6);
  EXPECT_EQ(q[bs::Tokenizer::kMask], 0.f);
  EXPECT_EQ(q[bs::Tokenizer::kBos], 0.f);
  SamplerOptions no_eos;
  no_eos.allow_eos = false;  // </s> excluded as well: the four ordinary ids share the mass
  bs::candidate_distribution(l.data(), 14, no_eos, q);
  EXPECT_EQ(q[bs::Tokenizer::kEos], 0.f);
  EXPECT_NEAR(q[10], 0.25, 1e-6);
}

TEST(Sampler, RepeatPenaltyLowersRecentTokens) {
  // Logits log 1..4 for ids 10..13 (all >= 0): a recent id's logit is divided by the penalty.
  // With ρ = 2 and id 13 recent: weights 1, 2, 3, 4^(1/2) = 2, so q = 1/8, 2/8, 3/8, 2/8.
  SamplerOptions o;
  o.repeat_penalty = 2.f;
  std::vector<uint8_t> recent(14, 0);
  recent[13] = 1;
  std::vector<float> q, l = small_logits();
  bs::candidate_distribution(l.data(), 14, o, q, recent);
  expect_tail(q, {1 / 8.0, 2 / 8.0, 3 / 8.0, 2 / 8.0});
  // A negative logit is multiplied: id 10 at log(0.5) with ρ = 2 becomes 2·log(0.5) = log(0.25).
  l[10] = std::log(0.5f);
  recent.assign(14, 0);
  recent[10] = 1;
  bs::candidate_distribution(l.data(), 14, o, q, recent);
  expect_tail(q, {0.25 / 9.25, 2 / 9.25, 3 / 9.25, 4 / 9.25});
  // Off (ρ = 1), or with no recent tokens given: the plain distribution.
  o.repeat_penalty = 1.f;
  bs::candidate_distribution(small_logits().data(), 14, o, q, recent);
  expect_tail(q, {0.1, 0.2, 0.3, 0.4});
  for (float bad : {0.5f, 11.f, std::nanf("")}) {
    o.repeat_penalty = bad;
    EXPECT_THROW(bs::validate(o), bs::Error) << bad;
  }
}

TEST(Sampler, TemperatureTopKTopP) {
  SamplerOptions o;
  o.temperature = 0.5f;  // p ∝ p1² : 1, 4, 9, 16 over 30
  expect_tail(dist(o), {1 / 30.0, 4 / 30.0, 9 / 30.0, 16 / 30.0});
  o = {};
  o.top_k = 2;
  expect_tail(dist(o), {0, 0, 3 / 7.0, 4 / 7.0});
  o = {};
  o.top_p = 0.6f;  // 0.4 < 0.6 <= 0.4 + 0.3
  expect_tail(dist(o), {0, 0, 3 / 7.0, 4 / 7.0});
  o.top_p = 0.4f;  // the top token alone reaches it
  expect_tail(dist(o), {0, 0, 0, 1});
  o.top_p = 0.75f, o.top_k = 3;  // both: k keeps 3, p keeps 0.4+0.3+0.2 (>= 0.75)
  expect_tail(dist(o), {0, 2 / 9.0, 3 / 9.0, 4 / 9.0});
}

TEST(Sampler, ConfidenceOfEachStrategy) {
  auto l = small_logits();
  std::vector<float> scratch;
  std::mt19937_64 rng(1);
  SamplerOptions o;
  o.temperature = 0.f;  // greedy: candidate 13 (0.4); confidences from the temperature-1 q
  o.strategy = Strategy::low_confidence;
  Candidate c = bs::draw_candidate(l.data(), 14, o, rng, scratch);
  EXPECT_EQ(c.token, 13);
  EXPECT_NEAR(c.score, 0.4, 1e-6);
  EXPECT_NEAR(c.prob, 0.4, 1e-6);
  o.strategy = Strategy::margin;
  EXPECT_NEAR(bs::draw_candidate(l.data(), 14, o, rng, scratch).score, 0.1, 1e-6);
  o.strategy = Strategy::entropy;
  const double h =
      -(0.1 * std::log(0.1) + 0.2 * std::log(0.2) + 0.3 * std::log(0.3) + 0.4 * std::log(0.4));
  EXPECT_NEAR(bs::draw_candidate(l.data(), 14, o, rng, scratch).score, -h, 1e-6);
  o.strategy = Strategy::threshold;
  EXPECT_NEAR(bs::draw_candidate(l.data(), 14, o, rng, scratch).score, 0.4, 1e-6);
}

TEST(Sampler, DrawsFollowTheDistribution) {
  auto l = small_logits();
  std::vector<float> scratch;
  std::mt19937_64 rng(42);
  SamplerOptions o;  // temperature 1
  const int n = 40000;
  std::vector<int> count(14, 0);
  for (int i = 0; i < n; ++i) {
    Candidate c = bs::draw_candidate(l.data(), 14, o, rng, scratch);
    ++count[c.token];
    ASSERT_NEAR(c.prob, 0.1 * (c.token - 9), 1e-6);  // prob is q of the drawn token
  }
  for (int v = 0; v < 10; ++v) EXPECT_EQ(count[v], 0);
  // 4 standard errors of a proportion near 0.4 at n = 40000 is about 0.01.
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(count[10 + i] / double(n), 0.1 * (i + 1), 0.01);
}

std::vector<Candidate> cands(std::vector<float> probs) {
  std::vector<Candidate> c;
  for (size_t i = 0; i < probs.size(); ++i) c.push_back({int(10 + i), probs[i], probs[i]});
  return c;
}

TEST(Sampler, UnmaskScheduleFinishesWithinTheSteps) {
  SamplerOptions o;
  auto c = cands({0.3f, 0.9f, 0.1f, 0.5f, 0.7f});
  // 5 open, 3 steps left: ceil(5/3) = 2, the two most confident, returned in position order.
  EXPECT_EQ(bs::choose_unmask(c, 3, o), (std::vector<int>{1, 4}));
  EXPECT_EQ(bs::choose_unmask(c, 5, o), (std::vector<int>{1}));
  EXPECT_EQ(bs::choose_unmask(c, 1, o), (std::vector<int>{0, 1, 2, 3, 4}));  // last step: all
  // Ties go to the lower position.
  auto t = cands({0.5f, 0.5f, 0.5f});
  EXPECT_EQ(bs::choose_unmask(t, 3, o), (std::vector<int>{0}));
  EXPECT_TRUE(bs::choose_unmask({}, 2, o).empty());
  EXPECT_THROW(bs::choose_unmask(c, 0, o), bs::Error);
}

TEST(Sampler, ThresholdUnmasksEveryPositionAboveTau) {
  SamplerOptions o;
  o.strategy = Strategy::threshold;
  o.threshold = 0.9f;
  auto c = cands({0.95f, 0.5f, 0.92f, 0.1f, 0.9f});  // 0.9 is not above 0.9
  EXPECT_EQ(bs::choose_unmask(c, 64, o), (std::vector<int>{0, 2}));
  // None above: still one per step, the most confident.
  auto low = cands({0.2f, 0.6f, 0.1f});
  EXPECT_EQ(bs::choose_unmask(low, 64, o), (std::vector<int>{1}));
  // The step budget still binds: 2 steps left, 5 open -> at least 3.
  EXPECT_EQ(bs::choose_unmask(c, 2, o).size(), 3u);
  o.threshold = 1.f;  // nothing is above 1: exactly one per step
  EXPECT_EQ(bs::choose_unmask(c, 64, o), (std::vector<int>{0}));
}

TEST(Sampler, RandomStrategyVisitsPositionsUniformly) {
  auto l = small_logits();
  std::vector<float> scratch;
  std::mt19937_64 rng(7);
  SamplerOptions o;
  o.strategy = Strategy::random;
  std::vector<int> first(4, 0);
  const int n = 8000;
  for (int trial = 0; trial < n; ++trial) {
    std::vector<Candidate> c;
    for (int p = 0; p < 4; ++p) c.push_back(bs::draw_candidate(l.data(), 14, o, rng, scratch));
    auto pick = bs::choose_unmask(c, 4, o);
    ASSERT_EQ(pick.size(), 1u);
    ++first[pick[0]];
  }
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(first[p] / double(n), 0.25, 0.02);
}

TEST(Sampler, BadOptionsAreRefused) {
  EXPECT_EQ(bs::parse_strategy("margin"), Strategy::margin);
  EXPECT_EQ(std::string(bs::strategy_name(Strategy::entropy)), "entropy");
  try {
    bs::parse_strategy("greedy");
    FAIL() << "accepted an unknown strategy";
  } catch (const bs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("greedy"), std::string::npos);
  }
  SamplerOptions o;
  bs::validate(o);
  for (float tau : {0.f, -0.5f, 1.5f, NAN}) {
    o.threshold = tau;
    EXPECT_THROW(bs::validate(o), bs::Error) << tau;
  }
  o.threshold = 1.f;
  bs::validate(o);  // 1 is allowed: then exactly one position per step
  o.temperature = -1.f;
  EXPECT_THROW(bs::validate(o), bs::Error);
  o.temperature = 1.f, o.top_p = 0.f;
  EXPECT_THROW(bs::validate(o), bs::Error);
  o.top_p = 1.f, o.top_k = -2;
  EXPECT_THROW(bs::validate(o), bs::Error);
}

}  // namespace
