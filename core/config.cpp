#include "core/config.h"

#include <cmath>
#include <sstream>
#include <variant>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "text/utf8.h"

namespace bs {
namespace {

// One schema row per key: where it lives, what type it has, and its range (docs/CONFIG.md lists
// them). Every value read from a file or --set is checked against its range there, with the file,
// line and key in the message; validate() checks them again for configs built in code, and the
// constraints between keys.
using FieldPtr = std::variant<int*, float*, uint64_t*, std::string*>;
struct Range {
  double lo = -1e300, hi = 1e300;
  bool lo_open = false, hi_open = false;  // (lo, ...] / [..., hi)
};
struct Field {
  std::string key;  // "section.name"
  FieldPtr ptr;
  Range range = {};
};

constexpr double kIntMax = 2147483647.0;

std::vector<Field> schema(Config& c) {
  ModelConfig& m = c.model;
  TrainConfig& t = c.train;
  GenerateConfig& g = c.generate;
  const Range unit_closed{0, 1}, unit_open_lo{0, 1, true, false};
  return {
      {"model.vocab", &m.vocab, {16, 1 << 20}},
      {"model.d", &m.d, {2, 65536}},
      {"model.layers", &m.layers, {1, 1024}},
      {"model.heads", &m.heads, {1, 4096}},
      {"model.ffn", &m.ffn, {1, 1 << 20}},
      {"model.rope_base", &m.rope_base, {1, 1e9, true, false}},
      {"model.rope_ntk", &m.rope_ntk, {1, 1e6}},
      {"model.norm_eps", &m.norm_eps, {0, 1, true, false}},
      {"model.block", &m.block, {1, 65536}},
      {"model.summary_slots", &m.summary_slots, {0, 1024}},
      {"model.window", &m.window, {0, 65536}},
      {"model.max_memory_blocks", &m.max_memory_blocks, {0, 4096}},
      {"model.header_tokens", &m.header_tokens, {0, 65536}},
      {"model.recency", &m.recency},
      {"model.recency_init", &m.recency_init, {0, 100}},
      {"model.init_std", &m.init_std, {0, 10, true, false}},
      {"model.init_seed", &m.init_seed},
      {"train.data", &t.data},
      {"train.out", &t.out},
      {"train.seed", &t.seed},
      {"train.batch", &t.batch, {1, 65536}},
      {"train.unroll", &t.unroll, {1, 1024}},
      {"train.accum", &t.accum, {1, 65536}},
      {"train.steps", &t.steps, {0, 1e9}},
      {"train.lr", &t.lr, {0, 10, true, false}},
      {"train.min_lr", &t.min_lr, {0, 10}},
      {"train.warmup", &t.warmup, {0, 1e9}},
      {"train.weight_decay", &t.weight_decay, {0, 10}},
      {"train.beta1", &t.beta1, {0, 1, false, true}},
      {"train.beta2", &t.beta2, {0, 1, false, true}},
      {"train.grad_clip", &t.grad_clip, {0, 1e6}},
      {"train.mask_eps", &t.mask_eps, {0, 1, true, true}},
      {"train.memory_dropout", &t.memory_dropout, unit_closed},
      {"train.none_prob", &t.none_prob, unit_closed},
      {"train.full_prob", &t.full_prob, unit_closed},
      {"train.full_context", &t.full_context, {0, 1 << 24}},
      {"train.burn_in", &t.burn_in, {0, 1024}},
      {"train.eval_blocks", &t.eval_blocks, {0, 1 << 24}},
      {"train.eval_samples", &t.eval_samples, {1, 1024}},
      {"train.checkpoint_every", &t.checkpoint_every, {0, 1e9}},
      {"train.eval_every", &t.eval_every, {0, 1e9}},
      {"train.log_every", &t.log_every, {1, 1e9}},
      {"generate.steps", &g.steps, {1, 1 << 20}},
      {"generate.strategy", &g.strategy},
      {"generate.threshold", &g.threshold, unit_open_lo},
      {"generate.temperature", &g.temperature, {0, 100}},
      {"generate.top_k", &g.top_k, {0, 1 << 20}},
      {"generate.top_p", &g.top_p, unit_open_lo},
      {"generate.repeat_penalty", &g.repeat_penalty, {1, 10}},
      {"generate.repeat_last_n", &g.repeat_last_n, {0, 1 << 20}},
      {"generate.seed", &g.seed},
      {"generate.blocks", &g.blocks, {0, 1 << 20}},
      {"generate.max_tokens", &g.max_tokens, {0, kIntMax}},
  };
}

std::string range_text(const Range& r, bool integer) {
  auto num = [&](double v) { return integer ? std::to_string(int64_t(v)) : shortest(v); };
  return std::string(r.lo_open ? "(" : "[") + num(r.lo) + ", " + num(r.hi) + (r.hi_open ? ")" : "]");
}

bool in_range(double v, const Range& r) {
  return std::isfinite(v) && (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
}

// Throws bs::Error(thing, "'key' = v is not in [lo, hi]") when the field's value is out of range.
void check_range(const Field& f, const std::string& thing) {
  double v = 0;
  if (auto* p = std::get_if<int*>(&f.ptr))
    v = double(**p);
  else if (auto* q = std::get_if<float*>(&f.ptr))
    v = double(**q);
  else
    return;  // strings and 64-bit seeds: any value
  if (!in_range(v, f.range)) {
    const std::string shown = std::holds_alternative<int*>(f.ptr) ? std::to_string(int64_t(v))
                                                                   : shortest(float(v));
    throw Error(thing, "'" + f.key + "' = " + shown + " is not in " +
                           range_text(f.range, std::holds_alternative<int*>(f.ptr)));
  }
}

std::string where(const std::string& origin, const toml::source_region& src) {
  if (src.begin.line == 0) return origin;
  return origin + ":" + std::to_string(src.begin.line);
}

const char* type_name(const FieldPtr& p) {
  switch (p.index()) {
    case 0:
      return "an integer";
    case 1:
      return "a number";
    case 2:
      return "a non-negative integer";
    default:
      return "a string";
  }
}

// Stores node into the field, or throws naming `thing`.
void assign(const Field& f, const toml::node& node, const std::string& thing) {
  auto wrong = [&] {
    throw Error(thing, std::string("expected ") + type_name(f.ptr) + " for '" + f.key + "'");
  };
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, int>) {
          if (!node.is_integer()) wrong();
          int64_t v = node.as_integer()->get();
          if (v < INT32_MIN || v > INT32_MAX)
            throw Error(thing, "'" + f.key + "' = " + std::to_string(v) + " is not in " +
                                   range_text(f.range, true));
          *p = int(v);
        } else if constexpr (std::is_same_v<T, float>) {
          if (node.is_integer())
            *p = float(node.as_integer()->get());
          else if (node.is_floating_point())
            *p = float(node.as_floating_point()->get());
          else
            wrong();
          if (!std::isfinite(*p))
            throw Error(thing, "'" + f.key + "' = " + shortest(*p) + " is not in " +
                                   range_text(f.range, false));
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          if (!node.is_integer() || node.as_integer()->get() < 0) wrong();
          *p = uint64_t(node.as_integer()->get());
        } else {
          if (!node.is_string()) wrong();
          *p = node.as_string()->get();
        }
      },
      f.ptr);
  check_range(f, thing);
}

// " (did you mean 'model.d'?)" for a likely typo of a key, else "".
std::string did_you_mean(const std::vector<Field>& s, const std::string& key) {
  std::vector<std::string> keys;
  for (const auto& f : s) keys.push_back(f.key);
  const std::string c = closest(key, keys);
  return c.empty() ? "" : " (did you mean '" + c + "'?)";
}

const Field* find(const std::vector<Field>& s, const std::string& key) {
  for (const auto& f : s)
    if (f.key == key) return &f;
  return nullptr;
}

void apply_table(Config& c, const toml::table& root, const std::string& origin) {
  auto fields = schema(c);
  for (auto&& [sec, node] : root) {
    std::string sname(sec.str());
    const toml::table* tbl = node.as_table();
    if (!tbl)
      throw Error(where(origin, sec.source()) + " " + sname,
                  "unknown top-level key (expected tables [model], [train], [generate])");
    if (sname != "model" && sname != "train" && sname != "generate")
      throw Error(where(origin, sec.source()) + " " + sname,
                  "unknown section (expected [model], [train] or [generate])");
    for (auto&& [k, v] : *tbl) {
      std::string key = sname + "." + std::string(k.str());
      const Field* f = find(fields, key);
      std::string thing = where(origin, k.source()) + " " + key;
      if (!f) throw Error(thing, "unknown key" + did_you_mean(fields, key));
      assign(*f, v, thing);
    }
  }
}

std::string format_value(const FieldPtr& p) {
  std::ostringstream os;
  std::visit(
      [&](auto* v) {
        using T = std::remove_pointer_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          os << toml::value<std::string>(*v);
        } else if constexpr (std::is_same_v<T, float>) {
          std::string s = shortest(*v);
          if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
          os << s;
        } else {
          os << *v;
        }
      },
      p);
  return os.str();
}

}  // namespace

void Config::load_file(const std::string& path) {
  std::string text = read_file(path);
  require_utf8(text, path);
  load_string(text, path);
}

void Config::load_string(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw Error(where(origin, e.source()), "malformed TOML: " + std::string(e.description()));
  }
  apply_table(*this, root, origin);
}

void Config::apply_override(const std::string& assignment) {
  std::string thing = "--set " + assignment;
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(thing, "expected section.key=value, e.g. --set model.d=128");
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  auto fields = schema(*this);
  const Field* f = find(fields, key);
  if (!f) throw Error(thing, "unknown key '" + key + "'" + did_you_mean(fields, key));
  toml::table parsed;
  bool ok = true;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    ok = false;
  }
  if (ok && parsed.contains("v")) {
    // A bare word like  strategy=margin  is not TOML; take it as a string for string keys.
    assign(*f, *parsed.get("v"), thing);
  } else if (std::holds_alternative<std::string*>(f->ptr)) {
    *std::get<std::string*>(f->ptr) = value;
  } else {
    throw Error(thing, std::string("expected ") + type_name(f->ptr) + " for '" + key + "'");
  }
}

void Config::validate() const {
  Config copy = *this;  // schema() takes a mutable config
  for (const Field& f : schema(copy)) check_range(f, "config");
  const ModelConfig& m = model;
  auto need = [](bool ok, const std::string& key, const std::string& why) {
    if (!ok) throw Error("config " + key, why);
  };
  need(m.d % m.heads == 0, "model.d", "must be a multiple of model.heads");
  need(m.head_dim() % 2 == 0, "model.heads", "head dimension d/heads must be even for RoPE");
  need(m.window <= m.block, "model.window", "must be at most model.block");
  need(m.recency == "linear" || m.recency == "none", "model.recency",
       "must be \"linear\" or \"none\"");
  // Sizes in 64 bits, before anything is allocated: the parameter count and the longest context.
  const uint64_t params = model_parameters(m);
  need(params <= kMaxParameters, "model",
       "has " + std::to_string(params) + " parameters, more than the " +
           std::to_string(kMaxParameters) + " this build allocates (8 GB of F32)");
  const uint64_t rows = uint64_t(m.max_memory_blocks) * uint64_t(m.summary_slots) +
                        uint64_t(m.header_tokens) + uint64_t(m.window) + uint64_t(m.block) +
                        uint64_t(m.summary_slots);
  need(rows <= (1u << 20), "model.max_memory_blocks",
       "the longest context would be " + std::to_string(rows) + " rows, more than 1048576");
  const TrainConfig& t = train;
  need(!t.out.empty(), "train.out", "must name a folder");
  need(t.min_lr <= t.lr, "train.min_lr", "must be at most train.lr");
  need(t.memory_dropout + t.none_prob + t.full_prob <= 1.f, "train.none_prob",
       "memory_dropout + none_prob + full_prob must be in [0, 1]");
  need(uint64_t(t.batch) * uint64_t(t.accum) * uint64_t(t.unroll) <= (1u << 24), "train.batch",
       "batch x accum x unroll is more than 16777216 blocks a step");
  const GenerateConfig& g = generate;
  need(g.strategy == "low_confidence" || g.strategy == "margin" || g.strategy == "entropy" ||
           g.strategy == "random" || g.strategy == "threshold",
       "generate.strategy", "must be one of low_confidence, margin, entropy, random, threshold");
}

std::string Config::to_toml(bool model_only) const {
  Config copy = *this;
  std::ostringstream os;
  std::string section;
  for (const auto& f : schema(copy)) {
    std::string sec = f.key.substr(0, f.key.find('.'));
    if (model_only && sec != "model") continue;
    if (sec != section) {
      if (!section.empty()) os << "\n";
      os << "[" << sec << "]\n";
      section = sec;
    }
    os << f.key.substr(sec.size() + 1) << " = " << format_value(f.ptr) << "\n";
  }
  return os.str();
}

std::vector<Config::Difference> Config::differences(const Config& o,
                                                    const std::string& section) const {
  Config a = *this, b = o;
  const auto fa = schema(a), fb = schema(b);
  std::vector<Difference> out;
  for (size_t i = 0; i < fa.size(); ++i) {
    if (!section.empty() && fa[i].key.rfind(section + ".", 0) != 0) continue;
    const std::string va = format_value(fa[i].ptr), vb = format_value(fb[i].ptr);
    if (va != vb) out.push_back({fa[i].key, va, vb});
  }
  return out;
}

uint64_t model_parameters(const ModelConfig& m) {
  const uint64_t C = uint64_t(m.d), V = uint64_t(m.vocab), F = uint64_t(m.ffn),
                 K = uint64_t(m.summary_slots), H = uint64_t(m.heads), Lr = uint64_t(m.layers);
  const uint64_t per_layer = C + 3 * C * C + C * C + (m.recency == "linear" ? H : 0) + C +
                             2 * F * C + C * F;
  return V * C + C + K * C + Lr * per_layer + C + V * C + C * C;
}

Config make_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config c;
  if (!path.empty()) c.load_file(path);
  for (const auto& o : overrides) c.apply_override(o);
  c.validate();
  return c;
}

}  // namespace bs
