#include "tests/testutil.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

extern char** environ;

namespace bs::test {

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto cand = base / ("bs-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(cand)) {
      p_ = cand;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(p_, ec);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  f << data;
}

RunResult run_cli(const std::string& args) {
  TempDir tmp;
  std::string out = tmp.str("out"), err = tmp.str("err");
  std::string cmd =
      std::string(BS_CLI_PATH) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  int st = std::system(cmd.c_str());
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return {code, read_file(out), read_file(err)};
}

int spawn_cli(const std::string& args) {
  const std::string cmd = "exec " + std::string(BS_CLI_PATH) + " " + args;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
    throw std::runtime_error("cannot start " + cmd);
  return int(pid);
}

const Tokenizer& tiny_tokenizer() {
  static const Tokenizer tok = [] {
    std::vector<std::string> docs;
    for (int i = 0; i < 150; ++i)
      docs.push_back("Elizabeth walked to Longbourn on day " + std::to_string(i) +
                     ". She said nothing. Mr. Bennet laughed at the letter!\n");
    std::vector<std::string_view> views(docs.begin(), docs.end());
    TokenizerTrainOptions o;
    o.vocab_size = 320;
    return Tokenizer::from_serialized(train_tokenizer(views, o), "tiny test tokenizer");
  }();
  return tok;
}

std::string init_tiny_model(const TempDir& dir, const std::string& name, const std::string& sets) {
  write_file(dir.path() / "tok.model", tiny_tokenizer().serialized());
  const std::string cfg = std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml";
  auto r = run_cli("init --config " + cfg +
                   " --set model.vocab=" + std::to_string(tiny_tokenizer().vocab_size()) + " " +
                   sets + " --tokenizer " + dir.str("tok.model") + " --out " + dir.str(name));
  return r.exit_code == 0 ? "" : "init failed: " + r.err;
}

}  // namespace bs::test
