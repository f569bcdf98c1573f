// Token shards: the tokenized corpus, one file per split (train.bin, val.bin).
//
// File layout, version 2, all integers little-endian (docs/DATA.md has the same table):
//   offset  type                 field
//   0       char[8]              magic "BSSHARD1"
//   8       u32                  version = 2
//   12      u32                  n_docs
//   16      u64                  n_tokens
//   24      u64[n_docs + 1]      doc_offsets: token index where each document starts;
//                                doc_offsets[0] = 0, doc_offsets[n_docs] = n_tokens, non-decreasing
//   A       u16[n_tokens]        token ids (so vocabularies up to 65536 ids)
//   A+2T    u64                  xxh3-64 (bs::hash64) of every byte before it
// where A = 24 + 8*(n_docs+1).
// Documents hold text tokens only: no BOS/EOS, no padding (the trainer adds what it needs), and
// no sentence indices: those come from block_sentence_indices (text/sentences.h) when a document
// is cut into blocks, as generation computes them (version 1 stored whole-document indices).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bs {

inline constexpr char kShardMagic[8] = {'B', 'S', 'S', 'H', 'A', 'R', 'D', '1'};
inline constexpr uint32_t kShardVersion = 2;

// Builds a shard in memory.
class ShardWriter {
 public:
  // Appends one document. Throws bs::Error when an id is outside 0..65535.
  void add(std::span<const int> tokens);
  size_t num_docs() const { return offsets_.size() - 1; }
  uint64_t num_tokens() const { return tokens_.size(); }
  std::string bytes() const;                  // the whole file
  void write(const std::string& path) const;  // atomically (bs::write_file_atomic)

 private:
  std::vector<uint64_t> offsets_{0};
  std::vector<uint16_t> tokens_;
};

struct ShardDoc {
  std::span<const uint16_t> tokens;
};

// A shard file mapped read-only. open() checks magic, version, sizes, the trailing hash and the
// offsets, and throws bs::Error(path, problem) for a truncated or corrupt
// file, so later reads need no checks.
class ShardReader {
 public:
  static ShardReader open(const std::string& path);
  ShardReader(ShardReader&& o) noexcept;
  ShardReader& operator=(ShardReader&& o) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  ~ShardReader();

  const std::string& path() const { return path_; }
  size_t num_docs() const { return n_docs_; }
  uint64_t num_tokens() const { return n_tokens_; }
  size_t doc_tokens(size_t i) const { return size_t(offsets_[i + 1] - offsets_[i]); }
  ShardDoc doc(size_t i) const;  // throws bs::Error on i >= num_docs()
  std::span<const uint16_t> all_tokens() const { return {tokens_, size_t(n_tokens_)}; }
  uint16_t max_token() const { return max_token_; }  // largest id present (0 when empty)
  uint64_t file_hash() const;  // hash64 of the whole file, as manifest.json records it

 private:
  ShardReader() = default;
  void release();
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t n_docs_ = 0;
  uint64_t n_tokens_ = 0;
  const uint64_t* offsets_ = nullptr;
  const uint16_t* tokens_ = nullptr;
  uint16_t max_token_ = 0;
};

}  // namespace bs
