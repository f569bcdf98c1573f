// Shared helpers for the tests: temporary folders, running the CLI, reading files.
#pragma once
#include <filesystem>
#include <string>

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

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& data);

}  // namespace bs::test
