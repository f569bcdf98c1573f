// Config parsing: defaults, files, overrides, and every refusal names the file, line and key.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "core/model.h"
#include "tests/testutil.h"

using bs::Config;
using bs::Error;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, DefaultsAreTheDesignsSmallModel) {
  Config c;
  c.validate();
  EXPECT_EQ(c.model.vocab, 4096);
  EXPECT_EQ(c.model.d, 256);
  EXPECT_EQ(c.model.layers, 6);
  EXPECT_EQ(c.model.heads, 4);
  EXPECT_EQ(c.model.ffn, 1024);
  EXPECT_EQ(c.model.block, 64);
  EXPECT_EQ(c.model.summary_slots, 4);
}

TEST(Config, LoadsFileAndOverrides) {
  bs::test::TempDir tmp;
  bs::test::write_file(
      tmp.path() / "a.toml",
      "[model]\nd = 64\nheads = 2\nrope_ntk = 2\n[generate]\nstrategy = \"margin\"\n");
  Config c = bs::make_config(tmp.str("a.toml"), {"model.layers=3", "generate.strategy=entropy",
                                                 "generate.threshold=0.5", "train.data=\"x y\""});
  EXPECT_EQ(c.model.d, 64);
  EXPECT_EQ(c.model.heads, 2);
  EXPECT_FLOAT_EQ(c.model.rope_ntk, 2.f);  // an integer is accepted for a float key
  EXPECT_EQ(c.model.layers, 3);
  EXPECT_EQ(c.generate.strategy, "entropy");  // bare word taken as a string
  EXPECT_FLOAT_EQ(c.generate.threshold, 0.5f);
  EXPECT_EQ(c.train.data, "x y");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  bs::test::TempDir tmp;
  bs::test::write_file(tmp.path() / "a.toml", "[model]\nd = 64\n\ndd = 3\n");
  std::string msg = error_of([&] { bs::make_config(tmp.str("a.toml"), {}); });
  EXPECT_NE(msg.find("a.toml:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.dd"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesFileLineAndKey) {
  bs::test::TempDir tmp;
  bs::test::write_file(tmp.path() / "a.toml", "[train]\nlr = \"fast\"\n");
  std::string msg = error_of([&] { bs::make_config(tmp.str("a.toml"), {}); });
  EXPECT_NE(msg.find("a.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected a number"), std::string::npos) << msg;
  bs::test::write_file(tmp.path() / "b.toml", "[model]\nd = 1.5\n");
  msg = error_of([&] { bs::make_config(tmp.str("b.toml"), {}); });
  EXPECT_NE(msg.find("b.toml:2 model.d"), std::string::npos) << msg;
}

TEST(Config, MalformedTomlNamesFileAndLine) {
  bs::test::TempDir tmp;
  bs::test::write_file(tmp.path() / "a.toml", "[model]\nd = 64\nheads = = 2\n");
  std::string msg = error_of([&] { bs::make_config(tmp.str("a.toml"), {}); });
  EXPECT_NE(msg.find("a.toml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed TOML"), std::string::npos) << msg;
}

TEST(Config, UnknownSectionAndMissingFileAndBadUtf8) {
  bs::test::TempDir tmp;
  bs::test::write_file(tmp.path() / "a.toml", "[modle]\nd = 64\n");
  EXPECT_NE(error_of([&] { bs::make_config(tmp.str("a.toml"), {}); }).find("unknown section"),
            std::string::npos);
  EXPECT_NE(error_of([&] { bs::make_config(tmp.str("nope.toml"), {}); }).find("file not found"),
            std::string::npos);
  bs::test::write_file(tmp.path() / "u.toml", "[train]\ndata = \"\xff\xfe\"\n");
  EXPECT_NE(error_of([&] { bs::make_config(tmp.str("u.toml"), {}); }).find("invalid UTF-8"),
            std::string::npos);
}

TEST(Config, BadOverridesAreRefused) {
  EXPECT_NE(error_of([] { bs::make_config("", {"model.nope=1"}); }).find("unknown key"),
            std::string::npos);
  EXPECT_NE(error_of([] { bs::make_config("", {"model.d"}); }).find("expected section.key=value"),
            std::string::npos);
  EXPECT_NE(error_of([] { bs::make_config("", {"model.d=abc"}); }).find("expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { bs::make_config("", {"model.d=102"}); }).find("multiple of model.heads"),
            std::string::npos);
  EXPECT_NE(error_of([] { bs::make_config("", {"model.d=100"}); }).find("must be even"),
            std::string::npos);
  EXPECT_NE(error_of([] { bs::make_config("", {"generate.threshold=0"}); }).find("(0, 1]"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { bs::make_config("", {"generate.strategy=best"}); }).find("must be one of"),
      std::string::npos);
}

TEST(Config, TomlRoundTrip) {
  Config a = bs::make_config(
      "", {"model.d=128", "model.recency=none", "train.lr=0.00025", "generate.top_p=0.9"});
  Config b;
  b.load_string(a.to_toml(), "roundtrip");
  EXPECT_EQ(a.to_toml(), b.to_toml());
  EXPECT_EQ(b.model.d, 128);
  EXPECT_EQ(b.model.recency, "none");
  EXPECT_FLOAT_EQ(b.train.lr, 0.00025f);
}

TEST(Config, SampleConfigsAreValid) {
  for (const char* name : {"tiny", "story-small", "story-small-distill", "report-small"}) {
    Config c =
        bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/" + name + ".toml", {});
    EXPECT_GT(c.model.d, 0) << name;
  }
}

// Every numeric key has a range, checked where the value is read (file, line, key in the
// message), so no value can reach a division, an overflow or a huge allocation.
TEST(Config, OutOfRangeValuesAreRefusedWhereTheyAreRead) {
  bs::test::TempDir tmp;
  struct Case {
    std::string toml, must_contain;
  } cases[] = {
      {"[train]\nlog_every = 0\n",
       "c.toml:2 train.log_every: 'train.log_every' = 0 is not in [1, "},
      {"[train]\nburn_in = 2147483647\n", "'train.burn_in' = 2147483647 is not in [0, 1024]"},
      {"[model]\nd = 1073741824\n", "'model.d' = 1073741824 is not in [2, 65536]"},
      {"[model]\nffn = 1073741824\n", "'model.ffn' = 1073741824 is not in [1, 1048576]"},
      {"[model]\nmax_memory_blocks = 2147483647\n", "'model.max_memory_blocks' = 2147483647"},
      {"[model]\nlayers = 100000\n", "'model.layers' = 100000 is not in [1, 1024]"},
      {"[train]\nweight_decay = -1\n", "'train.weight_decay' = -1 is not in [0, 10]"},
      {"[train]\nwarmup = -5\n", "'train.warmup' = -5 is not in [0, 1000000000]"},
      {"[train]\nlr = nan\n", "'train.lr' = nan is not in (0, 10]"},
      {"[train]\nmask_eps = 1\n", "'train.mask_eps' = 1 is not in (0, 1)"},
      {"[model]\nvocab = 4294967296\n", "'model.vocab' = 4294967296 is not in [16, 1048576]"},
      {"[generate]\ntop_p = 0\n", "'generate.top_p' = 0 is not in (0, 1]"},
  };
  for (const auto& c : cases) {
    bs::test::write_file(tmp.path() / "c.toml", c.toml);
    const std::string e = error_of([&] { bs::make_config(tmp.str("c.toml"), {}); });
    EXPECT_NE(e.find(c.must_contain), std::string::npos) << c.toml << "\n" << e;
    EXPECT_NE(e.find("c.toml:"), std::string::npos) << c.toml << "\n" << e;
  }
  // The same through --set, named by the override.
  EXPECT_NE(error_of([] {
              bs::make_config("", {"train.log_every=0"});
            }).find("--set train.log_every=0: 'train.log_every' = 0 is not in"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { bs::make_config("", {"train.out="}); }).find("train.out: must name a folder"),
      std::string::npos);
}

TEST(Config, SizesAreCheckedInSixtyFourBitsBeforeAnythingIsAllocated) {
  // Each key within its range, the whole far too large: refused by the parameter bound.
  Config c;
  c.model.d = 65536, c.model.heads = 64, c.model.layers = 1024, c.model.ffn = 1 << 20;
  const std::string e = error_of([&] { c.validate(); });
  EXPECT_NE(e.find("parameters, more than the"), std::string::npos) << e;
  EXPECT_GT(bs::model_parameters(c.model), uint64_t(1) << 40);  // no 32-bit wrap
  Config d;
  // The small model, counted by hand: embeddings and head 2·4096·256, summary rows 4·256 + 256²,
  // 6 layers of 4·256² + 3·256·1024 + 2·256 + 4, two gains of 256: 8,458,776.
  EXPECT_EQ(bs::model_parameters(d.model), 8458776u);
  EXPECT_EQ(bs::Model(d.model).num_params(), bs::model_parameters(d.model));
  Config m;
  m.model.max_memory_blocks = 4096, m.model.summary_slots = 1024;
  EXPECT_NE(error_of([&] { m.validate(); }).find("the longest context would be"),
            std::string::npos);
}
