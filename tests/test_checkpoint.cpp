// Checkpoints: save → load round trip, and every kind of bad file refused with a clear message
// naming the file (truncated, flipped byte, wrong format, newer/older version, foreign tensors,
// missing tokenizer), never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/half.h"
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

// The stored tensors in their order (so the data hash stays valid) and the metadata, for
// rewriting a checkpoint with one thing changed.
struct Parts {
  std::vector<bs::StTensorOut> tensors;
  std::map<std::string, std::string> meta;
};
Parts parts_of(const bs::SafeTensors& st) {
  Parts p;
  std::vector<std::pair<size_t, std::string>> order;
  for (auto& [n, t] : st.tensors) order.push_back({size_t(t.data.data() - st.data_section.data()), n});
  std::sort(order.begin(), order.end());
  for (auto& [off, n] : order) {
    const auto& t = st.tensors.at(n);
    p.tensors.push_back({n, t.dtype, t.shape, t.data.data(), t.data.size()});
  }
  p.meta = st.metadata;
  return p;
}

TEST_F(CheckpointTest, AnEditedHeaderIsRefusedByItsChecksum) {
  bs::SafeTensors st = bs::parse_safetensors(bytes, path);
  // Edits an outsider (or a flipped bit in the header) could make; the data hash stays right.
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"config", ""},  // rope_base 10000 -> 10001, below
           {"step", "8"},
           {"tokenizer_hash", "0000000000000000"}}) {
    Parts p = parts_of(st);
    if (key == "config") {
      std::string c = p.meta.at("config");
      const size_t at = c.find("rope_base = 10000");
      ASSERT_NE(at, std::string::npos) << c;
      c.replace(at, 17, "rope_base = 10001");
      p.meta["config"] = c;
    } else {
      p.meta[key] = value;
    }
    bs::write_file_atomic(tmp.str("e.safetensors"), bs::safetensors_bytes(p.tensors, p.meta));
    EXPECT_NE(error_of(tmp.str("e.safetensors")).find("header checksum mismatch"),
              std::string::npos)
        << key;
  }
}

TEST_F(CheckpointTest, VersionsAreCheckedWithAHint) {
  bs::SafeTensors st = bs::parse_safetensors(bytes, path);
  // Sealed again after the change: the checks pass, so the loader's own check must refuse.
  auto rewrite = [&](const std::string& key, const std::string& value, const std::string& name) {
    Parts p = parts_of(st);
    p.meta[key] = value;
    p.meta.erase("data_hash"), p.meta.erase("header_hash");
    bs::write_sealed_checkpoint(tmp.str(name), p.tensors, p.meta);
    return tmp.str(name);
  };
  EXPECT_NE(error_of(rewrite("format_version", "3", "v3.safetensors")).find("upgrade blockscribe"),
            std::string::npos);
  EXPECT_NE(error_of(rewrite("format_version", "1", "v1.safetensors"))
                .find("format version 1 carries no check of its header"),
            std::string::npos);
  EXPECT_NE(error_of(rewrite("format_version", "two", "vx.safetensors"))
                .find("metadata format_version: 'two' is not an integer"),
            std::string::npos);
  EXPECT_NE(
      error_of(rewrite("format", "other", "f.safetensors")).find("not a blockscribe checkpoint"),
      std::string::npos);
  EXPECT_NE(error_of(rewrite("config", "[model]\nd = 'x'\n", "cfg.safetensors")).find("model.d"),
            std::string::npos);
  // A config that disagrees with the stored tensors.
  EXPECT_NE(
      error_of(rewrite("config", "[model]\nvocab = 320\nd = 64\nheads = 2\n", "shape.safetensors"))
          .find("wrong dtype (F32) or shape"),
      std::string::npos);
  // A config that is invalid as a whole names the checkpoint.
  const std::string e = error_of(rewrite("config", "[model]\nd = 30\nheads = 4\n", "inv.safetensors"));
  EXPECT_NE(e.find("inv.safetensors (metadata config)"), std::string::npos) << e;
  // Training metadata must be what a trainer writes.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"train_step", "abc"},
           {"train_step", "-5"},
           {"train_tokens", "-1"},
           {"train_adam_t", "1e3"},
           {"train_elapsed", "nan"},
           {"train_elapsed", "-2"}}) {
    const std::string msg = error_of(rewrite(key, value, "meta.safetensors"));
    EXPECT_NE(msg.find("metadata " + key + ": '" + value + "' is not"), std::string::npos)
        << key << " = " << value << ": " << msg;
  }
}

TEST_F(CheckpointTest, NonFiniteWeightsAndBadOptimizerStateAreRefusedNamingTheTensor) {
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    bs::Model m(cfg.model);
    m.params = model->params;
    m.layers[1].w13[7] = bad;
    bs::save_checkpoint(tmp.str("nan.safetensors"), cfg, m, tiny_tokenizer());
    const std::string e = error_of(tmp.str("nan.safetensors"));
    EXPECT_NE(e.find("tensor 'layers.1.ffn.w13.weight' holds a non-finite value"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("at element 7"), std::string::npos) << e;
  }
  std::vector<float> m(model->num_params(), 0.f), v(model->num_params(), 1e-6f);
  v[3] = -1e-9f;
  bs::save_checkpoint(tmp.str("adam.safetensors"), cfg, *model, tiny_tokenizer(), {},
                      {{"train.adam.m", &m}, {"train.adam.v", &v}});
  EXPECT_NE(error_of(tmp.str("adam.safetensors"))
                .find("tensor 'train.adam.v' holds a negative value"),
            std::string::npos);
  v[3] = 1e-9f;
  m[5] = std::nanf("");
  bs::save_checkpoint(tmp.str("adam2.safetensors"), cfg, *model, tiny_tokenizer(), {},
                      {{"train.adam.m", &m}, {"train.adam.v", &v}});
  EXPECT_NE(error_of(tmp.str("adam2.safetensors")).find("tensor 'train.adam.m' holds a non-finite"),
            std::string::npos);
}

TEST_F(CheckpointTest, MissingTokenizerOrForeignTensorIsRefused) {
  std::vector<bs::StTensorOut> out;
  for (const auto& t : model->tensors())
    out.push_back({t.name, "F32", std::vector<int64_t>(t.shape.begin(), t.shape.end()),
                   model->params.data() + t.offset, t.numel * 4});
  std::map<std::string, std::string> meta = {
      {"format", "blockscribe-checkpoint"},
      {"format_version", std::to_string(bs::kCheckpointVersion)},
      {"config", cfg.to_toml()},
      {"tokenizer_hash", "0"}};
  bs::write_sealed_checkpoint(tmp.str("nt.safetensors"), out, meta);
  EXPECT_NE(error_of(tmp.str("nt.safetensors")).find("has no tokenizer"), std::string::npos);
  float extra[2] = {1, 2};
  out.push_back({"mystery.weight", "F32", {2}, extra, 8});
  bs::write_sealed_checkpoint(tmp.str("x.safetensors"), out, meta);
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

TEST(Half, F16AndBf16ByHand) {
  // F16: 1 = 0x3C00, -2 = 0xC000, 65504 (the largest) = 0x7BFF, 2^-24 (the smallest subnormal)
  // = 0x0001, 2^-14 (the smallest normal) = 0x0400; 65520 and up round to infinity.
  EXPECT_EQ(bs::float_to_f16(1.f), 0x3C00);
  EXPECT_EQ(bs::float_to_f16(-2.f), 0xC000);
  EXPECT_EQ(bs::float_to_f16(65504.f), 0x7BFF);
  EXPECT_EQ(bs::float_to_f16(65519.f), 0x7BFF);
  EXPECT_EQ(bs::float_to_f16(65520.f), 0x7C00);
  EXPECT_EQ(bs::float_to_f16(std::ldexp(1.f, -24)), 0x0001);
  EXPECT_EQ(bs::float_to_f16(std::ldexp(1.f, -14)), 0x0400);
  EXPECT_EQ(bs::float_to_f16(std::ldexp(1.f, -26)), 0x0000);  // below half the smallest: 0
  EXPECT_EQ(bs::float_to_f16(std::ldexp(3.f, -26)), 0x0001);  // 0.75 of it: rounds up
  // Round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 -> 1 (even).
  EXPECT_EQ(bs::float_to_f16(1.f + std::ldexp(1.f, -11)), 0x3C00);
  EXPECT_EQ(bs::float_to_f16(1.f + 3 * std::ldexp(1.f, -11)), 0x3C02);
  EXPECT_TRUE(std::isnan(bs::f16_to_float(bs::float_to_f16(std::nanf("")))));
  // Every F16 value converts to float and back to itself.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bs::f16_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(bs::float_to_f16(f), h) << std::hex << h;
  }
  // BF16: the upper half of the float, rounded to nearest even.
  EXPECT_EQ(bs::float_to_bf16(1.f), 0x3F80);
  EXPECT_EQ(bs::float_to_bf16(-2.f), 0xC000);
  EXPECT_EQ(bs::float_to_bf16(1.f + std::ldexp(1.f, -8)), 0x3F80);      // halfway: to even
  EXPECT_EQ(bs::float_to_bf16(1.f + 3 * std::ldexp(1.f, -8)), 0x3F82);  // halfway: to even
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bs::bf16_to_float(uint16_t(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(bs::float_to_bf16(f), b) << std::hex << b;
  }
}

TEST_F(CheckpointTest, SixteenBitWeightsLoadAsTheRoundedFloats) {
  for (auto [type, dtype] : {std::pair{bs::WeightType::f16, "F16"}, std::pair{bs::WeightType::bf16, "BF16"}}) {
    bs::save_checkpoint(tmp.str("h.safetensors"), cfg, *model, tiny_tokenizer(), {}, {}, type);
    bs::SafeTensors st = bs::parse_safetensors(bs::read_file(tmp.str("h.safetensors")), "h");
    EXPECT_EQ(st.tensors.at("tok_emb.weight").dtype, dtype);
    EXPECT_LT(bs::read_file(tmp.str("h.safetensors")).size(), bytes.size() * 6 / 10);
    bs::Checkpoint ck = bs::load_checkpoint(tmp.str("h.safetensors"));
    for (size_t i = 0; i < model->params.size(); ++i) {
      const float w = model->params[i];
      const float want = type == bs::WeightType::f16 ? bs::f16_to_float(bs::float_to_f16(w))
                                                     : bs::bf16_to_float(bs::float_to_bf16(w));
      ASSERT_EQ(ck.model->params[i], want) << dtype << " " << i;
    }
  }
  // A weight beyond F16's range is refused naming the tensor (BF16 holds it).
  bs::Model big(cfg.model);
  big.params = model->params;
  big.lm_head[3] = 1e6f;
  try {
    bs::save_checkpoint(tmp.str("big.safetensors"), cfg, big, tiny_tokenizer(), {}, {},
                        bs::WeightType::f16);
    ADD_FAILURE() << "1e6 stored as F16";
  } catch (const bs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'lm_head.weight' holds 1e+06, beyond F16"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(bs::save_checkpoint(tmp.str("big.safetensors"), cfg, big, tiny_tokenizer(), {},
                                      {}, bs::WeightType::bf16));
}

}  // namespace
