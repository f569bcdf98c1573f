#include "corpus/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/fileio.h"

namespace bs {

static_assert(std::endian::native == std::endian::little,
              "shards are little-endian; this build would need byte swapping");

namespace {

constexpr size_t kHeader = 24;

// Bytes before the trailing hash.
size_t body_size(size_t n_docs, uint64_t n_tokens) {
  return kHeader + 8 * (n_docs + 1) + 2 * size_t(n_tokens);
}

}  // namespace

void ShardWriter::add(std::span<const int> tokens) {
  BS_CHECK(num_docs() < UINT32_MAX, "shard", "more than 2^32-1 documents");
  // Check everything before appending, so a refused document leaves the writer unchanged.
  for (int t : tokens)
    if (t < 0 || t > 65535)
      throw Error("shard document " + std::to_string(num_docs()),
                  "token id " + std::to_string(t) +
                      " does not fit in 16 bits (shards hold vocabularies up to 65536)");
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  offsets_.push_back(tokens_.size());
}

std::string ShardWriter::bytes() const {
  const size_t n_docs = num_docs();
  const uint64_t n_tok = num_tokens();
  std::string out(body_size(n_docs, n_tok) + 8, '\0');
  char* p = out.data();
  uint32_t version = kShardVersion, nd = uint32_t(n_docs);
  std::memcpy(p, kShardMagic, 8);
  std::memcpy(p + 8, &version, 4);
  std::memcpy(p + 12, &nd, 4);
  std::memcpy(p + 16, &n_tok, 8);
  std::memcpy(p + kHeader, offsets_.data(), 8 * offsets_.size());
  if (n_tok > 0) {  // (empty vectors may hand out a null data())
    std::memcpy(p + kHeader + 8 * offsets_.size(), tokens_.data(), 2 * n_tok);
  }
  uint64_t h = hash64(std::string_view(out.data(), out.size() - 8));
  std::memcpy(p + out.size() - 8, &h, 8);
  return out;
}

void ShardWriter::write(const std::string& path) const { write_file_atomic(path, bytes()); }

// ---------------------------------------------------------------------------------------------

ShardReader ShardReader::open(const std::string& path) {
  ShardReader r;
  r.path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(path, errno == ENOENT ? "shard file not found"
                                      : std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(path, std::string("cannot stat: ") + std::strerror(e));
  }
  const size_t size = size_t(st.st_size);
  const std::string hint = "; rebuild it with `blockscribe corpus prepare`";
  if (size < kHeader + 8 + 8) {
    ::close(fd);
    throw Error(path, "truncated shard (" + std::to_string(size) + " bytes)" + hint);
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw Error(path, std::string("cannot map: ") + std::strerror(errno));
  r.map_ = m;
  r.map_size_ = size;
  const char* p = static_cast<const char*>(m);
  if (std::memcmp(p, kShardMagic, 8) != 0) {
    throw Error(path, "not a blockscribe token shard (bad magic)" + hint);
  }
  uint32_t version, nd;
  uint64_t nt;
  std::memcpy(&version, p + 8, 4);
  std::memcpy(&nd, p + 12, 4);
  std::memcpy(&nt, p + 16, 8);
  if (version != kShardVersion) {
    throw Error(path, "shard version " + std::to_string(version) + ", this build reads " +
                          std::to_string(kShardVersion) + hint);
  }
  // Sizes from the header must match the file exactly (guarding against overflow first).
  if (nt > (uint64_t(1) << 40) || uint64_t(nd) * 8 > size) {
    throw Error(path, "corrupt shard header (" + std::to_string(nd) + " documents, " +
                          std::to_string(nt) + " tokens)" + hint);
  }
  const size_t expect = body_size(nd, nt) + 8;
  if (size != expect) {
    throw Error(path, (size < expect ? "truncated shard: " : "shard has trailing bytes: ") +
                          std::to_string(size) + " bytes, header says " + std::to_string(expect) +
                          hint);
  }
  uint64_t stored;
  std::memcpy(&stored, p + size - 8, 8);
  if (hash64(std::string_view(p, size - 8)) != stored) {
    throw Error(path, "corrupt shard: checksum mismatch" + hint);
  }
  r.n_docs_ = nd;
  r.n_tokens_ = nt;
  r.offsets_ = reinterpret_cast<const uint64_t*>(p + kHeader);
  r.tokens_ = reinterpret_cast<const uint16_t*>(p + kHeader + 8 * (size_t(nd) + 1));
  if (r.offsets_[0] != 0 || r.offsets_[nd] != nt) {
    throw Error(path, "corrupt shard: document offsets do not span the tokens" + hint);
  }
  for (size_t d = 0; d < nd; ++d) {
    uint64_t lo = r.offsets_[d], hi = r.offsets_[d + 1];
    if (hi < lo || hi > nt) {
      throw Error(path, "corrupt shard: offsets of document " + std::to_string(d) + hint);
    }
  }
  for (uint64_t t = 0; t < nt; ++t) r.max_token_ = std::max(r.max_token_, r.tokens_[t]);
  return r;
}

ShardDoc ShardReader::doc(size_t i) const {
  if (i >= n_docs_) {
    throw Error(path_, "document " + std::to_string(i) + " out of range (" +
                           std::to_string(n_docs_) + " documents)");
  }
  size_t lo = size_t(offsets_[i]), n = size_t(offsets_[i + 1] - offsets_[i]);
  return {{tokens_ + lo, n}};
}

uint64_t ShardReader::file_hash() const {
  return hash64(std::string_view(static_cast<const char*>(map_), map_size_));
}

void ShardReader::release() {
  if (map_) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

ShardReader::ShardReader(ShardReader&& o) noexcept { *this = std::move(o); }

ShardReader& ShardReader::operator=(ShardReader&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    map_ = o.map_;
    map_size_ = o.map_size_;
    n_docs_ = o.n_docs_;
    n_tokens_ = o.n_tokens_;
    offsets_ = o.offsets_;
    tokens_ = o.tokens_;
    max_token_ = o.max_token_;
    o.map_ = nullptr;
    o.map_size_ = 0;
  }
  return *this;
}

ShardReader::~ShardReader() { release(); }

}  // namespace bs
