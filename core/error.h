// blockscribe — the project's one error type.
//
// Library code throws bs::Error with the thing (a file, an option, a key) and the problem; only
// main() turns it into a message and an exit code. Never assert() on input or I/O.
#pragma once
#include <stdexcept>
#include <string>

namespace bs {

class Error : public std::runtime_error {
 public:
  // what: the thing at fault ("data/train.bin", "--set model.d", "config.toml:12 model.dd").
  // problem: what is wrong with it, plus a hint where one helps.
  Error(std::string what, std::string problem)
      : std::runtime_error(what.empty() ? problem : what + ": " + problem),
        what_(std::move(what)),
        problem_(std::move(problem)) {}
  const std::string& thing() const { return what_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string what_;
  std::string problem_;
};

// Always-on invariant check (not compiled out in release builds).
#define BS_CHECK(cond, thing, msg)                                  \
  do {                                                              \
    if (!(cond)) throw ::bs::Error((thing), (msg));                 \
  } while (0)

}  // namespace bs
