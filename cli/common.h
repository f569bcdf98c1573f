// Helpers shared by the subcommands.
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

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

}  // namespace bs::cli
