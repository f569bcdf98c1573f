// Utf8Stream: text streamed in pieces comes out as valid UTF-8 exactly once, characters split
// across pieces are held back until complete, and impossible bytes become U+FFFD.
#include <gtest/gtest.h>

#include <random>

#include "text/text_stream.h"
#include "core/fileio.h"
#include "text/utf8.h"

namespace {

TEST(Utf8Stream, SplitCharactersWaitForTheirLastByte) {
  bs::Utf8Stream s;
  EXPECT_EQ(s.push("caf\xC3"), "caf");  // é cut after its lead byte
  EXPECT_EQ(s.push("\xA9 \xF0\x9F"), "\xC3\xA9 ");
  EXPECT_EQ(s.push("\x98"), "");
  EXPECT_EQ(s.push("\x80!"), "\xF0\x9F\x98\x80!");
  EXPECT_EQ(s.finish(), "");
}

TEST(Utf8Stream, ImpossibleBytesBecomeReplacementCharacters) {
  bs::Utf8Stream s;
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(s.push("a\xFF"
                   "b"),
            "a" + r + "b");  // never a lead byte
  EXPECT_EQ(s.push("\x80"
                   "c"),
            r + "c");  // a stray continuation byte
  EXPECT_EQ(s.push("\xC3"
                   "d"),
            r + "d");                 // a lead byte without its continuation
  EXPECT_EQ(s.push("\xE2\x82"), "");  // incomplete at the end: held back ...
  EXPECT_EQ(s.finish(), r);           // ... and replaced when the text ends
  EXPECT_EQ(s.push("ok"), "ok");
}

TEST(Utf8Stream, EveryOutputIsValidWhateverTheInput) {
  std::mt19937 rng(5);
  bs::Utf8Stream s;
  std::string all;
  for (int i = 0; i < 5000; ++i) {
    std::string piece(rng() % 4, '\0');
    for (char& c : piece) c = char(rng() % 256);
    std::string out = s.push(piece);
    ASSERT_TRUE(bs::valid_utf8(out));
    all += out;
  }
  all += s.finish();
  EXPECT_TRUE(bs::valid_utf8(all));
}

}  // namespace
