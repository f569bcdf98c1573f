// Damaged sessions (issue "lose nothing, crash never"): a session whose write-ahead log or tables
// were damaged after its blocks were committed is refused by `memory` and `resume`, with a
// message naming the file, and is left byte for byte as it was; so is a healthy session that
// `resume` refuses for another reason. No damaged byte anywhere in a session's files may make a
// reader crash, or show a different history.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fileio.h"
#include "memory/codec.h"
#include "memory/session_store.h"
#include "tests/testutil.h"

namespace {

namespace fs = std::filesystem;
using bs::test::run_cli;

std::map<std::string, uint64_t> snapshot(const fs::path& dir) {
  std::map<std::string, uint64_t> s;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      s[fs::relative(e.path(), dir).string()] = bs::hash64(bs::test::read_file(e.path()));
  return s;
}

// The largest .log of a session: the one its blocks were committed to (the other holds the
// creation's record).
fs::path block_log(const fs::path& dir) {
  fs::path best;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log" && (best.empty() || e.file_size() > fs::file_size(best)))
      best = e.path();
  return best;
}

std::vector<fs::path> files_ending(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

class SessionDamage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new bs::test::TempDir();
    setup_error = bs::test::init_tiny_model(*dir, "m.safetensors");
    if (!setup_error.empty()) return;
    // "logged": 10 blocks committed in one run, all of them in the write-ahead log.
    auto r = run_cli(gen(dir->str("logged"), "--blocks 10"));
    if (r.exit_code != 0) setup_error = "generate failed: " + r.err;
    // "reopened": the same, resumed twice, so it has three logs (a session has no table files:
    // memory/session_store.cpp says why).
    r = run_cli(gen(dir->str("reopened"), "--blocks 8"));
    for (int k = 0; k < 2 && r.exit_code == 0; ++k)
      r = run_cli("resume --session " + dir->str("reopened") + " --blocks 1");
    if (r.exit_code != 0) setup_error = "generate/resume failed: " + r.err;
    reference = run_cli("memory export --session " + dir->str("logged")).out;
  }
  static void TearDownTestSuite() { delete dir; }
  void SetUp() override { ASSERT_TRUE(setup_error.empty()) << setup_error; }
  static std::string gen(const std::string& session, const std::string& args) {
    return "generate --model " + dir->str("m.safetensors") + " --session " + session +
           " --prompt 'Elizabeth walked to Longbourn.' --steps 3 --seed 4 --no-eos " + args;
  }
  // A fresh copy of one of the sessions.
  static std::string copy(const std::string& from, const std::string& name) {
    const std::string to = dir->str(name);
    fs::remove_all(to);
    fs::copy(dir->str(from), to, fs::copy_options::recursive);
    return to;
  }
  // `memory export` and `resume` both refuse the session, naming `thing`, and leave every file
  // of it as it was.
  static void expect_refused_untouched(const std::string& s, const std::string& thing) {
    const auto before = snapshot(s);
    for (const std::string& cmd :
         {"memory export --session " + s, "memory show --session " + s,
          "resume --session " + s + " --blocks 2"}) {
      auto r = run_cli(cmd);
      EXPECT_NE(r.exit_code, 0) << cmd << "\n" << r.out;
      EXPECT_LT(r.exit_code, 128) << cmd << ": the process died\n" << r.err;
      EXPECT_NE(r.err.find(thing), std::string::npos) << cmd << "\n" << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << cmd << "\n" << r.err;
      EXPECT_EQ(snapshot(s), before) << cmd << " changed the session's files";
    }
  }
  static inline bs::test::TempDir* dir = nullptr;
  static inline std::string setup_error, reference;
};

TEST_F(SessionDamage, AFlippedByteInTheLogIsRefused) {
  const std::string s = copy("logged", "flipped-log");
  const std::vector<fs::path> logs = {block_log(s)};
  std::string bytes = bs::test::read_file(logs[0]);
  ASSERT_GT(bytes.size(), 1000u);
  bytes[bytes.size() / 2] ^= 0x01;
  bs::test::write_file(logs[0], bytes);
  expect_refused_untouched(s, logs[0].filename().string());
}

TEST_F(SessionDamage, ALogCutInHalfIsRefused) {
  const std::string s = copy("logged", "cut-log");
  const std::vector<fs::path> logs = {block_log(s)};
  const std::string bytes = bs::test::read_file(logs[0]);
  bs::test::write_file(logs[0], bytes.substr(0, bytes.size() / 2));
  expect_refused_untouched(s, "missing");
}

TEST_F(SessionDamage, ADeletedLogIsRefused) {
  const std::string s = copy("logged", "deleted-log");
  const std::vector<fs::path> logs = {block_log(s)};
  fs::remove(logs[0]);
  expect_refused_untouched(s, "missing");
}

TEST_F(SessionDamage, AFlippedByteInAnyOfSeveralLogsIsRefused) {
  const auto logs = files_ending(dir->str("reopened"), ".log");
  ASSERT_GE(logs.size(), 3u);
  EXPECT_TRUE(files_ending(dir->str("reopened"), ".sst").empty()) << "a session has no tables";
  for (const fs::path& log : logs) {
    SCOPED_TRACE(log.filename().string());
    const std::string s = copy("reopened", "flipped-one-log");
    const fs::path t = fs::path(s) / log.filename();
    std::string bytes = bs::test::read_file(t);
    ASSERT_GT(bytes.size(), 40u);
    bytes[bytes.size() / 3] ^= 0x10;
    bs::test::write_file(t, bytes);
    expect_refused_untouched(s, t.filename().string());
  }
}

TEST_F(SessionDamage, ADamagedCommitCountIsRefused) {
  for (const char* damage : {"flip", "delete"}) {
    const std::string s = copy("reopened", "damaged-count");
    const fs::path p = fs::path(s) / "BLOCKSCRIBE_COMMITTED";
    if (std::string(damage) == "delete") {
      fs::remove(p);
    } else {
      std::string bytes = bs::test::read_file(p);
      bytes[22] ^= 0x01;  // a digit of the count
      bs::test::write_file(p, bytes);
    }
    expect_refused_untouched(s, "BLOCKSCRIBE_COMMITTED");
  }
}

TEST_F(SessionDamage, RefusedResumesOfAHealthySessionChangeNothing) {
  const std::string s = copy("reopened", "healthy");
  const auto before = snapshot(s);
  bs::test::TempDir other;
  ASSERT_TRUE(bs::test::init_tiny_model(other, "o.safetensors", "--set model.init_seed=77").empty());
  for (const std::string& args :
       {std::string("--blocks 0"), "--blocks 2 --model " + other.str("o.safetensors"),
        "--blocks 2 --model " + dir->str("none.safetensors")}) {
    auto r = run_cli("resume --session " + s + " " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(snapshot(s), before) << "resume " << args << " changed the session's files";
  }
}

}  // namespace
