#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fileio.h"
#include "text/utf8.h"

namespace bs {
namespace {

size_t dtype_size(const std::string& dt) {
  if (dt == "F32" || dt == "I32" || dt == "U32") return 4;
  if (dt == "F16" || dt == "BF16" || dt == "I16" || dt == "U16") return 2;
  if (dt == "U8" || dt == "I8" || dt == "BOOL") return 1;
  if (dt == "F64" || dt == "I64" || dt == "U64") return 8;
  return 0;
}

}  // namespace

std::string safetensors_bytes(const std::vector<StTensorOut>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t off = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes}}};
    off += t.bytes;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // align the data section
  std::string out;
  out.reserve(8 + h.size() + off);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  out += h;
  for (const auto& t : tensors) out.append(static_cast<const char*>(t.data), t.bytes);
  return out;
}

SafeTensors parse_safetensors(std::string blob, const std::string& origin) {
  SafeTensors st;
  st.blob = std::move(blob);
  const std::string& b = st.blob;
  if (b.size() < 8) throw Error(origin, "truncated: shorter than the 8-byte safetensors header");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(b[i])) << (8 * i);
  if (n > b.size() - 8 || n > (100u << 20))
    throw Error(origin, "not a safetensors file or truncated (header length " + std::to_string(n) +
                            " exceeds the file)");
  std::string_view hdr(b.data() + 8, n);
  if (!valid_utf8(hdr)) throw Error(origin, "corrupt safetensors header (invalid UTF-8)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(hdr);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin, "corrupt safetensors header (not JSON)");
  }
  if (!j.is_object()) throw Error(origin, "corrupt safetensors header (not a JSON object)");
  st.data_section = std::string_view(b.data() + 8 + n, b.size() - 8 - n);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error(origin, "corrupt safetensors metadata");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error(origin, "metadata value '" + m.key() + "' is not a string");
        st.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& why) { throw Error(origin, "tensor '" + name + "': " + why); };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      bad("entry lacks dtype, shape or data_offsets");
    if (!v["dtype"].is_string()) bad("dtype is not a string");
    StTensorIn t;
    t.dtype = v["dtype"].get<std::string>();
    size_t es = dtype_size(t.dtype);
    if (es == 0) bad("unknown dtype " + t.dtype);
    if (!v["shape"].is_array()) bad("shape is not an array");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) bad("shape holds a non-integer or negative value");
      uint64_t x = d.get<uint64_t>();
      if (x != 0 && numel > (uint64_t(1) << 40) / x) bad("shape too large");
      numel *= x;
      t.shape.push_back(int64_t(x));
    }
    const auto& o = v["data_offsets"];
    if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
      bad("data_offsets must be two non-negative integers");
    uint64_t a = o[0].get<uint64_t>(), e = o[1].get<uint64_t>();
    if (a > e || e > st.data_section.size())
      bad("data lies outside the file (truncated? data section has " +
          std::to_string(st.data_section.size()) + " bytes, tensor ends at " + std::to_string(e) + ")");
    if (e - a != numel * es) bad("data size does not match shape and dtype");
    t.data = st.data_section.substr(a, e - a);
    spans.push_back({a, e});
    st.tensors.emplace(name, std::move(t));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second) throw Error(origin, "corrupt: tensor data overlaps");
  return st;
}

}  // namespace bs
