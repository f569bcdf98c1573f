// `generate` in a real terminal: tmux (a terminal emulator) runs the program with stdout and
// stderr on one pseudo-terminal, and the screen it captures afterwards — its scrollback included
// — must hold the whole story: the status line drawn at every denoising step must never cover or
// erase a character of it, and must be gone at the end. The expected text comes from a --json
// run with the same seed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/testutil.h"

namespace {

using bs::test::run_cli;

// The printable ASCII characters of s, spaces and newlines dropped: what the screen must show in
// order whatever the terminal's line breaks (wrapped rows, a width it counts differently for a
// rare character) and the U+FFFD that control characters become on a terminal.
std::string visible_ascii(const std::string& s) {
  std::string out;
  for (unsigned char c : s)
    if (c > 0x20 && c < 0x7F) out += char(c);
  return out;
}

// Runs a shell command line, returns its stdout and exit code.
std::string shell(const std::string& cmd, int* code = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int st = pclose(p);
  if (code) *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST(CliTerminal, TheStatusLineNeverCoversTheStory) {
  bs::test::TempDir dir;
  const std::string err = bs::test::init_tiny_model(dir, "m.safetensors");
  ASSERT_TRUE(err.empty()) << err;
  const std::string args = "generate --model " + dir.str("m.safetensors") +
                           " --prompt 'Elizabeth walked' --blocks 30 --steps 8 --seed 7 --no-eos";
  // The story, from the same run as JSON.
  auto js = run_cli(args + " --json");
  ASSERT_EQ(js.exit_code, 0) << js.err;
  std::string story;
  std::istringstream in(js.out);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.at("type") == "block") story += j.at("text").get<std::string>();
  }
  const std::string want = visible_ascii(story);
  ASSERT_GT(want.size(), 200u);

  // The same run in a 50x12 terminal; `wait-for` returns when the program has finished.
  const std::string sock = "bs-test-" + std::to_string(::getpid());
  const std::string tmux = "tmux -u -f /dev/null -L " + sock;
  int code = -1;
  shell(tmux + " new-session -d -s t -x 50 -y 12 \"" + BS_CLI_PATH + " " + args + "; " + tmux +
            " wait-for -S done; sleep 60\"",
        &code);
  ASSERT_EQ(code, 0) << "tmux could not start (scripts/setup.sh installs it)";
  shell("timeout 120 " + tmux + " wait-for done", &code);
  const std::string screen = shell(tmux + " capture-pane -p -J -S - -E - -t t");
  shell(tmux + " kill-server");
  ASSERT_EQ(code, 0) << "the program did not finish";

  const std::string seen = visible_ascii(screen);
  EXPECT_NE(seen.find(want), std::string::npos) << "the screen lost part of the story:\n"
                                                << screen << "\n--- the story ---\n"
                                                << story;
  EXPECT_NE(screen.find("blocks committed"), std::string::npos) << screen;
  EXPECT_EQ(screen.find(" open "), std::string::npos) << "a status line was left:\n" << screen;
}

}  // namespace
