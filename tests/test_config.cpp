// Config parsing: defaults, files, overrides, and every refusal names the file, line and key.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
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
  for (const char* name : {"tiny", "story-small", "report-small"}) {
    Config c =
        bs::make_config(std::string(BS_SOURCE_DIR) + "/samples/configs/" + name + ".toml", {});
    EXPECT_GT(c.model.d, 0) << name;
  }
}
