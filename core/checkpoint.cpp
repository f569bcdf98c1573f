#include "core/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "core/half.h"
#include "core/safetensors.h"

namespace bs {

namespace {

// One tensor of the header, as the header check sees it.
struct TableEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // offsets in the data section
};

// XXH3-64 hex of the whole header but the check itself: every metadata key and value but
// header_hash, then every tensor's name, dtype, shape and offsets, in name order. So an edited
// config, step count or tensor table is caught like a flipped weight.
std::string header_hash(const std::map<std::string, std::string>& meta,
                        std::vector<TableEntry> table) {
  std::string c = "blockscribe-checkpoint-header\n";
  for (const auto& [k, v] : meta) {
    if (k == "header_hash") continue;
    c += k + '\0' + v + '\0';
  }
  std::sort(table.begin(), table.end(),
            [](const TableEntry& a, const TableEntry& b) { return a.name < b.name; });
  for (const TableEntry& t : table) {
    c += t.name + '\0' + t.dtype;
    for (int64_t d : t.shape) c += ' ' + std::to_string(d);
    c += '@' + std::to_string(t.begin) + '-' + std::to_string(t.end) + '\0';
  }
  return hex64(hash64(c));
}

// Throws unless every value of p is finite (and, for second moments, >= 0), naming the tensor.
void require_finite(const float* p, size_t n, const std::string& path, const std::string& name,
                    bool non_negative = false) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i]) || (non_negative && p[i] < 0.f))
      throw Error(path, "tensor '" + name + "' holds " +
                            (std::isfinite(p[i]) ? "a negative value (" + shortest(p[i]) + ")"
                                                 : std::string("a non-finite value (") +
                                                       shortest(p[i]) + ")") +
                            " at element " + std::to_string(i) + "; the checkpoint is unusable");
}

}  // namespace

WeightType parse_weight_type(const std::string& s) {
  if (s == "f32") return WeightType::f32;
  if (s == "f16") return WeightType::f16;
  if (s == "bf16") return WeightType::bf16;
  throw Error("weight type '" + s + "'", "unknown (expected f32, f16 or bf16)");
}

void save_checkpoint(const std::string& path, const Config& cfg, const Model& model,
                     const Tokenizer& tok, const std::map<std::string, std::string>& extra,
                     const ExtraTensors& tensors, WeightType weights) {
  std::vector<StTensorOut> out;
  std::vector<std::vector<uint16_t>> halves;  // the 16-bit copies, alive until written
  halves.reserve(model.tensors().size());
  for (const auto& t : model.tensors()) {
    std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
    const float* p = model.params.data() + t.offset;
    if (weights == WeightType::f32) {
      out.push_back({t.name, "F32", shape, p, t.numel * sizeof(float)});
      continue;
    }
    std::vector<uint16_t> h(t.numel);
    for (size_t i = 0; i < t.numel; ++i) {
      h[i] = weights == WeightType::f16 ? float_to_f16(p[i]) : float_to_bf16(p[i]);
      if (weights == WeightType::f16 && std::isfinite(p[i]) && (h[i] & 0x7C00u) == 0x7C00u)
        throw Error(path, "tensor '" + t.name + "' holds " + shortest(p[i]) +
                              ", beyond F16's range (65504): store it as bf16 or f32");
    }
    halves.push_back(std::move(h));
    out.push_back({t.name, weights == WeightType::f16 ? "F16" : "BF16", shape,
                   halves.back().data(), t.numel * sizeof(uint16_t)});
  }
  const std::string& spm = tok.serialized();
  out.push_back({"tokenizer.model", "U8", {int64_t(spm.size())}, spm.data(), spm.size()});
  for (const auto& [name, v] : tensors) {
    BS_CHECK(name.rfind("train.", 0) == 0, name, "extra checkpoint tensors must be named train.*");
    out.push_back({name, "F32", {int64_t(v->size())}, v->data(), v->size() * sizeof(float)});
  }

  std::map<std::string, std::string> meta = extra;
  meta["format"] = "blockscribe-checkpoint";
  meta["format_version"] = std::to_string(kCheckpointVersion);
  meta["config"] = cfg.to_toml();
  meta["tokenizer_hash"] = hex64(tok.hash());
  write_sealed_checkpoint(path, out, std::move(meta));
}

void write_sealed_checkpoint(const std::string& path, const std::vector<StTensorOut>& out,
                             std::map<std::string, std::string> meta) {
  // The data hash covers the data section exactly as laid out by safetensors_bytes.
  std::string data;
  for (const auto& t : out) data.append(static_cast<const char*>(t.data), t.bytes);
  meta["data_hash"] = hex64(hash64(data));
  std::vector<TableEntry> table;
  uint64_t off = 0;
  for (const auto& t : out) {  // the offsets safetensors_bytes lays the tensors out at
    table.push_back({t.name, t.dtype, t.shape, off, off + t.bytes});
    off += t.bytes;
  }
  meta["header_hash"] = header_hash(meta, table);
  write_file_atomic(path, safetensors_bytes(out, meta));
}

Checkpoint load_checkpoint(const std::string& path) { return load_checkpoint_bytes(read_file(path), path); }

Checkpoint load_checkpoint_bytes(std::string bytes, const std::string& path) {
  SafeTensors st = parse_safetensors(std::move(bytes), path);
  auto meta = [&](const std::string& k) -> const std::string& {
    auto it = st.metadata.find(k);
    if (it == st.metadata.end())
      throw Error(path, "not a blockscribe checkpoint (metadata '" + k + "' missing)");
    return it->second;
  };
  if (meta("format") != "blockscribe-checkpoint")
    throw Error(path, "not a blockscribe checkpoint (format '" + meta("format") + "')");
  const int version = int(parse_int(meta("format_version"), 0, 1 << 20,
                                    path + " metadata format_version"));
  if (version > kCheckpointVersion)
    throw Error(path, "checkpoint format version " + std::to_string(version) +
                          ", this build reads " + std::to_string(kCheckpointVersion) +
                          ": upgrade blockscribe");
  if (version < kCheckpointVersion)
    throw Error(path, "checkpoint format version " + std::to_string(version) +
                          " carries no check of its header (this build reads " +
                          std::to_string(kCheckpointVersion) + "): retrain it");
  std::vector<TableEntry> table;
  for (const auto& [name, t] : st.tensors) {
    const uint64_t b = uint64_t(t.data.data() - st.data_section.data());
    table.push_back({name, t.dtype, t.shape, b, b + t.data.size()});
  }
  if (header_hash(st.metadata, table) != meta("header_hash"))
    throw Error(path, "corrupt checkpoint: header checksum mismatch (its config, metadata or "
                      "tensor table was damaged or edited)");
  if (hex64(hash64(st.data_section)) != meta("data_hash"))
    throw Error(path, "corrupt checkpoint: data checksum mismatch (file damaged or edited)");
  // Training metadata, when present, must be what a trainer writes.
  const int64_t kMax = int64_t(1) << 62;
  for (const char* k : {"train_step", "train_tokens", "train_adam_t"})
    if (st.metadata.count(k)) parse_int(meta(k), 0, kMax, path + " metadata " + k);
  if (st.metadata.count("train_elapsed"))
    parse_number(meta("train_elapsed"), 0, 1e12, path + " metadata train_elapsed");

  Checkpoint ck;
  ck.metadata = st.metadata;
  ck.config.load_string(meta("config"), path + " (metadata config)");
  try {
    ck.config.validate();
  } catch (const Error& e) {
    throw Error(path + " (metadata config)", e.what());
  }
  ck.model = std::make_unique<Model>(ck.config.model);
  for (const auto& t : ck.model->tensors()) {
    auto it = st.tensors.find(t.name);
    if (it == st.tensors.end()) throw Error(path, "tensor '" + t.name + "' missing");
    const StTensorIn& in = it->second;
    std::vector<int64_t> want(t.shape.begin(), t.shape.end());
    if ((in.dtype != "F32" && in.dtype != "F16" && in.dtype != "BF16") || in.shape != want)
      throw Error(path, "tensor '" + t.name + "' has the wrong dtype (" + in.dtype +
                            ") or shape for the config");
    float* dst = ck.model->params.data() + t.offset;
    if (in.dtype == "F32") {
      std::memcpy(dst, in.data.data(), in.data.size());
    } else {  // 16-bit weights become float once, here
      const bool f16 = in.dtype == "F16";
      for (size_t i = 0; i < t.numel; ++i) {
        uint16_t h;
        std::memcpy(&h, in.data.data() + 2 * i, 2);
        dst[i] = f16 ? f16_to_float(h) : bf16_to_float(h);
      }
    }
    require_finite(ck.model->params.data() + t.offset, t.numel, path, t.name);
  }
  for (const auto& [name, in] : st.tensors) {
    if (name.rfind("train.", 0) == 0) {
      if (in.dtype != "F32") throw Error(path, "tensor '" + name + "' must be F32");
      std::vector<float> v(in.data.size() / sizeof(float));
      std::memcpy(v.data(), in.data.data(), v.size() * sizeof(float));
      // AdamW's moments: finite, and the second moment (a running mean of squares) >= 0.
      require_finite(v.data(), v.size(), path, name, name == "train.adam.v");
      ck.extra[name] = std::move(v);
      continue;
    }
    if (name != "tokenizer.model" && !ck.model->find(name))
      throw Error(path, "unexpected tensor '" + name + "' (checkpoint from another model?)");
  }
  auto tk = st.tensors.find("tokenizer.model");
  if (tk == st.tensors.end() || tk->second.dtype != "U8")
    throw Error(path, "checkpoint has no tokenizer (tensor 'tokenizer.model' missing)");
  ck.tokenizer = std::make_unique<Tokenizer>(
      Tokenizer::from_serialized(std::string(tk->second.data), path + " (tokenizer.model)"));
  if (hex64(ck.tokenizer->hash()) != meta("tokenizer_hash"))
    throw Error(path, "corrupt checkpoint: tokenizer hash mismatch");
  if (ck.tokenizer->vocab_size() != ck.config.model.vocab)
    throw Error(path, "tokenizer has " + std::to_string(ck.tokenizer->vocab_size()) +
                          " pieces but the model's vocab is " +
                          std::to_string(ck.config.model.vocab));
  return ck;
}

}  // namespace bs
