// A generation session on disk: one RocksDB directory (docs/SESSIONS.md).
//
// Column families (keys of per-block families are big-endian block numbers, so they sort):
//   meta       format version, model/tokenizer hashes, model path, generation settings, prompt
//              queue, token budget, declared facts; and, rewritten with every block, the
//              committed block count, pending UTF-8 bytes, end flag, the entity tracker's
//              unfinished sentence and the latest events the header shows
//   blocks     per block: JSON (memory/codec.h encode_block)
//   summaries  per block: K·C float32 (little-endian) memory vectors
//   entities   per entity id (big-endian): JSON entity (encode_entity)
//   timeline   per block: JSON array of events (encode_events)
// Every committed block is ONE synced WriteBatch over all families, so after a crash at any moment
// the session holds exactly the blocks committed before it, and nothing of a later one.
//
// The directory also holds BLOCKSCRIBE_SESSION, a marker written first at creation, and
// BLOCKSCRIBE_COMMITTED, the committed block count, rewritten after every commit. Opening checks
// the marker before RocksDB sees the directory (a foreign directory is refused without being
// modified), holds an exclusive flock on it (a second process gets "session is in use"), and
// validates read-only: the write-ahead log replayed with damaged records an error, every table
// block's checksum verified before anything is parsed, the committed count matched (a log that
// lost committed blocks is refused, naming what is missing). Only begin_writing() opens the
// database for writing, so a session refused for any reason — damage, or a caller's check such
// as another model — is left byte for byte as it was. RocksDB statuses become bs::Error here;
// nothing outside this file sees a rocksdb type.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "blocks/generator.h"
#include "memory/entities.h"

namespace bs {

// 2: settings by name in one record, the header's latest events in the state (1 stored the whole
// config and enum ordinals, and rebuilt the events, so a resumed header could differ).
constexpr int kSessionFormat = 2;

struct SessionMeta {
  int format_version = kSessionFormat;
  std::string model_hash;      // the checkpoint's data_hash
  std::string tokenizer_hash;  // hex
  std::string model_path;      // where the model was loaded from (resume's default)
  GenOptions options;          // the generation settings (options.ops is not stored)
  int blocks = 0;              // blocks a run writes by default (resume without --blocks)
  std::vector<int> queue;      // <s> + prompt/template tokens (mask id = open position)
  int64_t token_limit = 0;     // 0 = none
  std::vector<Event> facts;    // the plan's declared facts
};

// Progress state written with every block (read back by resume): with the stored blocks,
// summaries and entities, everything the next block depends on.
struct SessionState {
  int blocks = 0;             // committed blocks
  std::string pending;        // UTF-8 bytes not yet printed (a character split across blocks)
  bool ended = false;         // the document ended
  std::string carry;          // text of the sentence the entity tracker has not finished reading
  std::vector<Event> recent;  // DocumentMemory::recent: the latest events, the header shows some
};

class SessionStore {
 public:
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Creates a new session in dir (which must not exist, or be empty), with the declared entities
  // (ids 0, 1, ...). Throws bs::Error.
  static std::unique_ptr<SessionStore> create(const std::string& dir, const SessionMeta& meta,
                                              const std::vector<Entity>& entities = {});
  // Opens an existing session, locked for this process and validated, but read-only until
  // begin_writing(). Throws bs::Error naming dir (or the damaged file) for: missing, foreign or
  // damaged directory, other format, in use by another process.
  static std::unique_ptr<SessionStore> open(const std::string& dir);
  // Reopens a session from open() for writing (commit). The first write to the directory.
  void begin_writing();
  // Same, read-only (inspection): no lock, nothing written.
  static std::unique_ptr<SessionStore> open_read_only(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const SessionMeta& meta() const { return meta_; }
  const SessionState& state() const { return state_; }

  // One synced batch: the block with its summary, the entities it changed, its timeline events,
  // and the new state. Blocks must be committed in order.
  void commit(const Block& b, const std::vector<Entity>& changed, const std::vector<Event>& events,
              const SessionState& next);

  Block block(int index) const;            // with its summary; throws when missing or corrupt
  std::vector<Entity> entities() const;    // ids 0, 1, ... in order
  std::vector<Event> timeline(int index) const;  // the block's events (none: empty)
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
