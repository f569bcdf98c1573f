// Checkpoints: save → load round trip, and every kind of bad file refused with a clear message
// naming the file (truncated, flipped byte, wrong format, newer/older version, foreign tensors,
// missing tokenizer), never a crash.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/safetensors.h"
#include "tests/testutil.h"

namespace {

const bs::Tokenizer& tiny_tokenizer() {
  static bs::Tokenizer tok = [] {
    std::vector<std::string> docs;
    for (int i = 0; i < 200; ++i)
      docs.push_back(
          "It is a truth universally acknowledged, that a single man in possession of a good "
          "fortune " +
          std::to_string(i) + " must be in want of a wife. Mr. Darcy walked to the window.\n");
    std::vector<std::string_view> views(docs.begin(), docs.end());
    bs::TokenizerTrainOptions o;
    o.vocab_size = 320;
    return bs::Tokenizer::from_serialized(bs::train_tokenizer(views, o), "tiny");
  }();
  return tok;
}

bs::Config tiny_config() {
  return bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml", {});
}

std::string error_of(const std::string& path) {
  try {
    bs::load_checkpoint(path);
  } catch (const bs::Error& e) {
    return e.what();
  }
  return "";
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg = tiny_config();
    model = std::make_unique<bs::Model>(cfg.model);
    model->init_random();
    path = tmp.str("m.safetensors");
    bs::save_checkpoint(path, cfg, *model, tiny_tokenizer(), {{"step", "7"}});
    bytes = bs::read_file(path);
  }
  bs::test::TempDir tmp;
  bs::Config cfg;
  std::unique_ptr<bs::Model> model;
  std::string path, bytes;
};

TEST_F(CheckpointTest, RoundTripsWeightsConfigAndTokenizer) {
  bs::Checkpoint ck = bs::load_checkpoint(path);
  EXPECT_EQ(ck.model->params, model->params);
  EXPECT_EQ(ck.config.to_toml(), cfg.to_toml());
  EXPECT_EQ(ck.tokenizer->hash(), tiny_tokenizer().hash());
  EXPECT_EQ(ck.metadata.at("step"), "7");
  EXPECT_EQ(ck.metadata.at("format_version"), std::to_string(bs::kCheckpointVersion));
  // Every model tensor is present with its documented name and shape.
  bs::SafeTensors st = bs::parse_safetensors(bytes, path);
  for (const auto& t : model->tensors()) {
    ASSERT_TRUE(st.tensors.count(t.name)) << t.name;
    EXPECT_EQ(st.tensors.at(t.name).dtype, "F32");
  }
  EXPECT_EQ(st.tensors.at("tokenizer.model").dtype, "U8");
}

TEST_F(CheckpointTest, TruncatedFilesAreRefused) {
  for (size_t keep :
       {size_t(0), size_t(5), size_t(8), size_t(40), bytes.size() / 2, bytes.size() - 1}) {
    bs::test::write_file(tmp.path() / "t.safetensors", bytes.substr(0, keep));
    std::string msg = error_of(tmp.str("t.safetensors"));
    EXPECT_NE(msg.find("t.safetensors"), std::string::npos) << keep << ": " << msg;
    EXPECT_FALSE(msg.empty()) << keep;
  }
}

TEST_F(CheckpointTest, FlippedDataByteIsRefused) {
  std::string bad = bytes;
  bad[bad.size() - 100] ^= 0x40;
  bs::test::write_file(tmp.path() / "c.safetensors", bad);
  EXPECT_NE(error_of(tmp.str("c.safetensors")).find("checksum mismatch"), std::string::npos);
}

TEST_F(CheckpointTest, CorruptHeaderIsRefused) {
  std::string bad = bytes;
  bad[8] = '#';  // break the JSON (its opening brace)
  bs::test::write_file(tmp.path() / "h.safetensors", bad);
  EXPECT_NE(error_of(tmp.str("h.safetensors")).find("corrupt safetensors header"),
            std::string::npos);
  bs::test::write_file(tmp.path() / "g.safetensors", std::string(4096, 'x'));
  EXPECT_NE(error_of(tmp.str("g.safetensors")).find("not a safetensors file"), std::string::npos);
}

TEST_F(CheckpointTest, VersionsAreCheckedWithAHint) {
  bs::SafeTensors st = bs::parse_safetensors(bytes, path);
  auto rewrite = [&](const std::string& key, const std::string& value, const std::string& name) {
    std::vector<bs::StTensorOut> out;
    // Keep the stored order so the data hash stays valid.
    std::vector<std::pair<size_t, std::string>> order;
    for (auto& [n, t] : st.tensors)
      order.push_back({size_t(t.data.data() - st.data_section.data()), n});
    std::sort(order.begin(), order.end());
    for (auto& [off, n] : order) {
      const auto& t = st.tensors.at(n);
      out.push_back({n, t.dtype, t.shape, t.data.data(), t.data.size()});
    }
    auto meta = st.metadata;
    meta[key] = value;
    bs::write_file_atomic(tmp.str(name), bs::safetensors_bytes(out, meta));
    return tmp.str(name);
  };
  EXPECT_NE(error_of(rewrite("format_version", "2", "v2.safetensors")).find("upgrade blockscribe"),
            std::string::npos);
  EXPECT_NE(error_of(rewrite("format_version", "0", "v0.safetensors")).find("too old"),
            std::string::npos);
  EXPECT_NE(
      error_of(rewrite("format", "other", "f.safetensors")).find("not a blockscribe checkpoint"),
      std::string::npos);
  EXPECT_NE(error_of(rewrite("config", "[model]\nd = 'x'\n", "cfg.safetensors")).find("model.d"),
            std::string::npos);
  // A config that disagrees with the stored tensors.
  EXPECT_NE(
      error_of(rewrite("config", "[model]\nvocab = 320\nd = 64\nheads = 2\n", "shape.safetensors"))
          .find("wrong dtype or shape"),
      std::string::npos);
}

TEST_F(CheckpointTest, MissingTokenizerOrForeignTensorIsRefused) {
  std::vector<bs::StTensorOut> out;
  for (const auto& t : model->tensors())
    out.push_back({t.name, "F32", std::vector<int64_t>(t.shape.begin(), t.shape.end()),
                   model->params.data() + t.offset, t.numel * 4});
  std::string data;
  for (auto& t : out) data.append((const char*)t.data, t.bytes);
  std::map<std::string, std::string> meta = {
      {"format", "blockscribe-checkpoint"},
      {"format_version", std::to_string(bs::kCheckpointVersion)},
      {"config", cfg.to_toml()},
      {"tokenizer_hash", "0"},
      {"data_hash", bs::hex64(bs::hash64(data))}};
  bs::write_file_atomic(tmp.str("nt.safetensors"), bs::safetensors_bytes(out, meta));
  EXPECT_NE(error_of(tmp.str("nt.safetensors")).find("has no tokenizer"), std::string::npos);
  float extra[2] = {1, 2};
  out.push_back({"mystery.weight", "F32", {2}, extra, 8});
  data.append((const char*)extra, 8);
  meta["data_hash"] = bs::hex64(bs::hash64(data));
  bs::write_file_atomic(tmp.str("x.safetensors"), bs::safetensors_bytes(out, meta));
  EXPECT_NE(error_of(tmp.str("x.safetensors")).find("unexpected tensor 'mystery.weight'"),
            std::string::npos);
}

TEST_F(CheckpointTest, MissingFileIsRefused) {
  EXPECT_NE(error_of(tmp.str("none.safetensors")).find("file not found"), std::string::npos);
}

TEST_F(CheckpointTest, SaveIsAtomicAndLeavesNoTemporary) {
  bs::save_checkpoint(path, cfg, *model, tiny_tokenizer());
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(tmp.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

}  // namespace
