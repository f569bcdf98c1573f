// The header E the trainer builds for each block of a training document is the header generation
// gives the same document: both run DocumentMemory, and the text each reads must agree. Checked
// by feeding a document to the generator as a prompt (every block committed as written) and
// comparing, block by block, with add_headers.
#include <gtest/gtest.h>

#include "blocks/generator.h"
#include "core/config.h"
#include "memory/entities.h"
#include "tests/testutil.h"
#include "training/block_runner.h"

namespace {

const bs::Tokenizer& tok() { return bs::test::tiny_tokenizer(); }

TEST(Headers, TrainingBuildsTheHeadersGenerationGives) {
  const std::string text =
      "CHAPTER I\nMr. Darcy walked to Longbourn the next day. Elizabeth Bennet saw him. "
      "Darcy said nothing to Elizabeth. In 1811 Mr. Bennet laughed at the letter! Lady "
      "Catherine de Bourgh came three weeks later, and Lizzy smiled \xE2\x80\x94 caf\xC3\xA9.";
  bs::Encoding enc = tok().encode_with_offsets(text);
  const int L = 16, E = 24;
  bs::DocBlocks d = bs::cut_blocks(std::span<const int>(enc.ids), L, tok(), E);
  ASSERT_EQ(int(d.headers.size()), d.nblocks());
  ASSERT_GE(d.nblocks(), 4);

  // Generation: the same tokens as a prompt, so every block is committed as it stands.
  bs::Config cfg = bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
  cfg.model.vocab = tok().vocab_size();
  cfg.model.header_tokens = E;
  bs::Model m(cfg.model);
  m.init_random();
  bs::Generator g(m, tok(), bs::GenOptions{});
  std::vector<int> prompt(enc.ids.begin(), enc.ids.end());
  prompt.push_back(bs::Tokenizer::kEos);  // the document ends, as the training copy does
  auto doc = g.start(prompt);
  bs::DocumentMemory mem;
  bs::Block out;
  int b = 0, with_entities = 0;
  for (; b < d.nblocks(); ++b) {
    const std::vector<int> h = mem.header(tok(), E);
    EXPECT_EQ(h, d.headers[b]) << "block " << b;
    EXPECT_LE(int(h.size()), E);
    with_entities += std::count(h.begin(), h.end(), int(bs::Tokenizer::kEntity)) > 0;
    doc->set_header(h);
    ASSERT_TRUE(g.next_block(*doc, out));
    EXPECT_EQ(out.tokens, std::vector<int>(d.block(b).begin(), d.block(b).end())) << b;
    std::vector<bs::Event> ev;
    mem.read(out.index, out.text, out.end, ev);
  }
  EXPECT_TRUE(out.end);
  EXPECT_GE(with_entities, 2) << "the headers never showed an entity";
  // The first block has nothing to show: just the delimiters.
  EXPECT_EQ(d.headers[0],
            (std::vector<int>{bs::Tokenizer::kHeaderBegin, bs::Tokenizer::kHeaderEnd}));
}

TEST(Headers, NoHeadersWithoutABudget) {
  std::vector<int> ids(40, 20);
  bs::DocBlocks d = bs::cut_blocks(std::span<const int>(ids), 16, tok(), 0);
  for (int b = 0; b < d.nblocks(); ++b) EXPECT_TRUE(d.header(b).empty());
}

}  // namespace
