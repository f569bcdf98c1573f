// Model checkpoints: one .safetensors file holding every weight (F32, F16 or BF16; names in
// docs/MODEL.md),
// the tokenizer's SentencePiece model as the U8 tensor "tokenizer.model", and metadata:
//   format = "blockscribe-checkpoint", format_version, config (TOML), tokenizer_hash,
//   data_hash (XXH3-64 of the data section, so flipped bits are caught), header_hash (XXH3-64
//   of every other metadata value and the tensor table, so an edited config is caught), plus
//   caller extras. Loading also refuses non-finite weights and optimizer moments that are not
//   finite (or negative second moments), naming the tensor.
// Written to a temporary file and renamed, so a crash never leaves a half-written checkpoint.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/safetensors.h"
#include "core/model.h"
#include "text/tokenizer.h"

namespace bs {

constexpr int kCheckpointVersion = 2;  // 2: header_hash covers the config, metadata and table

// Extra F32 tensors (e.g. optimizer moments) must be named "train.*"; readers of the model ignore
// them, load_checkpoint returns them in Checkpoint::extra.
using ExtraTensors = std::vector<std::pair<std::string, const std::vector<float>*>>;

// How the model's weights are stored: F32 (training states, exact), or F16 / BF16 (half the
// size: shipped models), converted back to float at load. Extra tensors are always F32.
enum class WeightType { f32, f16, bf16 };
WeightType parse_weight_type(const std::string& s);  // "f32" | "f16" | "bf16"; throws bs::Error

// Throws bs::Error naming the tensor when a weight does not fit the type (|w| > 65504 for F16).
void save_checkpoint(const std::string& path, const Config& cfg, const Model& model,
                     const Tokenizer& tok, const std::map<std::string, std::string>& extra = {},
                     const ExtraTensors& tensors = {}, WeightType weights = WeightType::f32);

// Writes a checkpoint file from its parts as they are, adding data_hash and header_hash so its
// checks pass: save_checkpoint's last step, and the way tests make files that a careless writer
// could (valid checksums, wrong content) to see the loader refuse them anyway.
void write_sealed_checkpoint(const std::string& path, const std::vector<StTensorOut>& tensors,
                             std::map<std::string, std::string> metadata);

struct Checkpoint {
  Config config;  // as saved (all sections)
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::vector<float>> extra;  // "train.*" tensors
};

// Throws bs::Error naming the file for: missing, truncated, corrupt, wrong format or version,
// missing or mis-shaped tensors, tokenizer/vocabulary mismatch.
Checkpoint load_checkpoint(const std::string& path);
// The same from the file's bytes; path names them in errors.
Checkpoint load_checkpoint_bytes(std::string bytes, const std::string& path);

}  // namespace bs
