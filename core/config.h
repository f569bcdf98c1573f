// Configuration: model, training and generation settings, read from TOML (toml++).
//
// Every key lives in one schema table (config.cpp), so parsing, --set overrides, validation,
// printing and the copy stored in checkpoints all agree. Unknown keys and wrong types are refused
// with the file, line and key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bs {

struct ModelConfig {
  int vocab = 4096;  // V
  int d = 256;       // C, model width
  int layers = 6;
  int heads = 4;   // H; head dim D = d / heads (must be even for RoPE)
  int ffn = 1024;  // F, SwiGLU hidden width
  float rope_base = 10000.f;
  float rope_ntk = 1.f;  // NTK-aware scale s: base' = base * s^(D/(D-2)); 1 = off
  float norm_eps = 1e-5f;
  int block = 64;                  // L, tokens per block
  int summary_slots = 4;           // K, summary vectors per block
  int window = 16;                 // W, clean tokens of the previous block in the context
  int max_memory_blocks = 7;       // S_max, blocks kept in M; <= train.burn_in + unroll - 1
  int header_tokens = 0;           // E, entity/timeline header budget (0 = no header)
  std::string recency = "linear";  // "linear" | "none": Σ→X bias beta_h * s/(S-1)
  float recency_init = 2.f;        // initial beta_h
  float init_std = 0.02f;
  uint64_t init_seed = 1234;

  int head_dim() const { return d / heads; }
  // Longest context: S_max*K + E + W + L + K rows.
  int max_context() const {
    return max_memory_blocks * summary_slots + header_tokens + window + block + summary_slots;
  }
};

struct TrainConfig {
  std::string data;  // corpus folder made by `corpus prepare`
  std::string out = "runs/model";
  uint64_t seed = 1;
  int batch = 8;   // documents per step (sequences of B blocks)
  int unroll = 4;  // B, consecutive blocks per document, gradients flow across them
  int accum = 1;   // gradient accumulation steps
  int steps = 1000;
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  int warmup = 100;
  float weight_decay = 0.1f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float grad_clip = 1.f;
  float mask_eps = 1e-3f;       // t ~ U(eps, 1)
  float memory_dropout = 0.1f;  // share of blocks predicted from the window only ("window" mode)
  float none_prob = 0.05f;      // share predicted with no earlier context at all ("none" mode)
  float full_prob = 0.05f;      // share predicted from raw earlier tokens ("full" mode)
  int full_context = 512;       // earlier raw tokens a "full" block sees at most
  int burn_in = 4;              // earlier blocks summarised without gradient before the unroll
  int eval_blocks = 256;        // validation blocks per periodic evaluation (0 = none)
  int eval_samples = 2;         // masking rates drawn per validation block
  int checkpoint_every = 200;
  int eval_every = 200;
  int log_every = 10;
};

struct GenerateConfig {
  int steps = 16;  // T, denoising steps per block at most
  std::string strategy = "low_confidence";
  float threshold = 0.9f;  // tau for strategy "threshold"
  float temperature = 1.f;
  int top_k = 0;      // 0 = off
  float top_p = 1.f;  // 1 = off
  float repeat_penalty = 1.f;  // > 1 lowers tokens of the recent text (blocks/sampler.h); 1 = off
  int repeat_last_n = 64;      // committed tokens that count as recent for the penalty
  uint64_t seed = 0;           // 0: a new random seed every run (printed, so it can be repeated)
  int blocks = 8;
  int max_tokens = 0;  // document length limit in tokens, the prompt included (0 = none)
};

struct Config {
  ModelConfig model;
  TrainConfig train;
  GenerateConfig generate;

  // Reads a TOML file over the current values. Throws bs::Error("file:line key", problem).
  void load_file(const std::string& path);
  // Reads TOML text; origin names it in errors (e.g. "checkpoint x.safetensors metadata").
  void load_string(const std::string& toml_text, const std::string& origin);
  // Applies one "section.key=value" override; value parsed as TOML, bare words as strings.
  void apply_override(const std::string& assignment);
  // Checks cross-field constraints (d % heads, even head dim, ranges). Throws bs::Error.
  void validate() const;
  // TOML text of all sections (or only [model] when model_only), readable by load_string.
  std::string to_toml(bool model_only = false) const;
  // The keys of `section` (empty: every section) whose values differ from o's, with both values
  // as TOML writes them.
  struct Difference {
    std::string key, value, other;  // "model.d", "32", "64"
  };
  std::vector<Difference> differences(const Config& o, const std::string& section = "") const;
};

// The parameter count of a model of this config, in 64 bits (core/model.h allocates exactly
// this many floats), and the most a config may ask for.
uint64_t model_parameters(const ModelConfig& m);
inline constexpr uint64_t kMaxParameters = uint64_t(2) << 30;

// Loads defaults, then an optional file, then overrides in order, then validates.
Config make_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace bs
