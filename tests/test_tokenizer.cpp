// Tokenizer (reserved ids, exact round trip, offsets, refusing foreign models) and sentence
// segmentation with per-token sentence indices. A tiny tokenizer is trained once on generated
// text (about a second).
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <random>

#include "core/error.h"
#include "core/fileio.h"
#include "text/utf8.h"
#include "text/sentences.h"
#include "text/tokenizer.h"
#include "tests/testutil.h"

namespace bs {
namespace {

// Generated English-like text: paragraphs of sentences from a small word list.
std::string generated_text(int paragraphs, uint32_t seed) {
  static const char* words[] = {"the",       "house", "garden",  "river",  "walked",  "said",
                                "Elizabeth", "Darcy", "morning", "letter", "quickly", "never",
                                "because",   "and",   "of",      "to",     "in",      "she",
                                "he",        "was",   "a",       "time",   "long",    "evening",
                                "42",        "1811",  "Mr.",     "Bennet", "could",   "would"};
  std::mt19937 rng(seed);
  std::string s;
  for (int p = 0; p < paragraphs; ++p) {
    int sentences = 2 + int(rng() % 5);
    for (int k = 0; k < sentences; ++k) {
      int n = 4 + int(rng() % 10);
      for (int w = 0; w < n; ++w) {
        std::string word = words[rng() % std::size(words)];
        if (w == 0) word[0] = char(std::toupper(word[0]));
        s += word;
        s += w + 1 < n ? (rng() % 9 == 0 ? ", " : " ") : (rng() % 5 == 0 ? "? " : ". ");
      }
    }
    s.back() = '\n';
  }
  return s;
}

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    text_ = new std::string(generated_text(400, 7));
    std::vector<std::string_view> docs = {*text_};
    TokenizerTrainOptions o;
    o.vocab_size = 400;
    model_ = new std::string(train_tokenizer(docs, o));
  }
  static void TearDownTestSuite() {
    delete text_;
    delete model_;
  }
  static Tokenizer tok() { return Tokenizer::from_serialized(*model_, "test model"); }
  static std::string* text_;
  static std::string* model_;
};
std::string* TokenizerTest::text_ = nullptr;
std::string* TokenizerTest::model_ = nullptr;

TEST_F(TokenizerTest, ReservedIdsAreFixed) {
  Tokenizer t = tok();
  const char* pieces[] = {"<pad>", "<unk>", "<s>",    "</s>",  "<mask>",
                          "<sum>", "<hdr>", "</hdr>", "<ent>", "<evt>"};
  for (int id = 0; id < Tokenizer::kNumReserved; ++id) EXPECT_EQ(t.id_to_piece(id), pieces[id]);
  EXPECT_EQ(t.id_to_piece(Tokenizer::kMask), "<mask>");
  EXPECT_EQ(t.id_to_piece(Tokenizer::kSummary), "<sum>");
  EXPECT_EQ(t.id_to_piece(Tokenizer::kHeaderBegin), "<hdr>");
  EXPECT_EQ(t.id_to_piece(Tokenizer::kHeaderEnd), "</hdr>");
  EXPECT_EQ(t.id_to_piece(Tokenizer::kEntity), "<ent>");
  EXPECT_EQ(t.id_to_piece(Tokenizer::kEvent), "<evt>");
  EXPECT_LE(t.vocab_size(), 400);
  EXPECT_GT(t.vocab_size(), Tokenizer::kNumReserved + 256);
}

TEST_F(TokenizerTest, ControlTextIsOrdinaryText) {
  Tokenizer t = tok();
  std::string s = "a <mask> b <sum><hdr></hdr><ent><evt><s></s><pad><unk>";
  std::vector<int> ids = t.encode(s);
  for (int id : ids) EXPECT_GE(id, Tokenizer::kNumReserved) << "literal text became a control id";
  EXPECT_EQ(t.decode(ids), s);
}

TEST_F(TokenizerTest, ReservedIdsDecodeToNothing) {
  Tokenizer t = tok();
  std::vector<int> ids = t.encode("He said");
  std::vector<int> with = {Tokenizer::kBos, Tokenizer::kMask};
  with.insert(with.end(), ids.begin(), ids.end());
  with.push_back(Tokenizer::kEos);
  EXPECT_EQ(t.decode(with), "He said");
}

// Random valid UTF-8 from ranges that trouble tokenizers: controls, tabs, newlines, runs of
// spaces, combining marks, CJK, emoji, U+2581 (SentencePiece's own space symbol), NUL.
std::string random_utf8(std::mt19937& rng) {
  static const std::pair<uint32_t, uint32_t> ranges[] = {
      {0x20, 0x7E},     {0x20, 0x20},     {0x0, 0x1F},        {0x0A, 0x0A},       {0x09, 0x09},
      {0xA0, 0x17F},    {0x300, 0x36F},   {0x4E00, 0x9FFF},   {0x1F600, 0x1F64F}, {0x2581, 0x2581},
      {0x2000, 0x206F}, {0xFFF0, 0xFFFD}, {0x10000, 0x10FFFF}};
  std::string s;
  int n = int(rng() % 40);
  for (int i = 0; i < n; ++i) {
    auto [lo, hi] = ranges[rng() % std::size(ranges)];
    uint32_t cp = lo + rng() % (hi - lo + 1);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    if (cp < 0x80) {
      s += char(cp);
    } else if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += char(0xE0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xF0 | (cp >> 18)), s += char(0x80 | ((cp >> 12) & 0x3F));
      s += char(0x80 | ((cp >> 6) & 0x3F)), s += char(0x80 | (cp & 0x3F));
    }
  }
  return s;
}

TEST_F(TokenizerTest, EveryValidUtf8StringRoundTrips) {
  Tokenizer t = tok();
  std::vector<std::string> fixed = {
      "",
      " ",
      "   leading and trailing   ",
      "tab\there\n\nnew  lines\r\n",
      std::string("nul\0byte", 8),
      "caf\xC3\xA9 e\xCC\x81 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80",
      "\xE2\x96\x81 literal lower-one-eighth block \xE2\x96\x81\xE2\x96\x81",
      "<mask>",
      "\x7F\x01\x1B[0m"};
  std::mt19937 rng(123);
  for (int i = 0; i < 2000; ++i) fixed.push_back(random_utf8(rng));
  fixed.push_back(*text_);
  for (const auto& s : fixed) {
    ASSERT_TRUE(valid_utf8(s));
    std::vector<int> ids = t.encode(s);
    ASSERT_EQ(t.decode(ids), s) << "round trip failed for: " << s;
    for (int id : ids) ASSERT_GE(id, Tokenizer::kNumReserved);
    // Token by token (how generated text streams), the bytes add up to the same text.
    std::string bytes;
    for (int id : ids) bytes += t.token_bytes(id);
    ASSERT_EQ(bytes, s) << "token bytes differ for: " << s;
  }
  EXPECT_EQ(t.token_bytes(Tokenizer::kEos), "");
}

TEST_F(TokenizerTest, OffsetsCoverTheInput) {
  Tokenizer t = tok();
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    std::string s =
        i == 0 ? "Mr. Darcy \xE2\x96\x81 caf\xC3\xA9 \xF0\x9F\x98\x80!" : random_utf8(rng);
    Encoding e = t.encode_with_offsets(s);
    ASSERT_EQ(e.ids.size(), e.spans.size());
    ASSERT_EQ(e.ids, t.encode(s));
    uint32_t pos = 0;
    std::string rebuilt;
    for (const TokenSpan& sp : e.spans) {
      ASSERT_EQ(sp.begin, pos) << "spans must tile the input: " << s;
      ASSERT_LE(sp.begin, sp.end);
      rebuilt += s.substr(sp.begin, sp.end - sp.begin);
      pos = sp.end;
    }
    ASSERT_EQ(pos, s.size());
    ASSERT_EQ(rebuilt, s);
  }
}

TEST_F(TokenizerTest, InvalidUtf8IsRefusedByName) {
  Tokenizer t = tok();
  try {
    t.encode("ok \xC3\x28 bad", "chapter 3");
    FAIL() << "expected bs::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.thing(), "chapter 3");
    EXPECT_NE(e.problem().find("invalid UTF-8 at byte 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.encode_with_offsets("\xFF"), Error);
}

TEST_F(TokenizerTest, OutOfRangeIdsAreRefused) {
  Tokenizer t = tok();
  std::vector<int> bad = {20, t.vocab_size()};
  EXPECT_THROW(t.decode(bad), Error);
  std::vector<int> neg = {-1};
  EXPECT_THROW(t.decode(neg), Error);
  EXPECT_THROW(t.id_to_piece(t.vocab_size()), Error);
}

TEST_F(TokenizerTest, SerializedBytesRoundTripThroughAFile) {
  test::TempDir dir;
  Tokenizer a = tok();
  write_file_atomic(dir.str("m.model"), a.serialized());
  Tokenizer b = Tokenizer::load(dir.str("m.model"));
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.hash(), hash64(*model_));
  EXPECT_EQ(a.encode(*text_), b.encode(*text_));
}

TEST_F(TokenizerTest, TrainingIsDeterministic) {
  std::vector<std::string_view> docs = {*text_};
  TokenizerTrainOptions o;
  o.vocab_size = 400;
  EXPECT_EQ(hash64(train_tokenizer(docs, o)), hash64(*model_));
}

TEST_F(TokenizerTest, BpeTrainsAndRoundTrips) {
  std::vector<std::string_view> docs = {*text_};
  TokenizerTrainOptions o;
  o.vocab_size = 350;
  o.model_type = "bpe";
  Tokenizer t = Tokenizer::from_serialized(train_tokenizer(docs, o), "bpe");
  EXPECT_EQ(t.id_to_piece(Tokenizer::kMask), "<mask>");
  std::mt19937 rng(9);
  for (int i = 0; i < 200; ++i) {
    std::string s = random_utf8(rng);
    ASSERT_EQ(t.decode(t.encode(s)), s);
  }
}

TEST(TokenizerLoad, RefusesMissingCorruptAndForeignModels) {
  test::TempDir dir;
  auto expect_error = [](const std::string& path, const std::string& words) {
    try {
      Tokenizer::load(path);
      FAIL() << "expected bs::Error for " << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.thing(), path);
      EXPECT_NE(e.problem().find(words), std::string::npos) << e.what();
    }
  };
  expect_error(dir.str("missing.model"), "not found");
  test::write_file(dir.path() / "garbage.model", "this is not a protobuf \xFF\xFE\x01");
  expect_error(dir.str("garbage.model"), "not a SentencePiece");
  test::write_file(dir.path() / "empty.model", "");
  expect_error(dir.str("empty.model"), "empty");

  // A stock SentencePiece model (ids <unk>=0, <s>=1, </s>=2) is refused.
  std::string text = generated_text(100, 3);
  std::vector<std::string> lines;
  for (size_t p = 0, nl; p < text.size(); p = nl + 1) {
    nl = text.find('\n', p);
    lines.push_back(text.substr(p, nl - p));
  }
  struct It : sentencepiece::SentenceIterator {
    std::vector<std::string>* v;
    size_t i = 0;
    bool done() const override { return i >= v->size(); }
    void Next() override { ++i; }
    const std::string& value() const override { return (*v)[i]; }
    sentencepiece::util::Status status() const override { return {}; }
  } it;
  it.v = &lines;
  std::string model;
  auto st = sentencepiece::SentencePieceTrainer::Train({{"vocab_size", "400"},
                                                        {"byte_fallback", "true"},
                                                        {"minloglevel", "2"},
                                                        {"hard_vocab_limit", "false"}},
                                                       &it, &model);
  ASSERT_TRUE(st.ok()) << st.message();
  test::write_file(dir.path() / "foreign.model", model);
  expect_error(dir.str("foreign.model"), "not a blockscribe tokenizer");
}

// ---------------------------------------------------------------------------------------------
// Sentences

std::vector<std::string> sentences_of(std::string_view text) {
  std::vector<std::string> out;
  for (SentenceSpan s : sentence_spans(text))
    out.emplace_back(text.substr(s.begin, s.end - s.begin));
  return out;
}

TEST(Sentences, TrickyEnglish) {
  EXPECT_EQ(sentences_of("Mr. Darcy arrived. He said \"No!\" Then left."),
            (std::vector<std::string>{"Mr. Darcy arrived. ", "He said \"No!\" ", "Then left."}));
  EXPECT_EQ(
      sentences_of("Dr. Smith met Mrs. Bennet at 3 p.m. on Tuesday. It rained."),
      (std::vector<std::string>{"Dr. Smith met Mrs. Bennet at 3 p.m. on Tuesday. ", "It rained."}));
  EXPECT_EQ(sentences_of("Is it? Yes... Perhaps. See e.g. this one. and not here."),
            (std::vector<std::string>{"Is it? ", "Yes... ", "Perhaps. ",
                                      "See e.g. this one. and not here."}));
  // A newline always ends a sentence and stays with it.
  EXPECT_EQ(sentences_of("A heading\nFirst line. Second line.\n"),
            (std::vector<std::string>{"A heading\n", "First line. ", "Second line.\n"}));
  EXPECT_EQ(sentences_of("no terminator"), (std::vector<std::string>{"no terminator"}));
  EXPECT_TRUE(sentence_spans("").empty());
}

TEST(Sentences, ByteOffsetsWithMultibyteText) {
  // é (2 bytes), 中文 (3 bytes each), 😀 (4 bytes): spans are UTF-8 byte offsets, not UTF-16.
  std::string t = "Caf\xC3\xA9 au lait. \xE4\xB8\xAD\xE6\x96\x87\xE3\x80\x82\xF0\x9F\x98\x80 Fin.";
  auto spans = sentence_spans(t);
  ASSERT_GE(spans.size(), 2u);
  EXPECT_EQ(spans[0].begin, 0u);
  EXPECT_EQ(t.substr(0, spans[0].end), "Caf\xC3\xA9 au lait. ");
  for (size_t i = 1; i < spans.size(); ++i) EXPECT_EQ(spans[i].begin, spans[i - 1].end);
  EXPECT_EQ(spans.back().end, t.size());
  for (auto s : spans)
    EXPECT_TRUE(valid_utf8(std::string_view(t).substr(s.begin, s.end - s.begin)));
  EXPECT_THROW(sentence_spans("bad \xC3"), Error);
}

TEST_F(TokenizerTest, TokenSentenceIndices) {
  Tokenizer t = tok();
  std::string text = "Mr. Darcy arrived. He said \"No!\" Then left.\nA new one.";
  Encoding e = t.encode_with_offsets(text);
  auto spans = sentence_spans(text);
  ASSERT_EQ(spans.size(), 4u);
  std::vector<uint32_t> idx = token_sentence_indices(e.spans, spans);
  ASSERT_EQ(idx.size(), e.ids.size());
  EXPECT_EQ(idx.front(), 0u);
  EXPECT_EQ(idx.back(), 3u);
  for (size_t i = 0; i < idx.size(); ++i) {
    if (i > 0) {
      EXPECT_GE(idx[i], idx[i - 1]);
    }
    const TokenSpan& sp = e.spans[i];
    std::string piece = text.substr(sp.begin, sp.end - sp.begin);
    // A token's last byte lies inside its sentence.
    uint32_t key = sp.end > sp.begin ? sp.end - 1 : sp.begin;
    EXPECT_GE(key, spans[idx[i]].begin) << piece;
    EXPECT_LT(key, spans[idx[i]].end) << piece;
  }
  // The word "He" (with its leading space) opens sentence 1.
  std::string first_of_1;
  for (size_t i = 0; i < idx.size(); ++i) {
    if (idx[i] == 1) first_of_1 += text.substr(e.spans[i].begin, e.spans[i].end - e.spans[i].begin);
  }
  EXPECT_EQ(first_of_1.substr(0, 3), " He");

  // Hand-made spans: byte-fallback pieces (empty leading spans) follow their character.
  std::vector<SentenceSpan> s2 = {{0, 4}, {4, 10}};
  std::vector<TokenSpan> toks = {{0, 2}, {2, 4}, {4, 4}, {4, 4}, {4, 7}, {7, 10}};
  EXPECT_EQ(token_sentence_indices(toks, s2), (std::vector<uint32_t>{0, 0, 1, 1, 1, 1}));
  EXPECT_TRUE(token_sentence_indices({}, s2).empty());
}

// One byte-fallback token per byte, so the token boundaries (and the expected indices) can be
// written down by hand.
std::vector<int> byte_tokens(const Tokenizer& t, std::string_view bytes) {
  std::vector<int> ids;
  for (unsigned char c : bytes) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>", c);
    int id = -1;
    for (int i = 0; i < t.vocab_size() && id < 0; ++i)
      if (t.id_to_piece(i) == piece) id = i;
    EXPECT_GE(id, 0) << piece;
    ids.push_back(id);
  }
  return ids;
}

TEST_F(TokenizerTest, BlockSentenceIndices) {
  Tokenizer t = tok();
  using V = std::vector<int>;
  // A sentence that crosses the block boundary: the block's first sentence is index 0.
  EXPECT_EQ(block_sentence_indices(t, byte_tokens(t, "He said"), byte_tokens(t, " no. She left.")),
            (V{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  // The previous block is read: "Mr." before the block is an abbreviation, so ". Darcy." goes on
  // with its sentence; the block alone breaks after its first ". ".
  EXPECT_EQ(block_sentence_indices(t, byte_tokens(t, "He met Mr"), byte_tokens(t, ". Darcy.")),
            (V{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(block_sentence_indices(t, {}, byte_tokens(t, ". Darcy.")), (V{0, 0, 1, 1, 1, 1, 1, 1}));
  // A character cut by the block boundary is whole with the previous block: "Caf\xC3" +
  // "\xA9. Tea." reads "Café. Tea.".
  EXPECT_EQ(block_sentence_indices(t, byte_tokens(t, "Caf\xC3"), byte_tokens(t, "\xA9. Tea.")),
            (V{0, 0, 0, 1, 1, 1, 1}));
  // ... and a character cut by the end of the block (its rest comes later) reads as spaces, so
  // it stays with the sentence before it; so do bytes that are no character at all.
  EXPECT_EQ(block_sentence_indices(t, {}, byte_tokens(t, "Hi. Yo. \xE2\x80")),
            (V{0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(block_sentence_indices(t, {}, byte_tokens(t, "Hi. \xFF\xFEYo.")),
            (V{0, 0, 0, 0, 0, 0, 1, 1, 1}));
  // <s> belongs to the first sentence, </s> padding to the last, a block without text is all 0.
  V blk = {Tokenizer::kBos};
  for (int id : byte_tokens(t, "Hi. Yo.")) blk.push_back(id);
  blk.push_back(Tokenizer::kEos), blk.push_back(Tokenizer::kEos);
  EXPECT_EQ(block_sentence_indices(t, {}, blk), (V{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(block_sentence_indices(t, blk, V(4, Tokenizer::kEos)), (V{0, 0, 0, 0}));
  EXPECT_EQ(block_sentence_indices(t, {}, V(4, Tokenizer::kEos)), (V{0, 0, 0, 0}));
}

TEST(TokenizerTraining, TooSmallAVocabularyIsSaidInOurWords) {
  std::string text;  // 2,000 distinct CJK characters: more than 300 pieces can hold
  for (int i = 0; i < 4000; ++i) {
    const uint32_t c = 0x4E00 + uint32_t(i % 2000);
    text += char(0xE0 | (c >> 12)), text += char(0x80 | ((c >> 6) & 0x3F)),
        text += char(0x80 | (c & 0x3F));
  }
  std::vector<std::string_view> docs = {text};
  TokenizerTrainOptions o;
  o.vocab_size = 300;
  try {
    train_tokenizer(docs, o);
    ADD_FAILURE() << "trained a 300-piece tokenizer for 2,000 characters";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("a vocabulary of 300 is too small"), std::string::npos) << m;
    EXPECT_NE(m.find("give --vocab"), std::string::npos) << m;
    EXPECT_EQ(m.find("character_coverage"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace bs
