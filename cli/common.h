// Helpers shared by the subcommands.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "kernels/backend.h"

namespace bs::cli {

// Thrown by a command handler to end the program with this exit code after every object it
// holds (a session store, a checkpoint being written) has been closed: only main() exits.
struct ExitCode {
  int code;
};

// A usage error found after parsing (options that contradict each other, a value out of range):
// reported like CLI11's own and ends with exit code 2.
struct UsageError : Error {
  using Error::Error;
};

// Exit codes: 0 done, 1 an error in the input or the data (one message on stderr), 2 a usage
// error (bad option, unknown command), 128 + N stopped by signal N (work up to then is kept).
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// Validator for a non-negative integer up to 2^64 - 1, written in decimal digits only: CLI11 would
// take "-1" or 2^64 and wrap or saturate them.
extern const CLI::Validator kUint64;

// Validators with the project's messages: "'abc' is not an integer in [0, 1048576]", and for
// numbers also NaN and infinities refused ("'nan' is not a number in [0, 1e+12]").
CLI::Validator IntRange(int64_t lo, int64_t hi);
CLI::Validator NumberRange(double lo, double hi);
extern const CLI::Validator kFinite;  // "'nan' is not a finite number"; the range comes later

struct ConfigArgs {
  std::string path;
  std::vector<std::string> sets;
  void add_to(CLI::App* sub);  // --config F, --set a.b=v (repeatable)
  Config load() const;         // defaults <- file <- overrides, validated
};

// --device on the commands that run the model (train, eval, generate, resume, forward): the
// backend every pass runs on (kernels/backend.h), default cpu. A device this build lacks is a
// usage error naming the devices it has.
void add_device_option(CLI::App* sub, std::string& device);
const kernels::Backend& device_backend(const std::string& device);

// True when stderr is a terminal (progress bars only then).
bool stderr_is_tty();

// Catches SIGINT and SIGTERM while alive (restoring the previous handlers after), so a long job
// can stop at a safe point: it polls caught() and ends with ExitCode{128 + that signal}.
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
