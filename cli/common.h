// Helpers shared by the subcommands.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace bs::cli {

struct ConfigArgs {
  std::string path;
  std::vector<std::string> sets;
  void add_to(CLI::App* sub);  // --config F, --set a.b=v (repeatable)
  Config load() const;         // defaults <- file <- overrides, validated
};

// True when stderr is a terminal (progress bars only then).
bool stderr_is_tty();

// Catches SIGINT and SIGTERM while alive (restoring the previous handlers after), so a long job
// can stop at a safe point: it polls caught() and exits with 128 + that signal.
class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
  static int caught();  // the signal received, or 0
 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

}  // namespace bs::cli
