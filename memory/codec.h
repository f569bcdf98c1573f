// The one encoding of what a session stores: committed blocks, entities, timeline events and the
// generation settings, as JSON. The session store writes and reads them, `memory` prints and
// exports them; nothing else encodes them. Every decoder checks every field and throws
// bs::Error(origin, "... <field> ...") naming what is missing or wrong.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "blocks/generator.h"
#include "memory/entities.h"

namespace bs {

// A committed block without its summary (the store keeps summaries as raw float32):
//   {"block", "tokens", "text", "generated", "steps", "seconds", "end"}.
nlohmann::json encode_block(const Block& b);
Block decode_block(const nlohmann::json& j, const std::string& origin);

// An entity: {"id", "name", "kind", "aliases", "first_block", "last_block", "mentions", "latest",
// "declared"}.
nlohmann::json encode_entity(const Entity& e);
Entity decode_entity(const nlohmann::json& j, const std::string& origin);

// An event: {"block", "sentence", "entities", "times", "chapter"}; lists of them as arrays.
nlohmann::json encode_event(const Event& e);
Event decode_event(const nlohmann::json& j, const std::string& origin);
nlohmann::json encode_events(const std::vector<Event>& ev);
std::vector<Event> decode_events(const nlohmann::json& j, const std::string& origin);

// The generation settings, every one by name (strategies and memory modes as words), and the
// blocks a run writes by default: {"strategy", "threshold", "temperature", "top_k", "top_p",
// "allow_eos", "repeat_penalty", "repeat_last_n", "steps", "seed", "prefix_cache", "memory",
// "full_context", "packed_weights", "blocks"}. Floats are written in their shortest form.
nlohmann::json encode_settings(const GenOptions& o, int blocks);
GenOptions decode_settings(const nlohmann::json& j, int& blocks, const std::string& origin);

// Parses JSON text; throws bs::Error(origin, "is not valid JSON: ...").
nlohmann::json parse_json(const std::string& text, const std::string& origin);

}  // namespace bs
