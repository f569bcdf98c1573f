#include "memory/codec.h"

#include <cmath>

#include "core/error.h"
#include "core/format.h"

namespace bs {

using nlohmann::json;

namespace {

// j[key], or bs::Error(origin, "'key' is missing").
const json& at(const json& j, const char* key, const std::string& origin) {
  if (!j.is_object()) throw Error(origin, "is not a JSON object");
  auto it = j.find(key);
  if (it == j.end()) throw Error(origin, std::string("'") + key + "' is missing");
  return *it;
}

[[noreturn]] void wrong(const char* key, const std::string& origin, const char* what) {
  throw Error(origin, std::string("'") + key + "' is not " + what);
}

int64_t int64_field(const json& j, const char* key, const std::string& origin) {
  const json& v = at(j, key, origin);
  if (!v.is_number_integer()) wrong(key, origin, "an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
    wrong(key, origin, "in range");
  return v.get<int64_t>();
}

int int_field(const json& j, const char* key, const std::string& origin) {
  const int64_t v = int64_field(j, key, origin);
  if (v < INT32_MIN || v > INT32_MAX) wrong(key, origin, "in range");
  return int(v);
}

double double_field(const json& j, const char* key, const std::string& origin) {
  const json& v = at(j, key, origin);
  if (!v.is_number() || !std::isfinite(v.get<double>())) wrong(key, origin, "a finite number");
  return v.get<double>();
}

float float_field(const json& j, const char* key, const std::string& origin) {
  return float(double_field(j, key, origin));
}

std::string string_field(const json& j, const char* key, const std::string& origin) {
  const json& v = at(j, key, origin);
  if (!v.is_string()) wrong(key, origin, "a string");
  return v.get<std::string>();
}

bool bool_field(const json& j, const char* key, const std::string& origin) {
  const json& v = at(j, key, origin);
  if (!v.is_boolean()) wrong(key, origin, "true or false");
  return v.get<bool>();
}

std::vector<int> ints_field(const json& j, const char* key, const std::string& origin) {
  const json& v = at(j, key, origin);
  if (!v.is_array()) wrong(key, origin, "a list of integers");
  std::vector<int> out;
  for (const json& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() < INT32_MIN || x.get<int64_t>() > INT32_MAX)
      wrong(key, origin, "a list of integers");
    out.push_back(x.get<int>());
  }
  return out;
}

std::vector<std::string> strings_field(const json& j, const char* key, const std::string& origin) {
  const json& v = at(j, key, origin);
  if (!v.is_array()) wrong(key, origin, "a list of strings");
  std::vector<std::string> out;
  for (const json& x : v) {
    if (!x.is_string()) wrong(key, origin, "a list of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

}  // namespace

json parse_json(const std::string& text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(origin, std::string("is not valid JSON: ") + e.what());
  }
}

json encode_block(const Block& b) {
  return {{"block", b.index}, {"tokens", b.tokens},   {"text", b.text}, {"generated", b.generated},
          {"steps", b.steps}, {"seconds", b.seconds}, {"end", b.end}};
}

Block decode_block(const json& j, const std::string& origin) {
  Block b;
  b.index = int_field(j, "block", origin);
  b.tokens = ints_field(j, "tokens", origin);
  b.text = string_field(j, "text", origin);
  b.generated = int_field(j, "generated", origin);
  b.steps = int_field(j, "steps", origin);
  b.seconds = double_field(j, "seconds", origin);
  b.end = bool_field(j, "end", origin);
  return b;
}

json encode_entity(const Entity& e) {
  return {{"id", e.id},
          {"name", e.name},
          {"kind", e.kind},
          {"aliases", e.aliases},
          {"first_block", e.first_block},
          {"last_block", e.last_block},
          {"mentions", e.mentions},
          {"latest", e.latest},
          {"declared", e.declared}};
}

Entity decode_entity(const json& j, const std::string& origin) {
  Entity e;
  e.id = int_field(j, "id", origin);
  e.name = string_field(j, "name", origin);
  e.kind = string_field(j, "kind", origin);
  e.aliases = strings_field(j, "aliases", origin);
  e.first_block = int_field(j, "first_block", origin);
  e.last_block = int_field(j, "last_block", origin);
  e.mentions = int_field(j, "mentions", origin);
  e.latest = strings_field(j, "latest", origin);
  e.declared = bool_field(j, "declared", origin);
  return e;
}

json encode_event(const Event& e) {
  return {{"block", e.block},
          {"sentence", e.sentence},
          {"entities", e.entities},
          {"times", e.times},
          {"chapter", e.chapter}};
}

Event decode_event(const json& j, const std::string& origin) {
  Event e;
  e.block = int_field(j, "block", origin);
  e.sentence = string_field(j, "sentence", origin);
  e.entities = ints_field(j, "entities", origin);
  e.times = strings_field(j, "times", origin);
  e.chapter = bool_field(j, "chapter", origin);
  return e;
}

json encode_events(const std::vector<Event>& ev) {
  json a = json::array();
  for (const Event& e : ev) a.push_back(encode_event(e));
  return a;
}

std::vector<Event> decode_events(const json& j, const std::string& origin) {
  if (!j.is_array()) throw Error(origin, "is not a JSON array of events");
  std::vector<Event> out;
  for (size_t i = 0; i < j.size(); ++i)
    out.push_back(decode_event(j[i], origin + " event " + std::to_string(i)));
  return out;
}

json encode_settings(const GenOptions& o, int blocks) {
  const SamplerOptions& s = o.sampler;
  return {{"strategy", strategy_name(s.strategy)},
          {"threshold", decimal(s.threshold)},
          {"temperature", decimal(s.temperature)},
          {"top_k", s.top_k},
          {"top_p", decimal(s.top_p)},
          {"allow_eos", s.allow_eos},
          {"repeat_penalty", decimal(s.repeat_penalty)},
          {"repeat_last_n", s.repeat_last_n},
          {"steps", o.steps},
          {"seed", o.seed},
          {"prefix_cache", o.prefix_cache},
          {"memory", context_mode_name(o.memory)},
          {"full_context", o.full_context},
          {"packed_weights", o.packed_weights},
          {"blocks", blocks}};
}

GenOptions decode_settings(const json& j, int& blocks, const std::string& origin) {
  GenOptions o;
  SamplerOptions& s = o.sampler;
  try {
    s.strategy = parse_strategy(string_field(j, "strategy", origin));
    o.memory = parse_context_mode(string_field(j, "memory", origin));
  } catch (const Error& e) {
    throw Error(origin, e.what());
  }
  s.threshold = float_field(j, "threshold", origin);
  s.temperature = float_field(j, "temperature", origin);
  s.top_k = int_field(j, "top_k", origin);
  s.top_p = float_field(j, "top_p", origin);
  s.allow_eos = bool_field(j, "allow_eos", origin);
  s.repeat_penalty = float_field(j, "repeat_penalty", origin);
  s.repeat_last_n = int_field(j, "repeat_last_n", origin);
  o.steps = int_field(j, "steps", origin);
  const json& seed = at(j, "seed", origin);
  if (!seed.is_number_unsigned()) wrong("seed", origin, "a non-negative integer");
  o.seed = seed.get<uint64_t>();
  o.prefix_cache = bool_field(j, "prefix_cache", origin);
  o.full_context = int_field(j, "full_context", origin);
  o.packed_weights = bool_field(j, "packed_weights", origin);
  blocks = int_field(j, "blocks", origin);
  try {
    validate(s);
  } catch (const Error& e) {
    throw Error(origin, e.what());
  }
  if (o.steps < 1 || o.full_context < 0 || blocks < 0)
    throw Error(origin, "steps, full_context or blocks out of range");
  return o;
}

}  // namespace bs
