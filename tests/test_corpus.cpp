// Corpus pipeline: reStructuredText cleaning, .txt folder and JSONL sources, the train/val split,
// token shards (round trip, corruption, truncation) and `corpus prepare` (no-op rerun, change
// detection, failed runs leave the output alone). Small generated corpora; runs in seconds.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "core/error.h"
#include "core/fileio.h"
#include "tests/testutil.h"
#include "corpus/clean.h"
#include "corpus/prepare.h"
#include "corpus/shard.h"
#include "corpus/sources.h"

namespace bs {
namespace {
namespace fs = std::filesystem;

// Expects fn to throw bs::Error whose thing is `thing` and whose problem contains `words`.
template <class Fn>
void expect_error(Fn fn, const std::string& thing, const std::string& words) {
  try {
    fn();
    ADD_FAILURE() << "expected bs::Error(" << thing << ", ..." << words << "...)";
  } catch (const Error& e) {
    EXPECT_EQ(e.thing(), thing) << e.what();
    EXPECT_NE(e.problem().find(words), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// reStructuredText cleaning

TEST(CleanRst, SampleDocument) {
  const std::string rst =
      ".. SPDX-License-Identifier: GPL-2.0\n"
      "\n"
      ".. _kref_doc:\n"
      "\n"
      "==================\n"
      "Reference counters\n"
      "==================\n"
      "\n"
      ":Author: Someone <someone@example.org>\n"
      "\n"
      "krefs allow you to add **reference counters** to your objects. Call\n"
      ":c:func:`kref_init` first and see :ref:`the rules <kref_rules>` and\n"
      "`the paper <http://example.org/paper.pdf>`_ for details [#f1]_.\n"
      "\n"
      "To use a kref, add one to your structure like::\n"
      "\n"
      "    struct my_data {\n"
      "        struct kref refcount;\n"
      "    };\n"
      "\n"
      "The ``kref`` can occur anywhere :\n"
      "\n"
      "Rules\n"
      "-----\n"
      "\n"
      ".. note::\n"
      "   Keep the *last* reference in mind.\n"
      "\n"
      ".. code-block:: c\n"
      "\n"
      "\tkref_put(&data->refcount, release);\n"
      "\n"
      "=====  =========\n"
      "Name   Meaning\n"
      "=====  =========\n"
      "get    increment\n"
      "put    decrement\n"
      "=====  =========\n"
      "\n"
      "+------+------+\n"
      "| a    | b    |\n"
      "+------+------+\n"
      "\n"
      "1) If you copy a pointer you must\n"
      "   increment the count::\n"
      "\n"
      "       kref_get(&data->refcount);\n"
      "\n"
      "   After that the copy is safe. |version| is current.\n"
      "\n"
      ".. [#f1] A footnote that disappears.\n"
      ".. toctree::\n"
      "   :maxdepth: 2\n"
      "\n"
      "   other\n";
  const std::string want =
      "Reference counters\n"
      "krefs allow you to add reference counters to your objects. Call kref_init first and see "
      "the rules and the paper for details.\n"
      "To use a kref, add one to your structure like:\n"
      "The kref can occur anywhere :\n"
      "Rules\n"
      "Keep the last reference in mind.\n"
      "1) If you copy a pointer you must increment the count:\n"
      "After that the copy is safe. version is current.";
  EXPECT_EQ(clean_rst(rst), want);
}

TEST(CleanRst, InlineMarkup) {
  EXPECT_EQ(clean_rst_inline("call :c:func:`~foo.bar` now"), "call foo.bar now");
  EXPECT_EQ(clean_rst_inline(":doc:`/admin-guide/index`"), "/admin-guide/index");
  EXPECT_EQ(clean_rst_inline("see `LWN <https://lwn.net>`__."), "see LWN.");
  EXPECT_EQ(clean_rst_inline("a ``*ptr`` b"), "a *ptr b");
  EXPECT_EQ(clean_rst_inline("x *emph* and **strong** y"), "x emph and strong y");
  EXPECT_EQ(clean_rst_inline("2 * 3 * 4 and a*b"), "2 * 3 * 4 and a*b");
  EXPECT_EQ(clean_rst_inline("text [1]_ more"), "text more");
  EXPECT_EQ(clean_rst_inline("escaped \\*star\\* and\\ glued"), "escaped *star* andglued");
  EXPECT_EQ(clean_rst_inline("  lots   of    space  "), "lots of space");
}

TEST(CleanRst, WordsAndNewlines) {
  EXPECT_EQ(count_words(" one two\nthree\t four "), 4u);
  EXPECT_EQ(count_words(""), 0u);
  EXPECT_EQ(normalize_newlines("\xEF\xBB\xBF"
                               "a\r\nb\rc\n"),
            "a\nb\nc\n");
}

// ---------------------------------------------------------------------------------------------
// Sources

TEST(Sources, TextFolderRecursiveSorted) {
  test::TempDir d;
  fs::create_directories(d.path() / "b" / "c");
  test::write_file(d.path() / "z.txt", "last\r\nline");
  test::write_file(d.path() / "a.txt", "first");
  test::write_file(d.path() / "b" / "c" / "m.txt", "middle");
  test::write_file(d.path() / "b" / "empty.txt", " \n");
  test::write_file(d.path() / "notes.md", "ignored");
  Corpus c = read_text_dir(d.str());
  ASSERT_EQ(c.docs.size(), 3u);
  EXPECT_EQ(c.docs[0].id, "a.txt");
  EXPECT_EQ(c.docs[1].id, "b/c/m.txt");
  EXPECT_EQ(c.docs[2].id, "z.txt");
  EXPECT_EQ(c.docs[2].text, "last\nline");
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.inputs.size(), 4u);  // the empty file still counts as an input

  test::write_file(d.path() / "bad.txt", "ok \xC3\x28");
  expect_error([&] { read_text_dir(d.str()); }, (d.path() / "bad.txt").string(),
               "invalid UTF-8 at byte 3");
  expect_error([&] { read_text_dir(d.str("missing")); }, d.str("missing"), "not found");
  expect_error([&] { read_corpus(d.str("nothing.jsonl")); }, d.str("nothing.jsonl"), "not found");
  expect_error([&] { read_corpus(d.str("notes.md")); }, d.str("notes.md"), "not a folder");
}

TEST(Sources, Jsonl) {
  test::TempDir d;
  std::string p = d.str("docs.jsonl");
  test::write_file(p,
                   "{\"text\": \"one\\ntwo\", \"id\": \"first\"}\n"
                   "\n"
                   "{\"text\": \"three\", \"id\": 7}\n"
                   "{\"text\": \"four\", \"meta\": {\"x\": 1}}\n"
                   "{\"text\": \"   \"}\n");
  Corpus c = read_jsonl(p);
  ASSERT_EQ(c.docs.size(), 3u);
  EXPECT_EQ(c.docs[0].id, "first");
  EXPECT_EQ(c.docs[0].text, "one\ntwo");
  EXPECT_EQ(c.docs[1].id, "7");
  EXPECT_EQ(c.docs[2].id, "docs.jsonl:4");

  auto bad = [&](const std::string& line3, const std::string& words) {
    test::write_file(p, "{\"text\": \"a\"}\n\n" + line3 + "\n{\"text\": \"b\"}\n");
    expect_error([&] { read_jsonl(p); }, p + ":3", words);
  };
  bad("{\"text\": \"unterminated}", "not valid JSON");
  bad("{\"title\": \"x\"}", "no \"text\" field");
  bad("{\"text\": 12}", "\"text\" is a number");
  bad("[1, 2]", "expected a JSON object");
  bad("{\"text\": \"caf\xC3\"}", "invalid UTF-8");
}

// ---------------------------------------------------------------------------------------------
// Split

TEST(Split, DeterministicWithAtLeastOneValidationDoc) {
  std::vector<SourceDoc> docs;
  for (int i = 0; i < 2000; ++i) docs.push_back({"doc" + std::to_string(i), "x"});
  std::vector<bool> a = split_documents(docs, 20);
  EXPECT_EQ(a, split_documents(docs, 20));
  size_t n_val = std::count(a.begin(), a.end(), true);
  EXPECT_GT(n_val, 20u);  // about 2% of 2000
  EXPECT_LT(n_val, 70u);
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(a[i], is_validation_id(docs[i].id, 20));

  std::vector<SourceDoc> two = {{"x", "a"}, {"y", "b"}};
  std::vector<bool> s = split_documents(two, 1);
  EXPECT_EQ(std::count(s.begin(), s.end(), true), 1);
  EXPECT_EQ(split_documents(two, 1), s);
  std::vector<bool> all = split_documents(two, 1000);
  EXPECT_EQ(std::count(all.begin(), all.end(), true), 1);  // one stays in train
  std::vector<bool> none = split_documents(two, 0);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
  std::vector<SourceDoc> one = {{"x", "a"}};
  EXPECT_EQ(split_documents(one, 20), std::vector<bool>{false});
}

// ---------------------------------------------------------------------------------------------
// Shards

std::string make_shard(ShardWriter& w) {
  std::vector<int> t1 = {10, 65535, 300, 11};
  std::vector<int> t2 = {12, 13, 14};
  w.add(t1);
  w.add({});
  w.add(t2);
  return w.bytes();
}

TEST(Shard, WriteReadRoundTrip) {
  test::TempDir d;
  ShardWriter w;
  std::string bytes = make_shard(w);
  EXPECT_EQ(bytes.substr(0, 8), "BSSHARD1");
  // 24 header + 4 offsets*8 + 7 tokens*2 + 8 hash
  EXPECT_EQ(bytes.size(), 24u + 32u + 14u + 8u);
  uint32_t version = 0;
  std::memcpy(&version, bytes.data() + 8, 4);
  EXPECT_EQ(version, 2u);
  w.write(d.str("s.bin"));
  ShardReader r = ShardReader::open(d.str("s.bin"));
  ASSERT_EQ(r.num_docs(), 3u);
  EXPECT_EQ(r.num_tokens(), 7u);
  ShardDoc a = r.doc(0), b = r.doc(1), c = r.doc(2);
  EXPECT_EQ(std::vector<uint16_t>(a.tokens.begin(), a.tokens.end()),
            (std::vector<uint16_t>{10, 65535, 300, 11}));
  EXPECT_TRUE(b.tokens.empty());
  EXPECT_EQ(std::vector<uint16_t>(c.tokens.begin(), c.tokens.end()),
            (std::vector<uint16_t>{12, 13, 14}));
  EXPECT_EQ(r.max_token(), 65535);
  EXPECT_EQ(r.file_hash(), hash64(bytes));
  EXPECT_THROW(r.doc(3), Error);

  ShardWriter empty;
  empty.write(d.str("e.bin"));
  EXPECT_EQ(ShardReader::open(d.str("e.bin")).num_docs(), 0u);
}

TEST(Shard, WriterRefusesBadInput) {
  ShardWriter w;
  std::vector<int> big = {5, 70000}, neg = {1, -1}, two = {1, 2};
  EXPECT_THROW(w.add(big), Error);  // id beyond 16 bits
  EXPECT_THROW(w.add(neg), Error);  // negative id
  EXPECT_EQ(w.num_docs(), 0u);      // a refused document leaves nothing behind
  EXPECT_EQ(w.num_tokens(), 0u);
  EXPECT_NO_THROW(w.add(two));
  EXPECT_EQ(w.num_tokens(), 2u);
}

TEST(Shard, CorruptOrTruncatedFilesAreRefused) {
  test::TempDir d;
  ShardWriter w;
  const std::string good = make_shard(w);
  const std::string p = d.str("s.bin");
  // Every single flipped byte is caught (magic, header sizes, offsets, data or checksum).
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = char(bad[i] ^ 0x40);
    test::write_file(p, bad);
    EXPECT_THROW(ShardReader::open(p), Error) << "flipped byte " << i;
  }
  for (size_t n : {size_t(0), size_t(7), size_t(30), good.size() - 1}) {
    test::write_file(p, good.substr(0, n));
    expect_error([&] { ShardReader::open(p); }, p, "truncated");
  }
  test::write_file(p, good + "x");
  expect_error([&] { ShardReader::open(p); }, p, "trailing bytes");
  std::string v1 = good;
  v1[8] = 1;  // version 1 shards carried sentence indices: rebuilt, not read
  test::write_file(p, v1);
  expect_error([&] { ShardReader::open(p); }, p, "shard version 1, this build reads 2");
  test::write_file(p, std::string(200, 'x'));
  expect_error([&] { ShardReader::open(p); }, p, "bad magic");
  expect_error([&] { ShardReader::open(d.str("none.bin")); }, d.str("none.bin"), "not found");
}

// ---------------------------------------------------------------------------------------------
// corpus prepare

std::string paragraph(std::mt19937& rng) {
  static const char* words[] = {"the",  "river", "garden",  "walked", "letter",  "morning", "she",
                                "said", "never", "because", "house",  "evening", "and",     "of"};
  std::string s;
  int n = 20 + int(rng() % 30);
  for (int i = 0; i < n; ++i) {
    std::string w = words[rng() % std::size(words)];
    if (i == 0 || (s.back() == ' ' && s[s.size() - 2] == '.')) w[0] = char(std::toupper(w[0]));
    s += w + (i + 1 == n ? "." : rng() % 7 == 0 ? ". " : " ");
  }
  return s;
}

void make_docs(const fs::path& dir, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    test::write_file(dir / ("doc" + std::to_string(100 + i) + ".txt"),
                     paragraph(rng) + "\n" + paragraph(rng));
  }
}

std::map<std::string, std::pair<std::string, fs::file_time_type>> snapshot(const fs::path& dir) {
  std::map<std::string, std::pair<std::string, fs::file_time_type>> m;
  for (auto& e : fs::directory_iterator(dir)) {
    m[e.path().filename().string()] = {test::read_file(e.path()), fs::last_write_time(e.path())};
  }
  return m;
}

struct PrepareFixture : ::testing::Test {
  test::TempDir tmp;
  fs::path src = tmp.path() / "src";
  fs::path out = tmp.path() / "out";
  std::vector<std::string> log;
  PrepareOptions opt() {
    PrepareOptions o;
    o.source = src.string();
    o.out_dir = out.string();
    o.vocab = 400;
    o.val_permille = 100;
    return o;
  }
  PrepareResult run(const PrepareOptions& o) {
    log.clear();
    return prepare_corpus(o, [&](const std::string& s) { log.push_back(s); });
  }
  bool logged(const std::string& words) {
    for (auto& l : log)
      if (l.find(words) != std::string::npos) return true;
    return false;
  }
};

TEST_F(PrepareFixture, BuildsThenRerunIsANoOp) {
  make_docs(src, 30, 1);
  PrepareResult r = run(opt());
  EXPECT_FALSE(r.up_to_date);
  EXPECT_TRUE(r.tokenizer_trained);
  EXPECT_EQ(r.train.docs + r.val.docs, 30u);
  EXPECT_GE(r.val.docs, 1u);
  EXPECT_GT(r.train.tokens, 1000u);
  for (auto f : {"manifest.json", "tokenizer.model", "train.bin", "val.bin"})
    EXPECT_TRUE(fs::exists(out / f)) << f;

  PreparedCorpus c = open_prepared_corpus(out.string());
  EXPECT_EQ(c.train.num_docs(), r.train.docs);
  EXPECT_EQ(c.train.num_tokens(), r.train.tokens);
  EXPECT_EQ(c.val.num_tokens(), r.val.tokens);
  // The shards decode back to the documents.
  std::set<std::string> texts;
  for (auto& e : fs::directory_iterator(src)) texts.insert(test::read_file(e.path()));
  for (size_t i = 0; i < c.train.num_docs(); ++i) {
    auto d = c.train.doc(i);
    std::vector<int> ids(d.tokens.begin(), d.tokens.end());
    EXPECT_TRUE(texts.count(c.tokenizer.decode(ids))) << "train doc " << i;
  }

  auto before = snapshot(out);
  PrepareResult again = run(opt());
  EXPECT_TRUE(again.up_to_date);
  EXPECT_TRUE(logged("up to date"));
  EXPECT_EQ(again.train.tokens, r.train.tokens);
  EXPECT_EQ(snapshot(out), before);  // same bytes, same mtimes, no stray files
}

TEST_F(PrepareFixture, DetectsEditedAddedRemovedInputs) {
  make_docs(src, 20, 2);
  run(opt());
  test::write_file(src / "doc105.txt", "An edited document. It has new words in it.");
  PrepareResult r = run(opt());
  EXPECT_FALSE(r.up_to_date);
  EXPECT_TRUE(logged("1 edited (doc105.txt)")) << log.at(2);
  EXPECT_TRUE(run(opt()).up_to_date);

  test::write_file(src / "new.txt", "A new document arrives. It is short.");
  fs::remove(src / "doc101.txt");
  run(opt());
  EXPECT_TRUE(logged("added (new.txt)"));
  EXPECT_TRUE(logged("removed (doc101.txt)"));
  EXPECT_EQ(open_prepared_corpus(out.string()).train.num_docs() +
                open_prepared_corpus(out.string()).val.num_docs(),
            20u);

  PrepareOptions o = opt();
  o.val_permille = 300;
  run(o);
  EXPECT_TRUE(logged("options changed: val_permille 100 -> 300"));

  // A shard edited behind prepare's back is noticed and rebuilt.
  test::write_file(out / "val.bin", "junk");
  run(o);
  EXPECT_TRUE(logged("val.bin does not match manifest.json"));
  EXPECT_NO_THROW(open_prepared_corpus(out.string()));
}

TEST_F(PrepareFixture, ReusesTheTokenizerWhenTrainDocsAreUnchanged) {
  make_docs(src, 20, 3);
  run(opt());
  std::string tok = test::read_file(out / "tokenizer.model");
  PrepareOptions o = opt();
  o.write_docs = true;  // changes the output, not the tokenizer's training data
  PrepareResult r = run(o);
  EXPECT_FALSE(r.up_to_date);
  EXPECT_FALSE(r.tokenizer_trained);
  EXPECT_TRUE(logged("reusing"));
  EXPECT_EQ(test::read_file(out / "tokenizer.model"), tok);
  EXPECT_TRUE(fs::exists(out / "docs.jsonl"));

  // A given tokenizer is used as is and copied into the folder.
  fs::copy_file(out / "tokenizer.model", tmp.path() / "given.model");
  o.tokenizer = (tmp.path() / "given.model").string();
  r = run(o);
  EXPECT_FALSE(r.tokenizer_trained);
  EXPECT_EQ(test::read_file(out / "tokenizer.model"), tok);
}

TEST_F(PrepareFixture, FailedRunLeavesOutputUntouched) {
  make_docs(src, 12, 4);
  run(opt());
  auto before = snapshot(out);
  test::write_file(src / "zz-bad.txt", "valid start \xFF invalid");
  expect_error([&] { run(opt()); }, (src / "zz-bad.txt").string(), "invalid UTF-8");
  EXPECT_EQ(snapshot(out), before);
  fs::remove(src / "zz-bad.txt");

  test::write_file(tmp.path() / "bad.model", "not a model");
  PrepareOptions o = opt();
  o.tokenizer = (tmp.path() / "bad.model").string();
  expect_error([&] { run(o); }, o.tokenizer, "not a SentencePiece");
  EXPECT_EQ(snapshot(out), before);
}

TEST_F(PrepareFixture, EmptyCorpusIsAnError) {
  fs::create_directories(src);
  expect_error([&] { run(opt()); }, src.string(), "no documents");
  test::write_file(src / "blank.txt", "  \n\n");
  expect_error([&] { run(opt()); }, src.string(), "no documents");
  EXPECT_FALSE(fs::exists(out / "manifest.json"));
}

TEST_F(PrepareFixture, OpenRefusesDamagedFolders) {
  make_docs(src, 10, 5);
  run(opt());
  const std::string train = (out / "train.bin").string();
  std::string bytes = test::read_file(train);
  bytes[bytes.size() / 2] ^= 1;
  test::write_file(train, bytes);
  expect_error([&] { open_prepared_corpus(out.string()); }, train, "checksum");
  fs::remove(out / "manifest.json");
  expect_error([&] { open_prepared_corpus(out.string()); }, (out / "manifest.json").string(),
               "not found");
}

}  // namespace
}  // namespace bs
