#include "cli/common.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csignal>

#include "core/format.h"

namespace bs::cli {

const CLI::Validator kUint64(
    [](std::string& s) -> std::string {
      uint64_t v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
        return "'" + s + "' is not an integer in [0, 18446744073709551615]";
      return "";
    },
    "UINT64");

CLI::Validator IntRange(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        int64_t v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
          return "'" + s + "' is not an integer in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]";
        return "";
      },
      "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

CLI::Validator NumberRange(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        double v = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v) ||
            v < lo || v > hi)
          return "'" + s + "' is not a number in [" + shortest(lo) + ", " + shortest(hi) + "]";
        return "";
      },
      "NUMBER in [" + shortest(lo) + ", " + shortest(hi) + "]");
}

const CLI::Validator kFinite(
    [](std::string& s) -> std::string {
      double v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v))
        return "'" + s + "' is not a finite number";
      return "";
    },
    "NUMBER");

void ConfigArgs::add_to(CLI::App* sub) {
  sub->add_option("-c,--config", path, "TOML config file ([model], [train], [generate])");
  sub->add_option("--set", sets, "Override a config key, e.g. --set model.d=128 (repeatable)")
      ->type_name("KEY=VALUE");
}

Config ConfigArgs::load() const { return make_config(path, sets); }

bool stderr_is_tty() { return ::isatty(2) == 1; }

namespace {
volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }
}  // namespace

SignalGuard::SignalGuard() {
  g_signal = 0;
  old_int_ = std::signal(SIGINT, on_signal);
  old_term_ = std::signal(SIGTERM, on_signal);
}

SignalGuard::~SignalGuard() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

int SignalGuard::caught() { return g_signal; }

void add_device_option(CLI::App* sub, std::string& device) {
  std::string names;
  for (const std::string& n : kernels::backend_names()) names += (names.empty() ? "" : " | ") + n;
  // Checked while parsing, so a device this build lacks stops the command before it reads a file.
  const CLI::Validator known(
      [](std::string& s) -> std::string {
        try {
          kernels::backend_named(s);
          return "";
        } catch (const Error& e) {
          return e.problem();
        }
      },
      "DEVICE");
  sub->add_option(
         "--device", device,
         "Where the model runs: " + names + " (ref: the scalar reference ops, for checking)")
      ->check(known)
      ->capture_default_str();
}

const kernels::Backend& device_backend(const std::string& device) {
  return kernels::backend_named(device);
}

}  // namespace bs::cli
