// The built-in corpora from Debian packages (r-cran-janeaustenr, bible-kjv, linux-doc-6.1):
// extraction, cleaning, and a full `corpus prepare` with a 4096-piece tokenizer whose encoding
// must round-trip every real document exactly. About a minute on two cores.
#include <gtest/gtest.h>

#include <regex>

#include "core/fileio.h"
#include "text/utf8.h"
#include "text/tokenizer.h"
#include "tests/testutil.h"
#include "corpus/clean.h"
#include "corpus/prepare.h"
#include "corpus/sources.h"

namespace bs {
namespace {

const SourceDoc* find(const Corpus& c, const std::string& id) {
  for (const auto& d : c.docs)
    if (d.id == id) return &d;
  return nullptr;
}

TEST(SlowCorpus, StoriesByChapterAndBook) {
  Corpus c = read_stories();
  size_t austen = 0, kjv = 0;
  for (const auto& d : c.docs) (d.id.rfind("austen/", 0) == 0 ? austen : kjv)++;
  EXPECT_EQ(austen, 269u);  // 50 + 61 + 48 + 55 + 31 + 24 chapters
  EXPECT_EQ(kjv, 66u);
  const SourceDoc* pp = find(c, "austen/pride-and-prejudice/01");
  ASSERT_TRUE(pp);
  EXPECT_EQ(pp->text.rfind("It is a truth universally acknowledged, that a single man", 0), 0u);
  const SourceDoc* gen = find(c, "kjv/01-genesis");
  ASSERT_TRUE(gen);
  EXPECT_EQ(gen->text.rfind("In the beginning God created the heaven and the earth. And", 0), 0u);
  EXPECT_EQ(std::count(gen->text.begin(), gen->text.end(), '\n'), 49);  // 50 chapters
  const std::regex chapter_heading("(^|\n)(CHAPTER|Chapter) [0-9IVXLC]+(\n|$)");
  const std::regex verse_ref("[A-Za-z]+[0-9]+:[0-9]+ ");
  for (const auto& d : c.docs) {
    EXPECT_TRUE(valid_utf8(d.text)) << d.id;
    EXPECT_FALSE(std::regex_search(d.text, chapter_heading)) << d.id;
    EXPECT_FALSE(std::regex_search(d.text, verse_ref)) << d.id;
    EXPECT_EQ(d.text.find("\n\n"), std::string::npos) << d.id;
    EXPECT_EQ(d.text.find("  "), std::string::npos) << d.id;
    EXPECT_GT(count_words(d.text), 250u) << d.id;  // 3 John, the shortest book: 294 words
  }
  EXPECT_FALSE(find(c, "austen/emma/56"));
}

TEST(SlowCorpus, ReportsAreCleanEnglishProse) {
  Corpus c = read_reports();
  EXPECT_GT(c.docs.size(), 1000u);
  EXPECT_GT(c.inputs.size(), 2500u);
  size_t backticks = 0, bytes = 0;
  for (const auto& d : c.docs) {
    EXPECT_NE(d.id.rfind("translations/", 0), 0u) << d.id;
    EXPECT_GE(count_words(d.text), kReportMinWords) << d.id;
    EXPECT_TRUE(valid_utf8(d.text)) << d.id;
    EXPECT_EQ(d.text.find("\n.. "), std::string::npos) << d.id;
    EXPECT_EQ(d.text.find("\n===="), std::string::npos) << d.id;
    backticks += std::count(d.text.begin(), d.text.end(), '`');
    bytes += d.text.size();
  }
  EXPECT_LT(backticks, bytes / 100000) << "reStructuredText roles left behind";
  const SourceDoc* cs = find(c, "process/coding-style.rst");
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->text.rfind("Linux kernel coding style\nThis is a short document", 0), 0u);
  EXPECT_EQ(cs->text.find("switch (suffix)"), std::string::npos) << "code block kept";
}

TEST(SlowCorpus, PrepareStoriesRoundTripsEveryDocument) {
  test::TempDir tmp;
  PrepareOptions o;
  o.source = "stories";
  o.out_dir = tmp.str("stories");
  PrepareResult r = prepare_corpus(o);
  EXPECT_TRUE(r.tokenizer_trained);
  EXPECT_EQ(r.train.docs + r.val.docs, 335u);
  EXPECT_GE(r.val.docs, 1u);
  EXPECT_GT(r.train.tokens, 1500000u);
  PreparedCorpus pc = open_prepared_corpus(o.out_dir);
  EXPECT_EQ(pc.tokenizer.vocab_size(), 4096);
  // Decoding each shard document gives back its source text exactly.
  Corpus c = read_stories();
  std::vector<bool> val = split_documents(c.docs, o.val_permille);
  size_t ti = 0, vi = 0;
  for (size_t i = 0; i < c.docs.size(); ++i) {
    ShardDoc d = val[i] ? pc.val.doc(vi++) : pc.train.doc(ti++);
    std::vector<int> ids(d.tokens.begin(), d.tokens.end());
    ASSERT_EQ(pc.tokenizer.decode(ids), c.docs[i].text) << c.docs[i].id;
  }
  EXPECT_TRUE(prepare_corpus(o).up_to_date);
}

TEST(SlowCorpus, PrepareReports) {
  test::TempDir tmp;
  PrepareOptions o;
  o.source = "reports";
  o.out_dir = tmp.str("reports");
  PrepareResult r = prepare_corpus(o);
  EXPECT_GT(r.train.docs, 1000u);
  EXPECT_GT(r.train.tokens, 2000000u);
  EXPECT_GE(r.val.docs, 10u);
  PreparedCorpus pc = open_prepared_corpus(o.out_dir);
  EXPECT_EQ(pc.train.num_tokens(), r.train.tokens);
  EXPECT_TRUE(prepare_corpus(o).up_to_date);
}

}  // namespace
}  // namespace bs
