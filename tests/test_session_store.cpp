// The session store: what is committed comes back exactly, blocks only in order, and every
// directory that is not a healthy session of this format is refused by name without being
// modified (foreign, corrupt, newer format, in use, not empty).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/fileio.h"
#include "memory/codec.h"
#include "memory/session_store.h"
#include "tests/testutil.h"

namespace {

namespace fs = std::filesystem;

bs::SessionMeta sample_meta() {
  bs::SessionMeta m;
  m.model_hash = "00112233aabbccdd";
  m.tokenizer_hash = "0123456789abcdef";
  m.model_path = "/models/m.safetensors";
  m.options.seed = 3;
  m.options.sampler.top_p = 0.9f;
  m.options.sampler.strategy = bs::Strategy::margin;
  m.options.memory = bs::ContextMode::window;
  m.blocks = 12;
  m.queue = {2, 40, 41, 4, 42};
  m.token_limit = 100;
  bs::Event f;
  f.block = -1, f.sentence = "Mr. Bennet has five daughters.";
  m.facts = {f};
  return m;
}

bs::Entity entity(int id, int mentions) {
  bs::Entity e;
  e.id = id, e.name = "Name " + std::to_string(id), e.mentions = mentions;
  e.aliases = {"N" + std::to_string(id)};
  return e;
}

bs::Event event(int block) {
  bs::Event e;
  e.block = block, e.sentence = "In 1811 it rained.", e.times = {"1811"}, e.entities = {0};
  return e;
}

bs::Block block(int i) {
  bs::Block b;
  b.index = i;
  b.tokens = {2 + i, 50, 51, 3};
  b.text = "block " + std::to_string(i) + " caf\xC3\xA9";
  b.generated = 3, b.steps = 2, b.seconds = 0.25, b.end = false;
  b.summary = {1.5f * i, -2.f, 0.125f, 3.f};
  return b;
}

// Every file's path and content hash: "unchanged" means exactly this map.
std::map<std::string, uint64_t> snapshot(const fs::path& dir) {
  std::map<std::string, uint64_t> s;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      s[fs::relative(e.path(), dir).string()] = bs::hash64(bs::test::read_file(e.path()));
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const bs::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SessionStore, CommittedBlocksComeBackExactly) {
  bs::test::TempDir tmp;
  const std::string dir = tmp.str("s");
  {
    auto st = bs::SessionStore::create(dir, sample_meta(), {entity(0, 0)});
    for (int i = 0; i < 3; ++i)
      st->commit(block(i), {entity(i, i + 1)}, {event(i)},
                 {i + 1, i == 2 ? std::string("\xE2\x80") : std::string(), false, "carry",
                  {event(i), event(i)}});
    // Out of order is refused.
    EXPECT_THROW(st->commit(block(5), {}, {}, {6, "", false, "", {}}), bs::Error);
  }
  auto st = bs::SessionStore::open(dir);
  const bs::SessionMeta want_meta = sample_meta();
  EXPECT_EQ(st->meta().queue, want_meta.queue);
  EXPECT_EQ(st->meta().model_hash, want_meta.model_hash);
  EXPECT_EQ(st->meta().token_limit, 100);
  EXPECT_EQ(st->meta().blocks, 12);
  EXPECT_EQ(bs::encode_settings(st->meta().options, 0), bs::encode_settings(want_meta.options, 0));
  EXPECT_EQ(bs::encode_events(st->meta().facts), bs::encode_events(want_meta.facts));
  EXPECT_EQ(st->state().blocks, 3);
  EXPECT_EQ(st->state().pending, "\xE2\x80");
  EXPECT_EQ(st->state().carry, "carry");
  EXPECT_EQ(bs::encode_events(st->state().recent), bs::encode_events({event(2), event(2)}));
  for (int i = 0; i < 3; ++i) {
    bs::Block b = st->block(i), want = block(i);
    EXPECT_EQ(bs::encode_block(b), bs::encode_block(want));
    EXPECT_EQ(b.summary, want.summary);
    EXPECT_EQ(bs::encode_events(st->timeline(i)), bs::encode_events({event(i)}));
  }
  ASSERT_EQ(st->entities().size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(bs::encode_entity(st->entities()[i]), bs::encode_entity(entity(i, i + 1)));
  EXPECT_THROW(st->block(3), bs::Error);
  EXPECT_GT(st->disk_bytes(), 0u);
}

TEST(SessionStore, ASecondWriterIsToldTheSessionIsInUse) {
  bs::test::TempDir tmp;
  const std::string dir = tmp.str("s");
  auto first = bs::SessionStore::create(dir, sample_meta());
  EXPECT_NE(error_of([&] { bs::SessionStore::open(dir); }).find("session is in use"),
            std::string::npos);
  auto reader = bs::SessionStore::open_read_only(dir);  // inspection needs no lock
  EXPECT_EQ(reader->state().blocks, 0);
  first.reset();
  EXPECT_NO_THROW(bs::SessionStore::open(dir));  // free again once the writer is gone
}

TEST(SessionStore, ForeignCorruptNewerAndOccupiedDirectoriesAreRefusedUntouched) {
  bs::test::TempDir tmp;
  // Missing.
  EXPECT_NE(error_of([&] { bs::SessionStore::open(tmp.str("none")); }).find("no such session"),
            std::string::npos);
  // Foreign: some other program's files.
  fs::create_directories(tmp.path() / "foreign");
  bs::test::write_file(tmp.path() / "foreign" / "CURRENT", "MANIFEST-000001\n");
  bs::test::write_file(tmp.path() / "foreign" / "notes.txt", "mine");
  auto before = snapshot(tmp.path() / "foreign");
  EXPECT_NE(error_of([&] {
              bs::SessionStore::open(tmp.str("foreign"));
            }).find("is not a blockscribe session"),
            std::string::npos);
  EXPECT_EQ(snapshot(tmp.path() / "foreign"), before);
  // Not empty: create refuses and leaves it.
  EXPECT_NE(error_of([&] {
              bs::SessionStore::create(tmp.str("foreign"), sample_meta());
            }).find("not empty"),
            std::string::npos);
  EXPECT_EQ(snapshot(tmp.path() / "foreign"), before);

  // Corrupt: a real session whose CURRENT file is garbage.
  const std::string dir = tmp.str("corrupt");
  {
    auto st = bs::SessionStore::create(dir, sample_meta());
    st->commit(block(0), {}, {}, {1, "", false, "", {}});
  }
  bs::test::write_file(fs::path(dir) / "CURRENT", "garbage\n");
  before = snapshot(dir);
  EXPECT_NE(error_of([&] { bs::SessionStore::open(dir); }).find("corrupt"), std::string::npos);
  EXPECT_NE(error_of([&] { bs::SessionStore::open_read_only(dir); }).find("corrupt"),
            std::string::npos);
  EXPECT_EQ(snapshot(dir), before);

  // A newer format: refused with a hint.
  const std::string newer = tmp.str("newer");
  bs::SessionStore::create(newer, sample_meta()).reset();
  bs::test::write_file(fs::path(newer) / "BLOCKSCRIBE_SESSION", "blockscribe-session format 99\n");
  before = snapshot(newer);
  const std::string e = error_of([&] { bs::SessionStore::open(newer); });
  EXPECT_NE(e.find("newer blockscribe"), std::string::npos) << e;
  EXPECT_NE(e.find("upgrade"), std::string::npos) << e;
  EXPECT_EQ(snapshot(newer), before);
}

// The leftovers of a process that died while writing are removed; a live process's never.
TEST(SessionStore, LeftoversOfDeadProcessesAreRemovedLiveOnesKept) {
  bs::test::TempDir tmp;
  // A pid that was surely alive and is surely gone: a child that has exited and been reaped.
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  int status = 0;
  waitpid(dead, &status, 0);
  // Another live process (this one would reuse its own name): the parent.
  const std::string live = std::to_string(::getppid()), gone = std::to_string(dead);
  fs::create_directories(tmp.path() / ("s.creating-" + gone));
  fs::create_directories(tmp.path() / ("s.creating-" + live));
  bs::test::write_file(tmp.path() / ("s.creating-" + gone) / "x", "half made");
  bs::test::write_file(tmp.path() / "s.creating-notapid", "not ours");
  auto st = bs::SessionStore::create(tmp.str("s"), sample_meta());
  EXPECT_FALSE(fs::exists(tmp.path() / ("s.creating-" + gone)));
  EXPECT_TRUE(fs::exists(tmp.path() / ("s.creating-" + live)));
  EXPECT_TRUE(fs::exists(tmp.path() / "s.creating-notapid"));
  // A killed commit's temporary inside the session goes when the session is next written.
  st.reset();
  bs::test::write_file(tmp.path() / "s" / ("BLOCKSCRIBE_COMMITTED.tmp-" + gone), "x");
  bs::test::write_file(tmp.path() / "s" / ("BLOCKSCRIBE_COMMITTED.tmp-" + live), "x");
  auto again = bs::SessionStore::open(tmp.str("s"));
  EXPECT_TRUE(fs::exists(tmp.path() / "s" / ("BLOCKSCRIBE_COMMITTED.tmp-" + gone)))
      << "a read-only open changes nothing";
  again->begin_writing();
  EXPECT_FALSE(fs::exists(tmp.path() / "s" / ("BLOCKSCRIBE_COMMITTED.tmp-" + gone)));
  EXPECT_TRUE(fs::exists(tmp.path() / "s" / ("BLOCKSCRIBE_COMMITTED.tmp-" + live)));
}

}  // namespace
