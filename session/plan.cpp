#include "session/plan.h"

#include <toml++/toml.h>

#include "core/error.h"
#include "core/fileio.h"
#include "text/utf8.h"

namespace bs {

void read_plan(const std::string& path, EntityTracker& tr) {
  const std::string text = read_file(path);
  require_utf8(text, path);
  toml::table t;
  try {
    t = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(path + ":" + std::to_string(b.line), std::string(e.description()));
  }
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    const std::string at = path + ":" + std::to_string(key.source().begin.line);
    if (k == "character" || k == "place") {
      const toml::array* arr = node.as_array();
      if (!arr) throw Error(at, "'" + k + "' must be an array of tables ([[" + k + "]])");
      for (const auto& item : *arr) {
        const toml::table* e = item.as_table();
        if (!e) throw Error(at, "'" + k + "' must be an array of tables ([[" + k + "]])");
        std::vector<std::string> aliases;
        for (const auto& [ek, ev] : *e) {
          const std::string f(ek.str());
          if (f != "name" && f != "aliases")
            throw Error(path + ":" + std::to_string(ek.source().begin.line),
                        "unknown key '" + f + "' in [[" + k + "]] (expected name, aliases)");
        }
        auto name = (*e)["name"].value<std::string>();
        if (!name) throw Error(at, "a [[" + k + "]] has no name (a string)");
        if (const toml::node* al = e->get("aliases")) {
          const toml::array* arr2 = al->as_array();
          if (!arr2) throw Error(at, "aliases of '" + *name + "' must be a list of strings");
          for (const auto& x : *arr2) {
            auto v = x.value<std::string>();
            if (!v) throw Error(at, "aliases of '" + *name + "' must be strings");
            aliases.push_back(*v);
          }
        }
        try {
          tr.declare(*name, k, aliases);
        } catch (const Error& err) {
          throw Error(at, err.problem());
        }
      }
    } else if (k == "facts") {
      const toml::array* arr = node.as_array();
      if (!arr) throw Error(at, "'facts' must be an array of strings");
      for (const auto& x : *arr) {
        auto v = x.value<std::string>();
        if (!v) throw Error(at, "'facts' must be an array of strings");
        try {
          tr.add_fact(*v);
        } catch (const Error& err) {
          throw Error(at, err.problem());
        }
      }
    } else {
      throw Error(at, "unknown key '" + k + "' (expected [[character]], [[place]], facts)");
    }
  }
}

}  // namespace bs
