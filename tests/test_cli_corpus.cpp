// The corpus and tokenizer commands as a user runs them: success paths, a no-op rerun, and every
// bad input ending with exit code 1, one error line naming the file, and existing output files
// left byte-for-byte (and mtime) unchanged.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "tests/testutil.h"

namespace bs {
namespace {
namespace fs = std::filesystem;
using test::run_cli;

void make_docs(const fs::path& dir, int n) {
  static const char* words[] = {"the",  "river", "garden", "walked",  "letter", "morning", "she",
                                "said", "never", "house",  "evening", "and",    "of",      "Emma"};
  std::mt19937 rng(11);
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    std::string s;
    for (int k = 0; k < 60; ++k) {
      s += words[rng() % std::size(words)];
      s += k % 9 == 8 ? ". " : k % 30 == 29 ? ".\n" : " ";
    }
    std::string name(1, 'd');  // "d" + to_string(i): GCC 12 warns falsely (-Wrestrict) on that
    name += std::to_string(i);
    name += ".txt";
    test::write_file(dir / name, s);
  }
}

using Snapshot = std::map<std::string, std::pair<std::string, fs::file_time_type>>;
Snapshot snapshot(const fs::path& dir) {
  Snapshot m;
  for (auto& e : fs::directory_iterator(dir))
    m[e.path().filename().string()] = {test::read_file(e.path()), fs::last_write_time(e.path())};
  return m;
}

// Exit code 1 and exactly one error line, which names `thing`.
void expect_clean_failure(const test::RunResult& r, const std::string& thing,
                          const std::string& words = "") {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  std::istringstream in(r.err);
  std::string line, error;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.find("error") != std::string::npos) ++n, error = line;
  }
  EXPECT_EQ(n, 1) << r.err;
  EXPECT_EQ(error.rfind("blockscribe: error: ", 0), 0u) << r.err;
  EXPECT_NE(error.find(thing), std::string::npos)
      << "message does not name " << thing << ": " << r.err;
  EXPECT_NE(error.find(words), std::string::npos) << r.err;
}

struct CliCorpus : ::testing::Test {
  test::TempDir tmp;
  fs::path src = tmp.path() / "src";
  fs::path out = tmp.path() / "out";
  std::string prepare(const fs::path& source, const std::string& extra = "") {
    return "corpus prepare --source " + source.string() + " --out " + out.string() +
           " --vocab 400 --val-permille 100 " + extra;
  }
};

TEST_F(CliCorpus, PrepareInfoAndNoOpRerun) {
  make_docs(src, 12);
  auto r = run_cli(prepare(src));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("prepared"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("corpus: read 12 documents"), std::string::npos) << r.err;
  auto before = snapshot(out);
  r = run_cli(prepare(src));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("up to date"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(out), before);
  r = run_cli("corpus info " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("train.bin"), std::string::npos) << r.out;
}

TEST_F(CliCorpus, BadInputsFailCleanlyAndTouchNothing) {
  make_docs(src, 12);
  ASSERT_EQ(run_cli(prepare(src)).exit_code, 0);
  const Snapshot before = snapshot(out);

  expect_clean_failure(run_cli(prepare(tmp.path() / "nowhere")), (tmp.path() / "nowhere").string(),
                       "not found");
  fs::create_directories(tmp.path() / "empty");
  expect_clean_failure(run_cli(prepare(tmp.path() / "empty")), (tmp.path() / "empty").string(),
                       "no documents");

  fs::path bad = tmp.path() / "bad";
  make_docs(bad, 3);
  test::write_file(bad / "d1.txt", "fine text \xC3\x28 then broken");
  expect_clean_failure(run_cli(prepare(bad)), (bad / "d1.txt").string(), "invalid UTF-8");

  fs::path jsonl = tmp.path() / "docs.jsonl";
  test::write_file(jsonl, "{\"text\": \"good\"}\n{\"text\": oops}\n");
  expect_clean_failure(run_cli(prepare(jsonl)), jsonl.string() + ":2", "not valid JSON");

  fs::path model = tmp.path() / "corrupt.model";
  test::write_file(model, "\x0a\x05garbage that is not a model");
  expect_clean_failure(run_cli(prepare(src, "--tokenizer " + model.string())), model.string());

  EXPECT_EQ(snapshot(out), before);

  // A damaged shard is refused by name.
  fs::path copy = tmp.path() / "copy";
  fs::create_directories(copy);
  for (auto& [name, v] : before) test::write_file(copy / name, v.first);
  std::string shard = test::read_file(copy / "train.bin");
  shard[40] ^= 0x10;
  test::write_file(copy / "train.bin", shard);
  expect_clean_failure(run_cli("corpus info " + copy.string()), (copy / "train.bin").string(),
                       "corrupt shard");
  test::write_file(copy / "train.bin", shard.substr(0, shard.size() / 2));
  expect_clean_failure(run_cli("corpus info " + copy.string()), (copy / "train.bin").string(),
                       "truncated");
}

TEST_F(CliCorpus, TokenizerTrainEncodeDecode) {
  make_docs(src, 8);
  fs::path model = tmp.path() / "tok.model";
  auto r = run_cli("tokenizer train --input " + src.string() + " --out " + model.string() +
                   " --vocab 400");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(model));

  r = run_cli("tokenizer encode --model " + model.string() + " --text 'The river said <mask>.'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string ids = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(ids.find(" 4 "), std::string::npos) << "literal <mask> must not become id 4";
  r = run_cli("tokenizer decode --model " + model.string() + " --ids '" + ids + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "The river said <mask>.");

  fs::path text = tmp.path() / "in.txt";
  test::write_file(text, "  Tabs\tand\nnewlines \xF0\x9F\x98\x80 stay.\n");
  fs::path idfile = tmp.path() / "ids.txt";
  r = run_cli("tokenizer encode --model " + model.string() + " --file " + text.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  test::write_file(idfile, r.out);
  r = run_cli("tokenizer decode --model " + model.string() + " --file " + idfile.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, test::read_file(text));
  r = run_cli("tokenizer encode --model " + model.string() + " --text 'the river' --pieces");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("river"), std::string::npos) << r.out;
}

TEST_F(CliCorpus, TokenizerBadInputs) {
  make_docs(src, 8);
  fs::path model = tmp.path() / "tok.model";
  ASSERT_EQ(run_cli("tokenizer train --input " + src.string() + " --out " + model.string() +
                    " --vocab 400")
                .exit_code,
            0);
  const std::string model_bytes = test::read_file(model);
  const std::string m = " --model " + model.string();

  expect_clean_failure(
      run_cli("tokenizer encode --model " + (tmp.path() / "no.model").string() + " --text hi"),
      (tmp.path() / "no.model").string(), "not found");
  fs::path corrupt = tmp.path() / "corrupt.model";
  test::write_file(corrupt, "garbage");
  expect_clean_failure(run_cli("tokenizer encode --model " + corrupt.string() + " --text hi"),
                       corrupt.string(), "not a SentencePiece");
  fs::path bad_text = tmp.path() / "bad.txt";
  test::write_file(bad_text, "ok \xFF no");
  expect_clean_failure(run_cli("tokenizer encode" + m + " --file " + bad_text.string()),
                       bad_text.string(), "invalid UTF-8 at byte 3");
  expect_clean_failure(run_cli("tokenizer decode" + m + " --ids '12 99999'"), "--ids",
                       "out of range");
  expect_clean_failure(run_cli("tokenizer decode" + m + " --ids '12 x7'"), "--ids",
                       "not a token id");
  expect_clean_failure(run_cli("tokenizer decode" + m + " --ids '-3'"), "--ids", "out of range");

  // A failed training run leaves the existing model alone.
  fs::create_directories(tmp.path() / "empty");
  expect_clean_failure(run_cli("tokenizer train --input " + (tmp.path() / "empty").string() +
                               " --out " + model.string()),
                       (tmp.path() / "empty").string(), "no documents");
  expect_clean_failure(
      run_cli("tokenizer train --input " + bad_text.string() + " --out " + model.string()),
      bad_text.string());
  EXPECT_EQ(test::read_file(model), model_bytes);
}

}  // namespace
}  // namespace bs
