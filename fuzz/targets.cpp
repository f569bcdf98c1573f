#include "fuzz/targets.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fileio.h"
#include "memory/session_store.h"
#include "text/tokenizer.h"

namespace bs::fuzz {

namespace fs = std::filesystem;

namespace {

std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A tokenizer trained once, for the text mode of the tokenizer target and for the session's
// template.
const Tokenizer& small_tokenizer() {
  static const Tokenizer tok = [] {
    std::vector<std::string> docs;
    for (int i = 0; i < 80; ++i)
      docs.push_back("Elizabeth walked to Longbourn on day " + std::to_string(i) + ". She smiled.");
    std::vector<std::string_view> v(docs.begin(), docs.end());
    TokenizerTrainOptions o;
    o.vocab_size = 300;
    return Tokenizer::from_serialized(train_tokenizer(v, o), "fuzz tokenizer");
  }();
  return tok;
}

// The temporary directory of this process's sessions, removed when the process ends.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("bs-fuzz-" + std::to_string(::getpid()));
  ScratchDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A session with three committed blocks, made once per process in a temporary directory: each
// input replaces one of its files in a fresh copy.
const fs::path& template_session() {
  static ScratchDir scratch;
  static const fs::path dir = [] {
    const fs::path root = scratch.path;
    SessionMeta meta;
    meta.queue = {Tokenizer::kBos, 20, 21};
    auto st = SessionStore::create((root / "s").string(), meta);
    st->begin_writing();
    for (int b = 0; b < 3; ++b) {
      Block blk;
      blk.index = b;
      blk.tokens = {20 + b, 21, 22, 3};
      blk.text = "block " + std::to_string(b);
      blk.summary = {0.5f, -1.f};
      Event e;
      e.block = b, e.sentence = "Mr. Darcy came.";
      SessionState next{b + 1, "", false, "", {e}};
      st->commit(blk, {}, {e}, next);
    }
    return root / "s";
  }();
  return dir;
}

}  // namespace

int checkpoint(const uint8_t* data, size_t size) {
  try {
    Checkpoint ck = load_checkpoint_bytes(bytes_of(data, size), "fuzz.safetensors");
    (void)ck;
  } catch (const Error&) {
  }
  return 0;
}

int config(const uint8_t* data, size_t size) {
  try {
    Config c;
    c.load_string(bytes_of(data, size), "fuzz.toml");
    c.validate();
    Config back;
    back.load_string(c.to_toml(), "round trip");
    if (back.to_toml() != c.to_toml()) throw std::logic_error("config does not round-trip");
  } catch (const Error&) {
  }
  return 0;
}

int session(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fs::path& tpl = template_session();
  const fs::path dir = tpl.parent_path() / "copy";
  fs::remove_all(dir);
  fs::copy(tpl, dir, fs::copy_options::recursive);
  // The file the input replaces: the largest log (the blocks), the manifest, CURRENT, the
  // committed count or the marker.
  std::vector<fs::path> files;
  fs::path log;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.path().extension() == ".log" && (log.empty() || e.file_size() > fs::file_size(log)))
      log = e.path();
    if (n.rfind("MANIFEST", 0) == 0 || n == "CURRENT" || n == "BLOCKSCRIBE_COMMITTED" ||
        n == "BLOCKSCRIBE_SESSION")
      files.push_back(e.path());
  }
  files.push_back(log);
  std::sort(files.begin(), files.end());
  const fs::path target = files[data[0] % files.size()];
  write_file_atomic(target.string(), bytes_of(data + 1, size - 1));
  try {
    auto st = SessionStore::open_read_only(dir.string());
    for (int b = 0; b < st->state().blocks; ++b) {
      st->block(b);
      st->timeline(b);
    }
    st->entities();
  } catch (const Error&) {
  }
  return 0;
}

int tokenizer(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] == 0) {
      Tokenizer t = Tokenizer::from_serialized(bytes_of(data + 1, size - 1), "fuzz model");
      t.decode(t.encode("Elizabeth walked."));
    } else {
      const Tokenizer& t = small_tokenizer();
      const std::string text = bytes_of(data + 1, size - 1);
      const std::vector<int> ids = t.encode(text, "fuzz text");
      if (t.decode(ids) != text) throw std::logic_error("encode/decode does not round-trip");
      std::string bytes;
      for (int id : ids) bytes += t.token_bytes(id);
      if (bytes != text) throw std::logic_error("token bytes do not give the text");
    }
  } catch (const Error&) {
  }
  return 0;
}

Target target(const std::string& name) {
  if (name == "checkpoint") return checkpoint;
  if (name == "config") return config;
  if (name == "session") return session;
  if (name == "tokenizer") return tokenizer;
  return nullptr;
}

}  // namespace bs::fuzz
