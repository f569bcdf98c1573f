// Shared helpers for the tests: temporary folders, running the CLI, reading files.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "text/tokenizer.h"

namespace bs::test {

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return p_; }
  std::string str(const std::string& name = "") const { return (p_ / name).string(); }

 private:
  std::filesystem::path p_;
};

struct RunResult {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the blockscribe binary with the given argument string (shell-quoted by the caller).
RunResult run_cli(const std::string& args);

// Starts the blockscribe binary in the background (args may hold redirections; the program is
// exec'd, so signals sent to the returned pid reach it, not a shell). Returns its pid.
int spawn_cli(const std::string& args);

// Starts the blockscribe binary with its stdout (which = 1) or stderr (which = 2) on a pipe whose
// read end is returned in *fd; the other stream goes to /dev/null. Returns the pid.
int spawn_cli_piped(const std::string& args, int which, int* fd);

// Reads fd until pred(everything read so far) holds, the writer closes it, or timeout_s passes
// (waiting in poll(), not in sleeps). Returns what was read.
std::string read_until(int fd, const std::function<bool(const std::string&)>& pred,
                       double timeout_s = 60);

// The tokenizer of every tiny test model: SentencePiece (vocabulary 320) trained once per process
// on a fixed Austen-like text.
const Tokenizer& tiny_tokenizer();

// Writes tiny_tokenizer() to dir/tok.model and runs `blockscribe init` for a model of
// samples/configs/tiny.toml with that vocabulary (plus `sets`, e.g. "--set model.init_seed=9") to
// dir/name. Returns "" on success, else what went wrong (for a fixture's SetUp to report).
std::string init_tiny_model(const TempDir& dir, const std::string& name,
                            const std::string& sets = "");

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& data);

}  // namespace bs::test
