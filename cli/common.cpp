#include "cli/common.h"

#include <unistd.h>

namespace bs::cli {

void ConfigArgs::add_to(CLI::App* sub) {
  sub->add_option("-c,--config", path, "TOML config file ([model], [train], [generate])");
  sub->add_option("--set", sets, "Override a config key, e.g. --set model.d=128 (repeatable)")
      ->type_name("KEY=VALUE");
}

Config ConfigArgs::load() const { return make_config(path, sets); }

bool stderr_is_tty() { return ::isatty(2) == 1; }

}  // namespace bs::cli
