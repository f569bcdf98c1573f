#include "memory/session_store.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/fileio.h"
#include "memory/codec.h"

namespace bs {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = "BLOCKSCRIBE_SESSION";
// The committed block count, outside RocksDB: rewritten (atomically) after every commit, so a
// session whose write-ahead log lost committed blocks is told apart from one that has fewer.
constexpr const char* kCommitted = "BLOCKSCRIBE_COMMITTED";
// "default" spelled out: rocksdb::kDefaultColumnFamilyName is a global of the library and may not
// be constructed yet when this table is.
const std::vector<std::string> kFamilies = {"default",   "meta",     "blocks",
                                            "summaries", "entities", "timeline"};
enum Cf { kDefault, kMeta, kBlocks, kSummaries, kEntities, kTimeline };

// RocksDB writes an info LOG into the directory by default; sessions keep only their data (and a
// refused directory must not gain a file).
class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

std::string be32(uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  return std::string(b, 4);
}

std::string ints_bytes(const std::vector<int>& v) {
  std::string s(v.size() * 4, '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}

std::vector<int> bytes_ints(const std::string& s) {
  std::vector<int> v(s.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

rocksdb::Options db_options(bool create) {
  rocksdb::Options o;
  o.create_if_missing = create;
  o.create_missing_column_families = create;
  o.info_log = std::make_shared<NullLogger>();
  o.paranoid_checks = true;
  // Every committed block was synced, so only the record being written when a process died can
  // be cut short: a damaged record before it is an error, not a tail to drop. (A log cut at a
  // record boundary, or deleted, still reads as a shorter history: the committed count kept
  // outside the log catches that, see check_committed.)
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.max_manifest_file_size = 4 << 20;
  o.keep_log_file_num = 1;
  // No table files, ever: the memtables are never flushed (not at open, not at close, not when
  // full: a session is a few MiB), so every byte of a session lives in its write-ahead logs,
  // whose records RocksDB checksums and reads without asserting. A damaged table block, by
  // contrast, could reach the assertions of Debian's RocksDB build before any checksum was
  // compared (a byte-flip sweep found one such byte per table file; tests/slow_session_flips).
  // The cost: each open replays the logs (measured in docs/BENCHMARKS.md).
  o.avoid_flush_during_recovery = true;
  o.avoid_flush_during_shutdown = true;
  o.max_total_wal_size = uint64_t(1) << 40;
  o.disable_auto_compactions = true;
  o.write_buffer_size = size_t(1) << 30;
  o.arena_block_size = 64 << 10;  // memtable memory grows in small steps, not in 128 MiB ones
  return o;
}

}  // namespace

struct SessionStore::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;
  int lock_fd = -1;
  bool read_only = false;

  ~Impl() { close(); }
  void close() {
    if (db) {
      for (auto* h : cf) db->DestroyColumnFamilyHandle(h);
      cf.clear();
      db->Close();
      db.reset();
    }
    if (lock_fd >= 0) {
      ::close(lock_fd);  // releases the flock
      lock_fd = -1;
    }
  }
  std::optional<std::string> get(Cf f, const std::string& key, const std::string& dir) const {
    std::string v;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf[f], key, &v);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) throw Error(dir, "cannot read the session: " + s.ToString());
    return v;
  }
};

SessionStore::SessionStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SessionStore::~SessionStore() = default;

namespace {

// Opens the database with every family; returns the status.
rocksdb::Status open_db(const std::string& dir, bool create, bool read_only,
                        std::unique_ptr<rocksdb::DB>& db,
                        std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  const rocksdb::ColumnFamilyOptions cf_options(db_options(create));  // the same for every family
  for (const auto& n : kFamilies) cfs.emplace_back(n, cf_options);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(db_options(false), dir, cfs, &handles, &raw)
                : rocksdb::DB::Open(db_options(create), dir, cfs, &handles, &raw);
  db.reset(raw);
  return s;
}

// Exclusive advisory lock on the marker: one writer per session.
int lock_marker(const std::string& dir) {
  const std::string path = (fs::path(dir) / kMarker).string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error(dir, std::string("cannot open the session marker: ") + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK)
      throw Error(dir, "session is in use by another process (wait for it to finish)");
    throw Error(dir, std::string("cannot lock the session: ") + std::strerror(e));
  }
  return fd;
}

// The marker's format version; throws for a directory that is not a session.
int check_marker(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(dir, "no such session directory");
  if (!fs::is_directory(dir, ec)) throw Error(dir, "is not a directory");
  const fs::path marker = fs::path(dir) / kMarker;
  if (!fs::exists(marker, ec))
    throw Error(dir, "is not a blockscribe session (no " + std::string(kMarker) +
                         " file); it was left untouched");
  const std::string text = read_file(marker.string());
  int version = 0;
  if (std::sscanf(text.c_str(), "blockscribe-session format %d", &version) != 1 || version < 1)
    throw Error(marker.string(),
                "is corrupt (not a session marker); the session was left untouched");
  if (version > kSessionFormat)
    throw Error(dir, "was written by a newer blockscribe (session format " +
                         std::to_string(version) + ", this build reads up to " +
                         std::to_string(kSessionFormat) + "); upgrade blockscribe to continue it");
  return version;
}

// "blockscribe-committed N check H": H = hex64(hash64("N")), so a damaged file is noticed.
std::string committed_text(int n) {
  const std::string v = std::to_string(n);
  return "blockscribe-committed " + v + " check " + hex64(hash64(v)) + "\n";
}

// The committed count of dir's BLOCKSCRIBE_COMMITTED.
int read_committed(const std::string& dir) {
  const fs::path p = fs::path(dir) / kCommitted;
  std::error_code ec;
  if (!fs::exists(p, ec))
    throw Error(dir, "is damaged: " + std::string(kCommitted) +
                         " (the committed block count) is missing; it was left untouched");
  const std::string text = read_file(p.string());
  char num[32] = {0}, check[32] = {0};
  if (std::sscanf(text.c_str(), "blockscribe-committed %31s check %31s", num, check) != 2 ||
      hex64(hash64(num)) != check || committed_text(std::atoi(num)) != text)
    throw Error(p.string(), "is damaged (not a committed block count); the session was left "
                            "untouched");
  return std::atoi(num);
}

// The .log files of dir, for messages.
std::string log_files(const std::string& dir) {
  std::string out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".log")
      out += (out.empty() ? "" : ", ") + e.path().filename().string();
  return out.empty() ? "none is left" : out;
}

// Validates the session without writing a byte: the read-only open replays the write-ahead log
// (a damaged record is an error), every table block's checksum is verified before anything is
// parsed (a damaged table must never reach RocksDB's block parser, which asserts), and the
// committed count must be there. Throws bs::Error naming the file and the damage.
void validate_read_only(const std::string& dir, std::unique_ptr<rocksdb::DB>& db,
                        std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
  rocksdb::Status s = open_db(dir, false, true, db, cf);
  if (!s.ok())
    throw Error(dir, "is damaged (" + s.ToString() + "; write-ahead logs: " + log_files(dir) +
                         "); it was left untouched");
  s = db->VerifyChecksum();
  if (!s.ok()) throw Error(dir, "is damaged (" + s.ToString() + "); it was left untouched");
}

// The database's committed block count against BLOCKSCRIBE_COMMITTED: the database may be one
// ahead (a process died between its commit and the count's rewrite), never behind.
void check_committed(const std::string& dir, int db_blocks) {
  const int committed = read_committed(dir);
  if (db_blocks < committed)
    throw Error(dir, "is damaged: " + std::to_string(committed) +
                         " blocks were committed but only " + std::to_string(db_blocks) +
                         " can be read; blocks " + std::to_string(db_blocks) + ".." +
                         std::to_string(committed - 1) +
                         " are missing (the write-ahead log is damaged or missing; logs: " +
                         log_files(dir) + "); it was left untouched");
  if (db_blocks > committed + 1)
    throw Error(dir, "is damaged: it holds " + std::to_string(db_blocks) + " blocks but " +
                         kCommitted + " says " + std::to_string(committed) +
                         "; it was left untouched");
}

}  // namespace

std::unique_ptr<SessionStore> SessionStore::create(const std::string& dir, const SessionMeta& meta,
                                                   const std::vector<Entity>& entities) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) throw Error(dir, "exists and is not a directory");
    if (!fs::is_empty(dir, ec))
      throw Error(dir,
                  "already exists and is not empty (continue a session with `blockscribe "
                  "resume --session " +
                      dir + "`, or choose a new directory)");
  }
  // Built in a sibling directory and renamed into place: a crash during creation leaves no
  // half-made session at dir (at most a stray "<dir>.creating-PID" beside it, removed by the
  // next creation once that process is gone).
  const fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  remove_stale(target.parent_path().string(), target.filename().string() + ".creating-");
  const fs::path tmp = target.parent_path() /
                       (target.filename().string() + ".creating-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw Error(dir, "cannot create the session directory: " + ec.message());
  struct Cleanup {
    fs::path dir;
    bool armed = true;
    ~Cleanup() {
      std::error_code e;
      if (armed) fs::remove_all(dir, e);
    }
  } cleanup{tmp};
  write_file_atomic((tmp / kMarker).string(),
                    "blockscribe-session format " + std::to_string(kSessionFormat) + "\n");
  write_file_atomic((tmp / kCommitted).string(), committed_text(0));
  {
    Impl impl;
    rocksdb::Status s = open_db(tmp.string(), true, false, impl.db, impl.cf);
    if (!s.ok()) throw Error(dir, "cannot create the session database: " + s.ToString());
    rocksdb::WriteBatch b;
    auto put = [&](const char* k, const std::string& v) { b.Put(impl.cf[kMeta], k, v); };
    put("format_version", std::to_string(kSessionFormat));
    put("model_hash", meta.model_hash);
    put("tokenizer_hash", meta.tokenizer_hash);
    put("model_path", meta.model_path);
    put("settings", encode_settings(meta.options, meta.blocks).dump());
    put("queue", ints_bytes(meta.queue));
    put("token_limit", std::to_string(meta.token_limit));
    put("facts", encode_events(meta.facts).dump());
    put("blocks", "0");
    put("pending", "");
    put("ended", "0");
    put("carry", "");
    put("recent", "[]");
    for (const Entity& e : entities)
      b.Put(impl.cf[kEntities], be32(uint32_t(e.id)), encode_entity(e).dump());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = impl.db->Write(wo, &b);
    if (!s.ok()) throw Error(dir, "cannot write the session: " + s.ToString());
  }                             // closed: RocksDB must not keep writing under the temporary name
  fs::rename(tmp, target, ec);  // replaces an empty dir atomically
  if (ec) throw Error(dir, "cannot move the new session into place: " + ec.message());
  cleanup.armed = false;
  auto st = open(dir);
  st->begin_writing();
  return st;
}

std::unique_ptr<SessionStore> SessionStore::open(const std::string& dir) {
  check_marker(dir);
  auto impl = std::make_unique<Impl>();
  impl->lock_fd = lock_marker(dir);
  impl->read_only = true;  // until begin_writing(): nothing is written before then
  validate_read_only(dir, impl->db, impl->cf);
  std::unique_ptr<SessionStore> st(new SessionStore(std::move(impl)));
  st->dir_ = dir;
  st->load();
  check_committed(dir, st->state_.blocks);
  return st;
}

void SessionStore::begin_writing() {
  BS_CHECK(impl_->lock_fd >= 0, dir_, "opened for inspection only (open() takes the lock)");
  if (!impl_->read_only) return;
  for (auto* h : impl_->cf) impl_->db->DestroyColumnFamilyHandle(h);
  impl_->cf.clear();
  impl_->db->Close();
  impl_->db.reset();
  remove_stale(dir_, std::string(kCommitted) + ".tmp-");  // left by a process that died
  rocksdb::Status s = open_db(dir_, false, false, impl_->db, impl_->cf);
  if (!s.ok()) throw Error(dir_, "cannot open the session for writing: " + s.ToString());
  impl_->read_only = false;
  if (read_committed(dir_) != state_.blocks)  // one behind after a crash: bring it up to date
    write_file_atomic((fs::path(dir_) / kCommitted).string(), committed_text(state_.blocks));
}

std::unique_ptr<SessionStore> SessionStore::open_read_only(const std::string& dir) {
  check_marker(dir);
  auto impl = std::make_unique<Impl>();
  impl->read_only = true;
  validate_read_only(dir, impl->db, impl->cf);
  std::unique_ptr<SessionStore> st(new SessionStore(std::move(impl)));
  st->dir_ = dir;
  st->load();
  check_committed(dir, st->state_.blocks);
  return st;
}

void SessionStore::load() {
  auto need = [&](const char* k) {
    auto v = impl_->get(kMeta, k, dir_);
    if (!v) throw Error(dir_, std::string("is a corrupt session (meta '") + k + "' missing)");
    return *v;
  };
  auto number = [&](const char* k) {
    const std::string v = need(k);
    char* end = nullptr;
    errno = 0;
    const long long n = v.empty() ? -1 : std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || n < 0)
      throw Error(dir_, std::string("is a corrupt session (meta '") + k + "' is not a number)");
    return int64_t(n);
  };
  meta_.format_version = int(std::min<int64_t>(number("format_version"), INT32_MAX));
  if (meta_.format_version != kSessionFormat)
    throw Error(dir_, "is a session of format " + std::to_string(meta_.format_version) +
                          "; this build reads format " + std::to_string(kSessionFormat) +
                          (meta_.format_version > kSessionFormat
                               ? " (upgrade blockscribe)"
                               : " (an older blockscribe wrote it; it cannot be continued)"));
  meta_.model_hash = need("model_hash");
  meta_.tokenizer_hash = need("tokenizer_hash");
  meta_.model_path = need("model_path");
  meta_.options = decode_settings(parse_json(need("settings"), dir_ + " settings"), meta_.blocks,
                                  dir_ + " settings");
  meta_.queue = bytes_ints(need("queue"));
  meta_.token_limit = number("token_limit");
  meta_.facts = decode_events(parse_json(need("facts"), dir_ + " facts"), dir_ + " facts");
  const int64_t blocks = number("blocks");
  if (blocks > INT32_MAX) throw Error(dir_, "is a corrupt session (meta 'blocks' out of range)");
  state_.blocks = int(blocks);
  state_.pending = need("pending");
  const std::string ended = need("ended");
  if (ended != "0" && ended != "1") throw Error(dir_, "is a corrupt session (meta 'ended')");
  state_.ended = ended == "1";
  state_.carry = need("carry");
  state_.recent = decode_events(parse_json(need("recent"), dir_ + " recent events"),
                                dir_ + " recent events");
}

void SessionStore::commit(const Block& b, const std::vector<Entity>& changed,
                          const std::vector<Event>& events, const SessionState& next) {
  BS_CHECK(!impl_->read_only, dir_, "not open for writing (begin_writing)");
  BS_CHECK(b.index == state_.blocks && next.blocks == b.index + 1, dir_,
           "blocks must be committed in order");
  rocksdb::WriteBatch batch;
  const std::string key = be32(uint32_t(b.index));
  batch.Put(impl_->cf[kBlocks], key, encode_block(b).dump());
  if (!b.summary.empty())
    batch.Put(impl_->cf[kSummaries], key,
              rocksdb::Slice(reinterpret_cast<const char*>(b.summary.data()),
                             b.summary.size() * sizeof(float)));
  for (const Entity& e : changed)
    batch.Put(impl_->cf[kEntities], be32(uint32_t(e.id)), encode_entity(e).dump());
  batch.Put(impl_->cf[kTimeline], key, encode_events(events).dump());
  batch.Put(impl_->cf[kMeta], "blocks", std::to_string(next.blocks));
  batch.Put(impl_->cf[kMeta], "pending", next.pending);
  batch.Put(impl_->cf[kMeta], "ended", next.ended ? "1" : "0");
  batch.Put(impl_->cf[kMeta], "carry", next.carry);
  batch.Put(impl_->cf[kMeta], "recent", encode_events(next.recent).dump());
  rocksdb::WriteOptions wo;
  wo.sync = true;  // durable before the block is shown to anyone
  rocksdb::Status s = impl_->db->Write(wo, &batch);
  if (!s.ok())
    throw Error(dir_, "cannot commit block " + std::to_string(b.index) + ": " + s.ToString());
  write_file_atomic((fs::path(dir_) / kCommitted).string(), committed_text(next.blocks));
  state_ = next;
}

Block SessionStore::block(int index) const {
  const std::string key = be32(uint32_t(index));
  auto v = impl_->get(kBlocks, key, dir_);
  if (!v) throw Error(dir_, "block " + std::to_string(index) + " is not in the session");
  const std::string origin = dir_ + " block " + std::to_string(index);
  Block b = decode_block(parse_json(*v, origin), origin);
  if (b.index != index) throw Error(origin, "is stored under another block number");
  if (auto s = impl_->get(kSummaries, key, dir_)) {
    if (s->size() % sizeof(float) != 0) throw Error(origin, "has a summary of odd size");
    b.summary.resize(s->size() / sizeof(float));
    std::memcpy(b.summary.data(), s->data(), s->size());
  }
  return b;
}

std::vector<Entity> SessionStore::entities() const {
  std::vector<Entity> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[kEntities]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != 4) throw Error(dir_, "is a corrupt session (bad entity key)");
    const auto* p = reinterpret_cast<const unsigned char*>(k.data());
    const int id =
        int((uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]);
    const std::string origin = dir_ + " entity " + std::to_string(id);
    Entity e = decode_entity(parse_json(it->value().ToString(), origin), origin);
    if (e.id != id || id != int(out.size()))
      throw Error(origin, "is stored out of order (entity ids must be 0, 1, ...)");
    out.push_back(std::move(e));
  }
  if (!it->status().ok()) throw Error(dir_, "cannot read entities: " + it->status().ToString());
  return out;
}

std::vector<Event> SessionStore::timeline(int index) const {
  auto v = impl_->get(kTimeline, be32(uint32_t(index)), dir_);
  if (!v) return {};
  const std::string origin = dir_ + " timeline of block " + std::to_string(index);
  return decode_events(parse_json(*v, origin), origin);
}

uint64_t SessionStore::disk_bytes() const {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir_, ec))
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  return n;
}

}  // namespace bs
