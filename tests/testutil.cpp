#include "tests/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>

#include <chrono>
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

int spawn_cli_piped(const std::string& args, int which, int* fd) {
  int p[2];
  if (::pipe(p) != 0) throw std::runtime_error("cannot make a pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], which);
  posix_spawn_file_actions_addopen(&fa, which == 1 ? 2 : 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addclose(&fa, p[1]);
  const std::string cmd = "exec " + std::string(BS_CLI_PATH) + " " + args;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (rc != 0) {
    ::close(p[0]);
    throw std::runtime_error("cannot start " + cmd);
  }
  *fd = p[0];
  return int(pid);
}

std::string read_until(int fd, const std::function<bool(const std::string&)>& pred,
                       double timeout_s) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!pred(got)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, int(left.count())) <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;  // closed
    got.append(buf, size_t(n));
  }
  return got;
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
