// A byte-flip sweep over a small session's files: every byte of every file (the logs, the
// manifest, CURRENT, the markers; every 64th byte of the OPTIONS files, which no reader opens) is
// flipped in turn (XOR 0xff) and the whole session is read as `memory export` reads it, in a
// forked child. Each flip must end in one of two ways: the session is refused with a bs::Error,
// or it reads back exactly as before (the byte was one nothing depends on). A child that dies —
// Debian's RocksDB is built with assertions, and a damaged table block once reached one — or
// that reads a different history fails the test, naming the file and offset.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "core/fileio.h"
#include "memory/codec.h"
#include "memory/session_store.h"
#include "session/session.h"
#include "tests/testutil.h"

namespace {

namespace fs = std::filesystem;

// Everything a reader of the session sees, as one string.
std::string read_all(const std::string& dir) {
  auto st = bs::SessionStore::open_read_only(dir);
  std::string out = bs::encode_settings(st->meta().options, st->meta().blocks).dump();
  out += std::to_string(st->state().blocks) + st->state().pending + st->state().carry;
  for (int b = 0; b < st->state().blocks; ++b) {
    const bs::Block blk = st->block(b);
    out += bs::encode_block(blk).dump();
    out.append(reinterpret_cast<const char*>(blk.summary.data()), blk.summary.size() * 4);
    out += bs::encode_events(st->timeline(b)).dump();
  }
  for (const bs::Entity& e : st->entities()) out += bs::encode_entity(e).dump();
  return out;
}

// 0: read back the same; 1: refused with an error; 2: read back something else; 3+: died.
int read_in_child(const std::string& dir, const std::string& reference) {
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = read_all(dir) == reference ? 0 : 2;
    } catch (const bs::Error&) {
      code = 1;
    }
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(SlowSessionFlips, NoFlippedByteCrashesAReaderOrChangesTheHistory) {
  bs::test::TempDir tmp;
  bs::Config cfg = bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
  const bs::Tokenizer& tok = bs::test::tiny_tokenizer();
  cfg.model.vocab = tok.vocab_size();
  bs::Model m(cfg.model);
  m.init_random();
  bs::GenOptions o;
  o.steps = 3, o.seed = 5, o.sampler.allow_eos = false;
  bs::Generator gen(m, tok, o);
  const std::string dir = tmp.str("s");
  {
    bs::SessionStart start;
    start.prompt = tok.encode("Elizabeth walked to Longbourn. Mr. Bennet laughed.");
    bs::Session::create(gen, std::move(start), dir)->write(3, {});
  }
  {  // reopened once: a second log
    auto store = bs::SessionStore::open(dir);
    bs::Generator g2(m, tok, store->meta().options);
    bs::Session::resume(g2, std::move(store), "")->write(1, {});
  }
  const std::string reference = read_all(dir);
  ASSERT_FALSE(reference.empty());

  int flips = 0, refused = 0, same = 0;
  std::vector<std::string> failures;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == "LOCK") continue;  // empty
    std::string bytes = bs::test::read_file(e.path());
    const size_t stride = name.rfind("OPTIONS", 0) == 0 ? 64 : 1;
    for (size_t i = 0; i < bytes.size(); i += stride) {
      bytes[i] ^= char(0xff);
      bs::test::write_file(e.path(), bytes);
      const int r = read_in_child(dir, reference);
      bytes[i] ^= char(0xff);
      ++flips;
      if (r == 0) ++same;
      if (r == 1) ++refused;
      if (r >= 2 && failures.size() < 20)
        failures.push_back(name + " byte " + std::to_string(i) +
                           (r == 2 ? ": read a different history" : ": the reader died"));
    }
    bs::test::write_file(e.path(), bytes);
  }
  EXPECT_EQ(read_all(dir), reference);  // every byte restored
  std::string all;
  for (const auto& f : failures) all += "\n  " + f;
  EXPECT_TRUE(failures.empty()) << failures.size() << " bad flips of " << flips << ":" << all;
  std::printf("%d flips: %d refused, %d harmless\n", flips, refused, same);
  EXPECT_GT(refused, flips / 4);  // most bytes matter
}

}  // namespace
