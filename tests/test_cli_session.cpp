// Sessions end to end (`generate --session`, `resume`, `memory`) on a tiny random model:
// resume is deterministic (2n blocks = n + n), a SIGKILL at random moments never loses or changes
// a committed block nor shows a partial one, and foreign models, a second writer, newer formats,
// foreign directories and bad plans are refused with one clear message.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/fileio.h"
#include "text/tokenizer.h"
#include "memory/session_store.h"
#include "tests/testutil.h"

namespace {

using bs::test::run_cli;

class CliSession : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new bs::test::TempDir();
    setup_error = bs::test::init_tiny_model(*dir, "m1234.safetensors");
    if (setup_error.empty())
      setup_error = bs::test::init_tiny_model(*dir, "m99.safetensors", "--set model.init_seed=99");
  }
  void SetUp() override { ASSERT_TRUE(setup_error.empty()) << setup_error; }
  static void TearDownTestSuite() { delete dir; }
  static std::string model() { return dir->str("m1234.safetensors"); }
  static std::string other_model() { return dir->str("m99.safetensors"); }
  static std::string gen(const std::string& session, const std::string& args) {
    return "generate --model " + model() + " --session " + session +
           " --prompt 'Elizabeth walked to Longbourn.' --steps 3 --seed 4 " + args;
  }
  static nlohmann::json export_of(const std::string& session) {
    auto r = run_cli("memory export --session " + session);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
  static inline std::string setup_error;
  static bs::test::TempDir* dir;
};
bs::test::TempDir* CliSession::dir = nullptr;

TEST_F(CliSession, ResumeIsDeterministic) {
  const std::string one = dir->str("one"), two = dir->str("two");
  ASSERT_EQ(run_cli(gen(one, "--blocks 8")).exit_code, 0);
  auto first = run_cli(gen(two, "--blocks 4"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto rest = run_cli("resume --session " + two + " --blocks 4");
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  auto a = export_of(one), b = export_of(two);
  // The prompt fills block 0 of the tiny model (L = 16) and part of block 1: 8 written + 1.
  ASSERT_EQ(a.at("blocks").size(), 9u);
  ASSERT_EQ(b.at("blocks").size(), 9u);
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(a["blocks"][i]["tokens"], b["blocks"][i]["tokens"]) << "block " << i;
    EXPECT_EQ(a["blocks"][i]["summary"], b["blocks"][i]["summary"]) << "block " << i;
  }
  EXPECT_EQ(a.at("entities"), b.at("entities"));
  EXPECT_EQ(a.at("timeline"), b.at("timeline"));
  // What the two runs printed is the document.
  std::string text;
  for (const auto& blk : a["blocks"]) text += blk["text"].get<std::string>();
  EXPECT_EQ(first.out.substr(0, first.out.size() - 1) + rest.out.substr(0, rest.out.size() - 1),
            text);
}

TEST_F(CliSession, KilledAtRandomMomentsItResumesWithNothingLost) {
  const int total = 200;
  const std::string ref = dir->str("reference");
  const auto t0 = std::chrono::steady_clock::now();
  const std::string args = "--no-eos --blocks " + std::to_string(total);  // runs to the budget
  ASSERT_EQ(run_cli(gen(ref, args)).exit_code, 0);
  // Kill moments spread over the length of a whole run (start-up included).
  const auto run_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  const auto want = export_of(ref).at("blocks");
  std::mt19937 rng(2026);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int trials = 0, mid_run = 0;
  for (; trials < 20 && std::chrono::steady_clock::now() < deadline; ++trials) {
    const std::string s = dir->str("killed" + std::to_string(trials));
    const pid_t pid = bs::test::spawn_cli(gen(s, args) + " >/dev/null 2>&1");
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % uint64_t(run_us + 1)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    // Creation is atomic (built beside and renamed): either no session yet, or a whole one.
    if (!std::filesystem::exists(s)) continue;
    std::unique_ptr<bs::SessionStore> st;
    ASSERT_NO_THROW(st = bs::SessionStore::open_read_only(s)) << s;
    const int n = st->state().blocks;
    if (n > 0 && n < total) ++mid_run;
    for (int b = 0; b < n; ++b)
      ASSERT_EQ(nlohmann::json(st->block(b).tokens), want[b]["tokens"]) << s << " block " << b;
    EXPECT_THROW(st->block(n), bs::Error) << "a block past the committed count is visible";
    st.reset();
    // Resume to the full length: the same document as the uninterrupted run.
    if (n < total) {
      auto r = run_cli("resume --session " + s + " --blocks " + std::to_string(total));
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    auto got = export_of(s).at("blocks");
    ASSERT_GE(got.size(), size_t(total));
    for (int b = 0; b < total; ++b)
      ASSERT_EQ(got[b]["tokens"], want[b]["tokens"]) << s << " block " << b << " after resume";
  }
  std::printf("%d trials, %d killed in the middle of a run (a run: %.0f ms)\n", trials, mid_run,
              run_us / 1000.0);
  EXPECT_GE(trials, 6);
  EXPECT_GE(mid_run, 3)
      << "too few trials were killed in the middle of a run; the test proved little";
}

TEST_F(CliSession, AnotherModelASecondWriterAndANewerFormatAreRefused) {
  const std::string s = dir->str("guarded");
  ASSERT_EQ(run_cli(gen(s, "--blocks 2")).exit_code, 0);
  auto r = run_cli("resume --session " + s + " --model " + other_model() + " --blocks 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("another model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  r = run_cli("resume --session " + s + " --model " + other_model() + " --blocks 1 --force");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;

  // A second process while the first writes.
  const std::string busy = dir->str("busy");
  int fd = -1;
  const pid_t pid =
      bs::test::spawn_cli_piped(gen(busy, "--blocks 100000 --no-eos --json"), 1, &fd);
  // Its first block is out: the session is open and being written.
  bs::test::read_until(
      fd, [](const std::string& s) { return std::count(s.begin(), s.end(), '\n') >= 2; });
  r = run_cli("resume --session " + busy + " --blocks 1");
  kill(pid, SIGTERM);
  bs::test::read_until(fd, [](const std::string&) { return false; });  // to its end
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("session is in use"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  bs::test::write_file(s + "/BLOCKSCRIBE_SESSION", "blockscribe-session format 7\n");
  r = run_cli("resume --session " + s + " --blocks 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("newer blockscribe"), std::string::npos) << r.err;
}

TEST_F(CliSession, ForeignDirectoriesAndBadPlansAreRefused) {
  const std::string foreign = dir->str("foreign");
  std::filesystem::create_directories(foreign);
  bs::test::write_file(foreign + "/data.txt", "precious");
  auto r = run_cli("resume --session " + foreign);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not a blockscribe session"), std::string::npos) << r.err;
  r = run_cli(gen(foreign, "--blocks 1"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  EXPECT_EQ(bs::test::read_file(foreign + "/data.txt"), "precious");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(foreign), {}), 1);

  bs::test::write_file(dir->str("bad.toml"), "[[character]]\nname = \"Jane\"\nage = 20\n");
  r = run_cli(gen(dir->str("planned-bad"), "--blocks 1 --plan " + dir->str("bad.toml")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown key 'age'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir->str("planned-bad")));
}

TEST_F(CliSession, PlanEntitiesTimelineAndExport) {
  bs::test::write_file(dir->str("plan.toml"),
                       "facts = [\"Mr. Bennet has five daughters.\"]\n"
                       "[[character]]\nname = \"Elizabeth Bennet\"\naliases = [\"Lizzy\"]\n"
                       "[[place]]\nname = \"Longbourn\"\n");
  const std::string s = dir->str("planned");
  // A newline ends the prompt's sentence, so it is complete whatever the model writes after it.
  bs::test::write_file(dir->str("prompt.txt"), "Elizabeth walked to Longbourn.\n");
  auto r =
      run_cli("generate --model " + model() + " --session " + s + " --prompt-file " +
              dir->str("prompt.txt") + " --steps 3 --blocks 2 --plan " + dir->str("plan.toml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli("memory entities --session " + s + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ents = nlohmann::json::parse(r.out);
  ASSERT_GE(ents.size(), 2u);
  EXPECT_EQ(ents[0]["name"], "Elizabeth Bennet");
  EXPECT_EQ(ents[0]["kind"], "character");
  EXPECT_EQ(ents[1]["name"], "Longbourn");
  EXPECT_EQ(ents[1]["mentions"], 1);  // the prompt mentions it
  r = run_cli("memory timeline --session " + s);
  EXPECT_NE(r.out.find("plan"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Mr. Bennet has five daughters."), std::string::npos) << r.out;
  auto ex = export_of(s);
  const size_t blocks = ex.at("blocks").size();
  EXPECT_EQ(blocks, 3u);  // the prompt block, then 2 written
  r = run_cli("memory blocks --session " + s);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), long(blocks)) << r.out;
  r = run_cli("memory show --session " + s);
  EXPECT_NE(r.out.find("Elizabeth walked to Longbourn."), std::string::npos) << r.out;
  EXPECT_EQ(ex.at("format"), "blockscribe-session-export");
  EXPECT_EQ(ex.at("blocks")[0].at("summary").size(), 2u * 32u);  // tiny: K 2 x C 32
}

}  // namespace
