// The model that ships in models/story-small/: what the issue promises of it, checked on the
// files in the tree — half-precision weights, at most 20 MB in all, its own tokenizer, a model
// card that names this exact checkpoint, generation defaults that are the steps it was
// distilled for — and that the README's main command can write with it.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/fileio.h"
#include "core/safetensors.h"
#include "tests/testutil.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(BS_SOURCE_DIR) / "models" / "story-small";

TEST(ShippedModel, HalfWeightsTokenizerAndCardWithinTwentyMegabytes) {
  ASSERT_TRUE(fs::is_directory(kDir)) << kDir;
  uintmax_t total = 0;
  for (const auto& e : fs::directory_iterator(kDir)) total += fs::file_size(e.path());
  EXPECT_LE(total, 20u * 1000 * 1000) << "models/story-small/ holds " << total << " bytes";

  const std::string path = (kDir / "model.safetensors").string();
  bs::SafeTensors st = bs::parse_safetensors(bs::read_file(path), path);
  int half = 0;
  for (const auto& [name, t] : st.tensors) {
    if (name == "tokenizer.model") continue;
    EXPECT_EQ(t.dtype, "F16") << name;
    half += t.dtype == "F16";
  }
  EXPECT_GT(half, 10);

  bs::Checkpoint ck = bs::load_checkpoint(path);
  // Distilled for the steps it writes with by default.
  ASSERT_TRUE(ck.metadata.count("distill_student_steps"));
  EXPECT_EQ(std::stoi(ck.metadata.at("distill_student_steps")), ck.config.generate.steps);
  // The tokenizer beside it is the one inside it.
  const bs::Tokenizer tok = bs::Tokenizer::load((kDir / "tokenizer.model").string());
  EXPECT_EQ(tok.hash(), ck.tokenizer->hash());
  // The card names this checkpoint by its data hash.
  const std::string card = bs::read_file((kDir / "README.md").string());
  ASSERT_TRUE(ck.metadata.count("data_hash"));
  EXPECT_NE(card.find(ck.metadata.at("data_hash")), std::string::npos)
      << "models/story-small/README.md does not name data_hash " << ck.metadata.at("data_hash");
}

TEST(ShippedModel, WritesAfterTheAustenPrompt) {
  const std::string prompt = std::string(BS_SOURCE_DIR) + "/samples/prompts/austen.txt";
  auto r = bs::test::run_cli("-t 2 generate -m " + (kDir / "model.safetensors").string() + " -f " +
                             prompt + " --blocks 3 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string head = bs::read_file(prompt);
  ASSERT_GT(r.out.size(), head.size() + 100) << r.out;
  EXPECT_TRUE(bs::valid_utf8(r.out)) << r.out;
}

}  // namespace
