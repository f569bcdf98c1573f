// Every input kept in fuzz/corpus/<target>/ — the seeds, and any input that once crashed a
// reader — runs through its fuzz target (fuzz/targets.h): a reader must refuse bad bytes with a
// bs::Error, never crash (this suite also runs under AddressSanitizer + UBSan), never let
// another exception out (a round trip that does not hold throws std::logic_error).
#include <gtest/gtest.h>

#include <filesystem>

#include "fuzz/targets.h"
#include "tests/testutil.h"

namespace {

namespace fs = std::filesystem;

TEST(FuzzCorpus, EveryKeptInputIsRefusedCleanlyOrAccepted) {
  const fs::path root = fs::path(BS_SOURCE_DIR) / "fuzz" / "corpus";
  for (const char* name : {"checkpoint", "config", "session", "tokenizer"}) {
    const bs::fuzz::Target run = bs::fuzz::target(name);
    ASSERT_NE(run, nullptr) << name;
    int inputs = 0;
    for (const auto& e : fs::directory_iterator(root / name)) {
      const std::string bytes = bs::test::read_file(e.path());
      EXPECT_NO_THROW(run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))
          << e.path();
      ++inputs;
    }
    EXPECT_GE(inputs, 3) << "fuzz/corpus/" << name << " should hold its seeds";
  }
}

}  // namespace
