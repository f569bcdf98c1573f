// Minimal, strict .safetensors reader and writer.
//
// Layout: u64 little-endian N, then N bytes of UTF-8 JSON header
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "string value", ...}}
// then the data section; offsets are relative to its start. The reader validates everything
// (sizes, offsets in bounds and non-overlapping, dtype sizes) and throws bs::Error naming the
// file, so a truncated or corrupt file is refused, never read out of bounds.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bs {

struct StTensorOut {
  std::string name;
  std::string dtype;            // "F32" or "U8"
  std::vector<int64_t> shape;
  const void* data;
  size_t bytes;
};

struct StTensorIn {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string_view data;        // into SafeTensors::blob
};

struct SafeTensors {
  std::string blob;             // whole file
  std::map<std::string, std::string> metadata;
  std::map<std::string, StTensorIn> tensors;
  std::string_view data_section;
};

// Serialises to bytes (tensors in the given order, 8-byte aligned data).
std::string safetensors_bytes(const std::vector<StTensorOut>& tensors,
                              const std::map<std::string, std::string>& metadata);

// Parses bytes read from `origin` (a file name, used in errors).
SafeTensors parse_safetensors(std::string blob, const std::string& origin);

}  // namespace bs
