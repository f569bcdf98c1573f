// The library Session (session/session.h): a session continued from its store writes what an
// uninterrupted run writes, with a header budget large enough that the entity/timeline header
// really renders entities and events; and a resume that does not fit is refused.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/config.h"
#include "core/error.h"
#include "memory/codec.h"
#include "session/session.h"
#include "tests/testutil.h"

namespace {

const bs::Tokenizer& tok() { return bs::test::tiny_tokenizer(); }

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg = bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
    cfg.model.vocab = tok().vocab_size();
    cfg.model.header_tokens = 200;  // room for the fact, four entities and two events
    model = std::make_unique<bs::Model>(cfg.model);
    model->init_random();
    o.steps = 3;
    o.seed = 21;
    o.sampler.allow_eos = false;
  }
  // The prompt: sentences with entities and time expressions over several blocks, so the
  // memory holds events, followed by blocks of the tiny random model's text, which holds none.
  bs::SessionStart start() const {
    bs::SessionStart s;
    s.prompt = tok().encode(
        "Mr. Darcy walked to Longbourn the next day. Elizabeth Bennet saw him. In 1811 Mr. "
        "Bennet laughed at the letter! Lady Catherine came three weeks later.");
    s.plan.declare("Elizabeth Bennet", "character", {"Lizzy"});
    s.plan.add_fact("Mr. Bennet has five daughters.");
    s.model_hash = "model";
    return s;
  }
  bs::Config cfg;
  std::unique_ptr<bs::Model> model;
  bs::GenOptions o;
};

TEST_F(SessionTest, ResumeWithAHeaderWritesWhatAnUninterruptedRunWrites) {
  bs::test::TempDir tmp;
  bs::Generator gen(*model, tok(), o);
  const int n = 4;
  // Uninterrupted: 2n blocks; the headers each block was given.
  auto whole = bs::Session::create(gen, start(), tmp.str("whole"));
  std::vector<std::vector<int>> headers;
  // Whole prompt blocks are committed as they stand, the rest count as written blocks.
  const int prompt_blocks = int(whole->queued() / cfg.model.block);
  whole->write(2 * n, [&](const bs::Block&) { headers.push_back(whole->last_header()); });
  ASSERT_EQ(whole->blocks(), prompt_blocks + 2 * n);

  // n blocks, the session closed, then resumed from its store for n more.
  {
    auto half = bs::Session::create(gen, start(), tmp.str("half"));
    half->write(n, {});
  }
  auto store = bs::SessionStore::open(tmp.str("half"));
  bs::Generator gen2(*model, tok(), store->meta().options);
  auto resumed = bs::Session::resume(gen2, std::move(store), "model");
  const int at = resumed->blocks();
  ASSERT_EQ(at, prompt_blocks + n);
  std::vector<std::vector<int>> resumed_headers;
  resumed->write(n, [&](const bs::Block&) { resumed_headers.push_back(resumed->last_header()); });

  EXPECT_EQ(resumed->document().tokens(), whole->document().tokens());
  ASSERT_EQ(resumed_headers.size(), size_t(n));
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(resumed_headers[i], headers[size_t(at + i)]) << "header of block " << at + i;

  // What makes this a test of the header: at the resume point the header shows events (of the
  // prompt's blocks, more than two blocks back) and entities, not just its delimiters.
  const std::vector<int>& h = headers[size_t(at)];
  EXPECT_GE(std::count(h.begin(), h.end(), int(bs::Tokenizer::kEvent)), 2) << "no events shown";
  EXPECT_GE(std::count(h.begin(), h.end(), int(bs::Tokenizer::kEntity)), 2) << "no entities shown";
  bool old_event = false;
  for (const bs::Event& e : whole->memory().recent) old_event |= e.block >= 0 && e.block < at - 2;
  EXPECT_TRUE(old_event) << "the header's events should come from blocks before the last two";
}

TEST_F(SessionTest, AResumeThatDoesNotFitIsRefused) {
  bs::test::TempDir tmp;
  bs::Generator gen(*model, tok(), o);
  bs::Session::create(gen, start(), tmp.str("s"))->write(1, {});
  // Another model (by its hash), refused unless forced.
  {
    auto store = bs::SessionStore::open(tmp.str("s"));
    bs::Generator g(*model, tok(), store->meta().options);
    EXPECT_THROW(bs::Session::resume(g, std::move(store), "another"), bs::Error);
  }
  {
    auto store = bs::SessionStore::open(tmp.str("s"));
    bs::Generator g(*model, tok(), store->meta().options);
    auto s = bs::Session::resume(g, std::move(store), "another", true);
    EXPECT_NE(s->warning().find("another model"), std::string::npos) << s->warning();
  }
  // A generator with other settings than the session's.
  auto store = bs::SessionStore::open(tmp.str("s"));
  bs::GenOptions other = store->meta().options;
  other.steps += 1;
  bs::Generator g(*model, tok(), other);
  EXPECT_THROW(bs::Session::resume(g, std::move(store), "model"), bs::Error);
}

}  // namespace
