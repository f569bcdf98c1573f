// Entity and timeline extraction: names with titles and particles, sentence-initial words,
// aliases, declared entities, time expressions, chapter markers, sentences cut by block
// boundaries, the header budget, and the stored form's round trip.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "text/tokenizer.h"
#include "memory/codec.h"
#include "memory/entities.h"
#include "tests/testutil.h"

namespace {

std::vector<std::string> names(const std::string& s, std::set<std::string> known = {}) {
  std::vector<std::string> out;
  for (const auto& n : bs::find_names(s, [&](const std::string& w) { return known.count(w) > 0; }))
    out.push_back(n.text);
  return out;
}

using V = std::vector<std::string>;

TEST(Names, TitlesParticlesAndPunctuation) {
  EXPECT_EQ(names("Then Mr. Darcy and Lady Catherine de Bourgh came to Longbourn."),
            (V{"Mr. Darcy", "Lady Catherine de Bourgh", "Longbourn"}));
  EXPECT_EQ(names("She met Sir William Lucas, Jane and Mrs. Bennet's sister."),
            (V{"Sir William Lucas", "Jane", "Mrs. Bennet"}));
  EXPECT_EQ(names("\"Come,\" said Colonel Fitzwilliam to the King of Israel."),
            (V{"Colonel Fitzwilliam", "King of Israel"}));
  EXPECT_EQ(names("The letter was from “Elizabeth” herself."), (V{"Elizabeth"}));
  EXPECT_EQ(names("He said that I should go."), V{});  // pronouns are not names
}

TEST(Names, SentenceInitialWords) {
  EXPECT_EQ(names("Walking home, she saw nobody."), V{});                // grammar, not a name
  EXPECT_EQ(names("Elizabeth smiled."), V{});                            // unknown: cannot tell
  EXPECT_EQ(names("Elizabeth smiled.", {"Elizabeth"}), V{"Elizabeth"});  // known: a name
  EXPECT_EQ(names("Elizabeth Bennet smiled."), V{"Elizabeth Bennet"});   // two capitals
  EXPECT_EQ(names("Mr. Collins bowed."), V{"Mr. Collins"});              // a title
  EXPECT_EQ(names("The Bennets were at home."), V{"Bennets"});
}

TEST(Times, ExpressionsAndChapters) {
  auto t = bs::find_times(
      "The next day, in 1811, on Monday 3 May, three weeks later they left at dawn.");
  EXPECT_EQ(t, (V{"The next day", "1811", "Monday", "3 May", "three weeks later", "at dawn"}));
  EXPECT_TRUE(bs::find_times("Nothing happened.").empty());
  EXPECT_TRUE(bs::is_chapter_marker("CHAPTER IV"));
  EXPECT_TRUE(bs::is_chapter_marker("  Chapter 12\n"));
  EXPECT_FALSE(bs::is_chapter_marker("The chapter ended."));
}

TEST(Tracker, AliasesMentionsAndEvents) {
  bs::EntityTracker tr;
  std::vector<bs::Event> ev;
  auto changed =
      tr.observe(0,
                 "Mr. Darcy walked in. Later Darcy smiled at Elizabeth Bennet. Elizabeth laughed. "
                 "It rained the next day. ",
                 true, ev);
  ASSERT_EQ(tr.entities().size(), 2u);
  const bs::Entity& d = tr.entities()[0];
  EXPECT_EQ(d.name, "Mr. Darcy");
  EXPECT_EQ(d.aliases, V{"Darcy"});
  EXPECT_EQ(d.mentions, 2);
  const bs::Entity& e = tr.entities()[1];
  EXPECT_EQ(e.name, "Elizabeth Bennet");
  EXPECT_EQ(e.mentions, 2);  // "Elizabeth" at a sentence start is known by then
  EXPECT_EQ(e.latest.back(), "Elizabeth laughed.");
  EXPECT_EQ(changed, (std::vector<int>{0, 1}));
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[3].times, V{"the next day"});
  EXPECT_TRUE(ev[3].entities.empty());
  // A longer form of a one-word entity becomes its name.
  bs::EntityTracker t2;
  ev.clear();
  t2.observe(0, "They saw Bingley. Then Mr. Bingley left. ", true, ev);
  ASSERT_EQ(t2.entities().size(), 1u);
  EXPECT_EQ(t2.entities()[0].name, "Mr. Bingley");
  EXPECT_EQ(t2.entities()[0].mentions, 2);
}

TEST(Tracker, SentencesCutByABlockBoundaryAreReadWhole) {
  bs::EntityTracker tr;
  std::vector<bs::Event> ev;
  tr.observe(0, "She saw Mr. Dar", false, ev);
  EXPECT_TRUE(ev.empty());
  EXPECT_TRUE(tr.entities().empty());
  EXPECT_EQ(tr.carry(), "She saw Mr. Dar");
  tr.observe(1, "cy at the door. Then she", false, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].block, 1);
  EXPECT_EQ(ev[0].sentence, "She saw Mr. Darcy at the door.");
  ASSERT_EQ(tr.entities().size(), 1u);
  EXPECT_EQ(tr.entities()[0].name, "Mr. Darcy");
  tr.observe(2, " left with Jane.", true, ev);  // the end of the document flushes the carry
  EXPECT_EQ(ev.size(), 2u);
  EXPECT_TRUE(tr.carry().empty());
}

TEST(Tracker, DeclaredEntitiesAndFacts) {
  bs::EntityTracker tr;
  tr.declare("Elizabeth Bennet", "character", {"Lizzy"});
  tr.declare("Longbourn", "place", {});
  tr.add_fact("Mr. Bennet has five daughters.");
  EXPECT_THROW(tr.declare("  ", "character", {}), bs::Error);
  std::vector<bs::Event> ev;
  tr.observe(3, "Lizzy walked to Longbourn. ", true, ev);
  ASSERT_EQ(tr.entities().size(), 2u);
  EXPECT_EQ(tr.entities()[0].mentions, 1);  // "Lizzy" opens the sentence but is declared
  EXPECT_EQ(tr.entities()[0].kind, "character");
  EXPECT_EQ(tr.entities()[1].kind, "place");
  EXPECT_EQ(tr.entities()[1].first_block, 3);
  // The stored form (memory/codec.h, through JSON text as the session keeps it) restores the
  // same tracker: same records, and the aliases resolve again.
  std::vector<bs::Entity> stored;
  for (const auto& e : tr.entities())
    stored.push_back(bs::decode_entity(bs::parse_json(bs::encode_entity(e).dump(), "t"), "t"));
  const std::vector<bs::Event> facts =
      bs::decode_events(bs::parse_json(bs::encode_events(tr.facts()).dump(), "f"), "f");
  bs::EntityTracker back;
  back.restore(stored, facts, tr.carry());
  ASSERT_EQ(back.entities().size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(bs::encode_entity(back.entities()[i]), bs::encode_entity(tr.entities()[i]));
  EXPECT_EQ(bs::encode_events(back.facts()), bs::encode_events(tr.facts()));
  std::vector<bs::Event> ev2;
  back.observe(4, "Lizzy smiled. ", true, ev2);
  EXPECT_EQ(back.entities()[0].mentions, 2);
  // Damaged records are refused with the record named.
  EXPECT_THROW(bs::parse_json("{not json", "entity 0"), bs::Error);
  nlohmann::json bad = bs::encode_entity(tr.entities()[0]);
  bad["mentions"] = "many";
  try {
    bs::decode_entity(bad, "session entity 0");
    ADD_FAILURE() << "a string for mentions was accepted";
  } catch (const bs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("session entity 0: 'mentions' is not an integer"),
              std::string::npos)
        << e.what();
  }
  bad.erase("mentions");
  EXPECT_THROW(bs::decode_entity(bad, "e"), bs::Error);
  stored[1].id = 5;
  EXPECT_THROW(back.restore(stored, facts, ""), bs::Error);  // ids must be 0, 1, ...
}

TEST(Tracker, HeaderStaysWithinItsBudget) {
  const bs::Tokenizer& tok = bs::test::tiny_tokenizer();
  bs::EntityTracker tr;
  tr.add_fact("Mr. Darcy is proud.");
  std::vector<bs::Event> ev;
  tr.observe(0, "Elizabeth Bennet walked to Longbourn. Mr. Darcy said nothing. ", true, ev);
  for (int budget : {0, 2, 3, 8, 20, 64, 200}) {
    std::vector<int> h = tr.header(tok, budget, ev);
    EXPECT_LE(int(h.size()), budget);
    if (budget < 3) {
      EXPECT_TRUE(h.empty());
      continue;
    }
    EXPECT_EQ(h.front(), bs::Tokenizer::kHeaderBegin);
    EXPECT_EQ(h.back(), bs::Tokenizer::kHeaderEnd);
  }
  std::vector<int> h = tr.header(tok, 200, ev);
  EXPECT_EQ(std::count(h.begin(), h.end(), int(bs::Tokenizer::kEntity)), 3);
  EXPECT_NE(tok.decode(h).find("Mr. Darcy is proud."), std::string::npos);
}

}  // namespace
