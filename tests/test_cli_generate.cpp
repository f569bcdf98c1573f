// `blockscribe generate` end to end on a tiny random model: streamed text and --json blocks,
// templates, determinism across thread counts, Ctrl-C keeping the committed blocks, and every
// bad input ending with one clear message and a non-zero exit code.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/checkpoint.h"
#include "core/fileio.h"
#include "text/utf8.h"
#include "core/safetensors.h"
#include "text/tokenizer.h"
#include "tests/testutil.h"

namespace {

using bs::test::run_cli;

class CliGenerate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new bs::test::TempDir();
    setup_error = bs::test::init_tiny_model(*dir, "m.safetensors");
  }
  void SetUp() override { ASSERT_TRUE(setup_error.empty()) << setup_error; }
  static void TearDownTestSuite() { delete dir; }
  static std::string model() { return dir->str("m.safetensors"); }
  static std::string gen(const std::string& args) {
    return "generate --model " + model() + " " + args;
  }
  // Exit code non-zero, and stderr names `thing` and says `problem`.
  static void expect_refused(const std::string& args, const std::string& thing,
                             const std::string& problem) {
    auto r = run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find(thing), std::string::npos) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(problem), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one message:\n" << r.err;
  }
  static inline std::string setup_error;
  static bs::test::TempDir* dir;
};
bs::test::TempDir* CliGenerate::dir = nullptr;

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST_F(CliGenerate, StreamsTheDocumentAfterThePrompt) {
  auto r = run_cli(gen("--prompt 'Elizabeth walked' --blocks 3 --steps 4"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Elizabeth walked", 0), 0u) << r.out;
  EXPECT_GT(r.out.size(), std::string("Elizabeth walked\n").size());
  EXPECT_TRUE(bs::valid_utf8(r.out));
  // Off a terminal stderr holds only the header line with the seed (no progress).
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("generate: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(", seed "), std::string::npos) << r.err;
}

TEST_F(CliGenerate, ARandomSeedByDefaultPrintedSoTheRunCanBeRepeated) {
  const std::string args = "--prompt 'Elizabeth' --blocks 3 --steps 4";
  auto a = run_cli(gen(args)), b = run_cli(gen(args));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out, b.out) << "two runs without --seed wrote the same text";
  const size_t at = a.err.find("seed ");
  ASSERT_NE(at, std::string::npos) << a.err;
  const std::string seed = a.err.substr(at + 5, a.err.find(' ', at + 5) - at - 5);
  auto again = run_cli(gen(args + " --seed " + seed));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, a.out) << "--seed " << seed << " did not repeat the run";
}

TEST_F(CliGenerate, JsonGivesOneObjectPerBlockWithTheSameText) {
  const std::string args = "--prompt 'Mr. Bennet' --blocks 3 --steps 4 --seed 5";
  auto text = run_cli(gen(args));
  auto js = run_cli(gen(args + " --json"));
  ASSERT_EQ(js.exit_code, 0) << js.err;
  auto lines = json_lines(js.out);
  ASSERT_EQ(lines.size(), 4u);
  // The header: everything the run can be repeated from.
  const auto& h = lines[0];
  EXPECT_EQ(h.at("type"), "header");
  EXPECT_EQ(h.at("settings").at("seed").get<uint64_t>(), 5u);
  EXPECT_EQ(h.at("settings").at("steps").get<int>(), 4);
  EXPECT_EQ(h.at("settings").at("strategy"), "low_confidence");
  EXPECT_EQ(h.at("settings").at("memory"), "summary");
  EXPECT_EQ(h.at("tokenizer_hash").get<std::string>().size(), 16u);
  lines.erase(lines.begin());
  std::string joined;
  for (size_t b = 0; b < lines.size(); ++b) {
    const auto& j = lines[b];
    EXPECT_EQ(j.at("type"), "block");
    EXPECT_EQ(j.at("block").get<int>(), int(b));
    EXPECT_EQ(j.at("tokens").size(), 16u);  // tiny config: L = 16
    EXPECT_LE(j.at("steps").get<int>(), 4);
    EXPECT_GT(j.at("generated").get<int>(), 0);
    EXPECT_GE(j.at("seconds").get<double>(), 0.0);
    joined += j.at("text").get<std::string>();
  }
  EXPECT_EQ(joined + "\n", text.out);
}

TEST_F(CliGenerate, SameSeedSameTextAtAnyThreadCount) {
  const std::string args = "--prompt 'Elizabeth' --blocks 4 --steps 4 --seed 11";
  auto one = run_cli("-t 1 " + gen(args));
  auto two = run_cli("-t 2 " + gen(args));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, two.out);
  auto other = run_cli("-t 1 " + gen("--prompt 'Elizabeth' --blocks 4 --steps 4 --seed 12"));
  EXPECT_NE(one.out, other.out);
}

TEST_F(CliGenerate, TemplateKeepsItsFixedText) {
  auto r = run_cli(gen("--template 'Mr. <mask><mask> laughed at <mask><mask> letter.' --steps 3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Mr. ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" laughed at "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("<mask>"), std::string::npos) << r.out;
}

TEST_F(CliGenerate, MaxTokensLimitsTheDocument) {
  auto r = run_cli(gen("--prompt 'Elizabeth' --max-tokens 20 --blocks 0 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u);  // the header, then 21 tokens with <s>: two blocks of 16
  EXPECT_TRUE(lines.back().at("end").get<bool>());
}

TEST_F(CliGenerate, InterruptKeepsTheCommittedBlocks) {
  // --no-eos: the tiny random model may write </s>, and a document that ends before the signal
  // arrives exits by itself (the signal then meets the default handler).
  int fd = -1;
  const pid_t pid = bs::test::spawn_cli_piped(gen("--blocks 100000 --steps 4 --no-eos --json"), 1,
                                              &fd);
  // The header and 3 blocks, read as they are written; then Ctrl-C.
  std::string out = bs::test::read_until(
      fd, [](const std::string& s) { return std::count(s.begin(), s.end(), '\n') >= 4; });
  kill(pid, SIGINT);
  out += bs::test::read_until(fd, [](const std::string&) { return false; });  // to its end
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  // After the header every line is a whole block, numbered from 0 without a gap.
  auto lines = json_lines(out);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0].at("type"), "header");
  for (size_t b = 1; b < lines.size(); ++b) EXPECT_EQ(lines[b].at("block").get<int>(), int(b - 1));
}

TEST_F(CliGenerate, TheOptionsALlamaCppUserExpects) {
  // -t after the command, -f, --temp, -n (new tokens after the prompt).
  bs::test::write_file(dir->str("p.txt"), "Elizabeth walked");
  auto r = run_cli(gen("-t 2 -f " + dir->str("p.txt") +
                       " --temp 0.7 -n 40 --no-eos --steps 3 --seed 3 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NEAR(lines[0].at("settings").at("temperature").get<double>(), 0.7, 1e-12);
  std::vector<int> tokens;
  for (size_t i = 1; i < lines.size(); ++i)
    for (int t : lines[i].at("tokens")) tokens.push_back(t);
  const size_t prompt = bs::Tokenizer::load(dir->str("tok.model")).encode("Elizabeth walked").size();
  const size_t end = std::find(tokens.begin(), tokens.end(), int(bs::Tokenizer::kEos)) -
                     tokens.begin();
  EXPECT_EQ(end, 1 + prompt + 40) << "<s>, the prompt and 40 new tokens";
  EXPECT_TRUE(lines.back().at("end").get<bool>());
  // --threshold implies the threshold strategy.
  r = run_cli(gen("--prompt x --threshold 0.6 --blocks 1 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out)[0].at("settings").at("strategy"), "threshold");
  EXPECT_NEAR(json_lines(r.out)[0].at("settings").at("threshold").get<double>(), 0.6, 1e-12);
}

TEST_F(CliGenerate, ATemplateEndsWhereItEnds) {
  const std::string tmpl = "Mr. <mask><mask> laughed at <mask><mask> letter.";
  auto r = run_cli(gen("--template '" + tmpl + "' --steps 3 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  std::string text;
  int generated = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    text += lines[i].at("text").get<std::string>();
    generated += lines[i].at("generated").get<int>();
    EXPECT_EQ(lines[i].at("end").get<bool>(), i + 1 == lines.size()) << r.out;
  }
  EXPECT_EQ(text.rfind("Mr. ", 0), 0u) << text;
  EXPECT_EQ(text.substr(text.size() - 8), " letter.") << "nothing after the template: " << text;
  EXPECT_EQ(generated, 4) << "written only into the four masks";
}

TEST_F(CliGenerate, UsageErrorsExitWithTwoAndSuggestTheWordMeant) {
  struct Case {
    std::string args, must_contain;
  } cases[] = {
      {"genrate --model " + model(), "did you mean 'generate'?"},
      {gen("--prompt x --temprature 0.5"), "did you mean '--temperature'?"},
      {gen("--prompt x --threshold 0.5 --strategy margin"), "applies to --strategy threshold"},
      {gen("--prompt x --seed -1"), "'-1' is not an integer in [0, 18446744073709551615]"},
      {gen("--prompt x --seed 18446744073709551616"), "is not an integer in [0, 1844674"},
      {gen("--prompt x --threshold nan"), "--threshold: 'nan' is not a finite number"},
      {gen("--prompt x --temperature nan"), "--temperature: 'nan' is not a finite number"},
      {gen("--prompt x --top-p inf"), "--top-p: 'inf' is not a finite number"},
      {gen("--prompt x --blocks abc"), "--blocks: 'abc' is not an integer in [0, 1048576]"},
      {gen("--prompt x --steps 0"), "--steps: '0' is not an integer in [1, 1048576]"},
      {gen("--prompt x -n 0"), "--max-new-tokens: is 0"},
      {gen("--prompt x -n 5 --max-tokens 9"), "excludes"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.must_contain), std::string::npos) << c.args << "\n" << r.err;
  }
  // A config key typo: the key it probably is.
  auto r = run_cli(gen("--prompt x --set generate.stepz=3"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("did you mean 'generate.steps'?"), std::string::npos) << r.err;
}

TEST_F(CliGenerate, BadInputsGiveOneClearMessage) {
  expect_refused(gen("--prompt ''"), "--prompt", "is empty");
  expect_refused(gen("--template ''"), "--template", "is empty");
  expect_refused(gen("--prompt 'Elizabeth walked to Longbourn' --max-tokens 3"), "--prompt",
                 "leaves nothing to generate");
  expect_refused(gen("--prompt x --strategy greedy"), "strategy 'greedy'", "unknown");
  expect_refused(gen("--prompt x --strategy threshold --threshold 1.5"),
                 "'generate.threshold' = 1.5", "is not in (0, 1]");
  expect_refused(gen("--prompt x --strategy threshold --threshold 0"), "'generate.threshold' = 0",
                 "is not in (0, 1]");
  expect_refused(gen("--prompt x --temperature -1"), "'generate.temperature' = -1",
                 "is not in [0, 100]");
  expect_refused(gen("--prompt x --top-p 1.5"), "'generate.top_p' = 1.5", "is not in (0, 1]");
  expect_refused(gen("--prompt x --top-k -3"), "'generate.top_k' = -3", "is not in [0, 1048576]");
  expect_refused(gen("--prompt x --memory everything"), "memory mode 'everything'", "unknown");
  expect_refused(gen("--prompt x --set model.d=64"), "--set", "[model]");
  expect_refused(gen("--prompt x --blocks 0"), "budget", "--blocks");
  expect_refused("generate --model " + dir->str("nothing.safetensors") + " --prompt x",
                 "nothing.safetensors", "");
  bs::test::write_file(dir->str("bad.txt"), "caf\xe9 au lait");
  expect_refused(gen("--prompt-file " + dir->str("bad.txt")), "bad.txt", "invalid UTF-8");
  expect_refused(gen("--prompt-file " + dir->str("missing.txt")), "missing.txt", "");

  // A checkpoint without its tokenizer (its checks sealed, so the missing tensor is what fails).
  auto ck = bs::load_checkpoint(model());
  std::vector<bs::StTensorOut> out;
  for (const auto& t : ck.model->tensors())
    out.push_back({t.name, "F32", std::vector<int64_t>(t.shape.begin(), t.shape.end()),
                   ck.model->params.data() + t.offset, t.numel * 4});
  auto meta = ck.metadata;
  meta.erase("data_hash"), meta.erase("header_hash");
  bs::write_sealed_checkpoint(dir->str("notok.safetensors"), out, meta);
  expect_refused("generate --model " + dir->str("notok.safetensors") + " --prompt x",
                 "notok.safetensors", "has no tokenizer");

  // CLI usage errors (CLI11): exit code 2 and a message.
  auto r = run_cli(gen("--prompt x --template y"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
}

}  // namespace
