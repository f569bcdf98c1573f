// Plan files: characters, places and facts declared before generation (docs/SESSIONS.md).
//
//   facts = ["Mr. Bennet has five daughters."]
//   [[character]]  name = "Elizabeth Bennet"  aliases = ["Elizabeth", "Lizzy"]
//   [[place]]      name = "Longbourn"
#pragma once
#include <string>

#include "memory/entities.h"

namespace bs {

// Declares the plan's entities and facts in tr. Throws bs::Error("path[:line]", ...) for a missing
// file, malformed TOML, an unknown key or a value of the wrong type.
void read_plan(const std::string& path, EntityTracker& tr);

}  // namespace bs
