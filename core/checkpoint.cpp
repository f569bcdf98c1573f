#include "core/checkpoint.h"

#include <cstring>

#include "core/error.h"
#include "core/fileio.h"
#include "core/safetensors.h"

namespace bs {

void save_checkpoint(const std::string& path, const Config& cfg, const Model& model,
                     const Tokenizer& tok, const std::map<std::string, std::string>& extra,
                     const ExtraTensors& tensors) {
  std::vector<StTensorOut> out;
  for (const auto& t : model.tensors()) {
    std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
    out.push_back({t.name, "F32", shape, model.params.data() + t.offset, t.numel * sizeof(float)});
  }
  const std::string& spm = tok.serialized();
  out.push_back({"tokenizer.model", "U8", {int64_t(spm.size())}, spm.data(), spm.size()});
  for (const auto& [name, v] : tensors) {
    BS_CHECK(name.rfind("train.", 0) == 0, name, "extra checkpoint tensors must be named train.*");
    out.push_back({name, "F32", {int64_t(v->size())}, v->data(), v->size() * sizeof(float)});
  }

  // The data hash covers the data section exactly as laid out by safetensors_bytes.
  std::string data;
  for (const auto& t : out) data.append(static_cast<const char*>(t.data), t.bytes);
  std::map<std::string, std::string> meta = extra;
  meta["format"] = "blockscribe-checkpoint";
  meta["format_version"] = std::to_string(kCheckpointVersion);
  meta["config"] = cfg.to_toml();
  meta["tokenizer_hash"] = hex64(tok.hash());
  meta["data_hash"] = hex64(hash64(data));
  write_file_atomic(path, safetensors_bytes(out, meta));
}

Checkpoint load_checkpoint(const std::string& path) {
  SafeTensors st = parse_safetensors(read_file(path), path);
  auto meta = [&](const std::string& k) -> const std::string& {
    auto it = st.metadata.find(k);
    if (it == st.metadata.end())
      throw Error(path, "not a blockscribe checkpoint (metadata '" + k + "' missing)");
    return it->second;
  };
  if (meta("format") != "blockscribe-checkpoint")
    throw Error(path, "not a blockscribe checkpoint (format '" + meta("format") + "')");
  int version = 0;
  try {
    version = std::stoi(meta("format_version"));
  } catch (const std::exception&) {
    throw Error(path, "corrupt checkpoint: format_version is not a number");
  }
  if (version > kCheckpointVersion)
    throw Error(path, "checkpoint format version " + std::to_string(version) +
                          ", this build reads " + std::to_string(kCheckpointVersion) +
                          ": upgrade blockscribe");
  if (version < kCheckpointVersion)
    throw Error(path, "checkpoint format version " + std::to_string(version) +
                          " is too old (this build reads " + std::to_string(kCheckpointVersion) +
                          "): retrain or convert it");
  if (hex64(hash64(st.data_section)) != meta("data_hash"))
    throw Error(path, "corrupt checkpoint: data checksum mismatch (file damaged or edited)");

  Checkpoint ck;
  ck.metadata = st.metadata;
  ck.config.load_string(meta("config"), path + " (metadata config)");
  ck.config.validate();
  ck.model = std::make_unique<Model>(ck.config.model);
  for (const auto& t : ck.model->tensors()) {
    auto it = st.tensors.find(t.name);
    if (it == st.tensors.end()) throw Error(path, "tensor '" + t.name + "' missing");
    const StTensorIn& in = it->second;
    std::vector<int64_t> want(t.shape.begin(), t.shape.end());
    if (in.dtype != "F32" || in.shape != want)
      throw Error(path, "tensor '" + t.name + "' has the wrong dtype or shape for the config");
    std::memcpy(ck.model->params.data() + t.offset, in.data.data(), in.data.size());
  }
  for (const auto& [name, in] : st.tensors) {
    if (name.rfind("train.", 0) == 0) {
      if (in.dtype != "F32") throw Error(path, "tensor '" + name + "' must be F32");
      std::vector<float> v(in.data.size() / sizeof(float));
      std::memcpy(v.data(), in.data.data(), v.size() * sizeof(float));
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
