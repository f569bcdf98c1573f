// A generation session on disk: one RocksDB directory (docs/SESSIONS.md).
//
// Column families (keys of per-block families are big-endian block numbers, so they sort):
//   meta       format version, model/tokenizer hashes, model path, config, generation options,
//              prompt queue, token budget, declared facts, committed block count, pending UTF-8
//              bytes, end flag, the entity tracker's unfinished sentence
//   blocks     per block: JSON {tokens, text, generated, steps, seconds, end}
//   summaries  per block: K·C float32 (little-endian) memory vectors
//   entities   per entity id (big-endian): JSON entity record (memory/entities.h)
//   timeline   per block: JSON array of events
// Every committed block is ONE synced WriteBatch over all families, so after a crash at any moment
// the session holds exactly the blocks committed before it, and nothing of a later one.
//
// The directory also holds BLOCKSCRIBE_SESSION, a marker written first at creation. Opening checks
// it before RocksDB sees the directory (a foreign or corrupt directory is refused without being
// modified), holds an exclusive flock on it (a second process gets "session is in use"), validates
// the database read-only, and only then opens it for writing. RocksDB statuses become bs::Error
// here; nothing outside this file sees a rocksdb type.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bs {

constexpr int kSessionFormat = 1;

struct SessionMeta {
  int format_version = kSessionFormat;
  std::string model_hash;      // the checkpoint's data_hash
  std::string tokenizer_hash;  // hex
  std::string model_path;      // where the model was loaded from (resume's default)
  std::string config;          // TOML of the whole config used
  std::string options;         // JSON of the generation options (seed, strategy, ...)
  std::vector<int> queue;      // <s> + prompt/template tokens (mask id = open position)
  int64_t token_limit = 0;     // 0 = none
  std::string facts;           // JSON array of the plan's declared facts ("[]" = none)
};

// Everything about one committed block.
struct BlockRecord {
  int index = 0;
  std::vector<int> tokens;
  std::string text;
  int generated = 0, steps = 0;
  double seconds = 0;
  bool end = false;
  std::vector<float> summary;  // (K·C), empty when the memory mode keeps none
};

// Progress state written with every block (read back by resume).
struct SessionState {
  int blocks = 0;       // committed blocks
  std::string pending;  // UTF-8 bytes not yet printed (a character split across blocks)
  bool ended = false;   // the document ended
  std::string carry;    // text of the sentence the entity tracker has not finished reading
};

class SessionStore {
 public:
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Creates a new session in dir (which must not exist, or be empty), with the declared entities
  // (id -> JSON). Throws bs::Error.
  static std::unique_ptr<SessionStore> create(const std::string& dir, const SessionMeta& meta,
                                              const std::map<int, std::string>& entities = {});
  // Opens an existing session for writing. Throws bs::Error naming dir for: missing, foreign or
  // corrupt directory, newer format, in use by another process.
  static std::unique_ptr<SessionStore> open(const std::string& dir);
  // Same, read-only (inspection): no lock, nothing written.
  static std::unique_ptr<SessionStore> open_read_only(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const SessionMeta& meta() const { return meta_; }
  const SessionState& state() const { return state_; }

  // One synced batch: the block, its summary, changed entity records (id -> JSON), the block's
  // timeline events (JSON array), and the new state. Blocks must be committed in order.
  void commit(const BlockRecord& b, const std::map<int, std::string>& entities,
              const std::string& timeline_json, const SessionState& next);

  BlockRecord block(int index) const;           // throws when missing
  std::map<int, std::string> entities() const;  // id -> JSON
  std::string timeline(int index) const;        // JSON array ("[]" when none)
  // Approximate bytes on disk of the whole directory.
  uint64_t disk_bytes() const;

 private:
  struct Impl;
  explicit SessionStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string dir_;
  SessionMeta meta_;
  SessionState state_;
  void load();
};

}  // namespace bs
