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

// One schema row per key: where it lives and what type it has.
using FieldPtr = std::variant<int*, float*, uint64_t*, std::string*>;
struct Field {
  std::string key;  // "section.name"
  FieldPtr ptr;
};

std::vector<Field> schema(Config& c) {
  ModelConfig& m = c.model;
  TrainConfig& t = c.train;
  GenerateConfig& g = c.generate;
  return {
      {"model.vocab", &m.vocab},
      {"model.d", &m.d},
      {"model.layers", &m.layers},
      {"model.heads", &m.heads},
      {"model.ffn", &m.ffn},
      {"model.rope_base", &m.rope_base},
      {"model.rope_ntk", &m.rope_ntk},
      {"model.norm_eps", &m.norm_eps},
      {"model.block", &m.block},
      {"model.summary_slots", &m.summary_slots},
      {"model.window", &m.window},
      {"model.max_memory_blocks", &m.max_memory_blocks},
      {"model.header_tokens", &m.header_tokens},
      {"model.recency", &m.recency},
      {"model.recency_init", &m.recency_init},
      {"model.init_std", &m.init_std},
      {"model.init_seed", &m.init_seed},
      {"train.data", &t.data},
      {"train.out", &t.out},
      {"train.seed", &t.seed},
      {"train.batch", &t.batch},
      {"train.unroll", &t.unroll},
      {"train.accum", &t.accum},
      {"train.steps", &t.steps},
      {"train.lr", &t.lr},
      {"train.min_lr", &t.min_lr},
      {"train.warmup", &t.warmup},
      {"train.weight_decay", &t.weight_decay},
      {"train.beta1", &t.beta1},
      {"train.beta2", &t.beta2},
      {"train.grad_clip", &t.grad_clip},
      {"train.mask_eps", &t.mask_eps},
      {"train.memory_dropout", &t.memory_dropout},
      {"train.none_prob", &t.none_prob},
      {"train.full_prob", &t.full_prob},
      {"train.full_context", &t.full_context},
      {"train.burn_in", &t.burn_in},
      {"train.eval_blocks", &t.eval_blocks},
      {"train.eval_samples", &t.eval_samples},
      {"train.checkpoint_every", &t.checkpoint_every},
      {"train.eval_every", &t.eval_every},
      {"train.log_every", &t.log_every},
      {"generate.steps", &g.steps},
      {"generate.strategy", &g.strategy},
      {"generate.threshold", &g.threshold},
      {"generate.temperature", &g.temperature},
      {"generate.top_k", &g.top_k},
      {"generate.top_p", &g.top_p},
      {"generate.repeat_penalty", &g.repeat_penalty},
      {"generate.repeat_last_n", &g.repeat_last_n},
      {"generate.seed", &g.seed},
      {"generate.blocks", &g.blocks},
      {"generate.max_tokens", &g.max_tokens},
  };
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
          if (v < INT32_MIN || v > INT32_MAX) throw Error(thing, "'" + f.key + "' out of range");
          *p = int(v);
        } else if constexpr (std::is_same_v<T, float>) {
          if (node.is_integer())
            *p = float(node.as_integer()->get());
          else if (node.is_floating_point())
            *p = float(node.as_floating_point()->get());
          else
            wrong();
          if (!std::isfinite(*p)) throw Error(thing, "'" + f.key + "' must be finite");
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          if (!node.is_integer() || node.as_integer()->get() < 0) wrong();
          *p = uint64_t(node.as_integer()->get());
        } else {
          if (!node.is_string()) wrong();
          *p = node.as_string()->get();
        }
      },
      f.ptr);
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
  const ModelConfig& m = model;
  auto need = [](bool ok, const std::string& key, const std::string& why) {
    if (!ok) throw Error("config " + key, why);
  };
  need(m.vocab >= 16 && m.vocab <= 1 << 20, "model.vocab", "must be in [16, 1048576]");
  need(m.d > 0 && m.heads > 0 && m.d % m.heads == 0, "model.d",
       "must be a positive multiple of model.heads");
  need(m.head_dim() % 2 == 0, "model.heads", "head dimension d/heads must be even for RoPE");
  need(m.layers > 0, "model.layers", "must be positive");
  need(m.ffn > 0, "model.ffn", "must be positive");
  need(m.block > 0, "model.block", "must be positive");
  need(m.summary_slots >= 0, "model.summary_slots", "must be >= 0");
  need(m.window >= 0 && m.window <= m.block, "model.window", "must be in [0, model.block]");
  need(m.max_memory_blocks >= 0, "model.max_memory_blocks", "must be >= 0");
  need(m.header_tokens >= 0, "model.header_tokens", "must be >= 0");
  need(m.recency == "linear" || m.recency == "none", "model.recency",
       "must be \"linear\" or \"none\"");
  need(m.rope_base > 1.f, "model.rope_base", "must be > 1");
  need(m.rope_ntk >= 1.f, "model.rope_ntk", "must be >= 1");
  need(m.norm_eps > 0.f, "model.norm_eps", "must be > 0");
  need(m.init_std > 0.f, "model.init_std", "must be > 0");
  const TrainConfig& t = train;
  need(t.batch > 0, "train.batch", "must be positive");
  need(t.unroll > 0, "train.unroll", "must be positive");
  need(t.accum > 0, "train.accum", "must be positive");
  need(t.steps >= 0, "train.steps", "must be >= 0");
  need(t.lr > 0.f && t.min_lr >= 0.f && t.min_lr <= t.lr, "train.lr",
       "need lr > 0 and 0 <= min_lr <= lr");
  need(t.mask_eps > 0.f && t.mask_eps < 1.f, "train.mask_eps", "must be in (0, 1)");
  need(t.memory_dropout >= 0.f && t.memory_dropout <= 1.f, "train.memory_dropout",
       "must be in [0, 1]");
  need(t.none_prob >= 0.f && t.full_prob >= 0.f &&
           t.memory_dropout + t.none_prob + t.full_prob <= 1.f,
       "train.none_prob", "memory_dropout + none_prob + full_prob must be in [0, 1]");
  need(t.full_context >= 0, "train.full_context", "must be >= 0");
  need(t.burn_in >= 0, "train.burn_in", "must be >= 0");
  need(t.eval_blocks >= 0, "train.eval_blocks", "must be >= 0");
  need(t.eval_samples > 0, "train.eval_samples", "must be positive");
  need(t.grad_clip >= 0.f, "train.grad_clip", "must be >= 0 (0 = off)");
  need(t.beta1 >= 0.f && t.beta1 < 1.f && t.beta2 >= 0.f && t.beta2 < 1.f, "train.beta1",
       "betas must be in [0, 1)");
  const GenerateConfig& g = generate;
  need(g.steps > 0, "generate.steps", "must be positive");
  need(g.strategy == "low_confidence" || g.strategy == "margin" || g.strategy == "entropy" ||
           g.strategy == "random" || g.strategy == "threshold",
       "generate.strategy", "must be one of low_confidence, margin, entropy, random, threshold");
  need(g.threshold > 0.f && g.threshold <= 1.f, "generate.threshold", "must be in (0, 1]");
  need(g.temperature >= 0.f, "generate.temperature", "must be >= 0 (0 = greedy)");
  need(g.top_k >= 0, "generate.top_k", "must be >= 0 (0 = off)");
  need(g.top_p > 0.f && g.top_p <= 1.f, "generate.top_p", "must be in (0, 1]");
  need(g.repeat_penalty >= 1.f && g.repeat_penalty <= 10.f, "generate.repeat_penalty",
       "must be in [1, 10] (1 = off)");
  need(g.repeat_last_n >= 0, "generate.repeat_last_n", "must be >= 0");
  need(g.blocks >= 0 && g.max_tokens >= 0, "generate.blocks", "budgets must be >= 0");
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

Config make_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config c;
  if (!path.empty()) c.load_file(path);
  for (const auto& o : overrides) c.apply_override(o);
  c.validate();
  return c;
}

}  // namespace bs
