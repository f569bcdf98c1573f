// The program's model commands (init, info, forward, convert) end to end, including every bad
// input: one clear message naming the thing, a non-zero exit code, and existing files left
// untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/checkpoint.h"
#include "core/fileio.h"
#include "core/model.h"
#include "tests/testutil.h"
#include "text/tokenizer.h"

namespace {

using bs::test::run_cli;

class CliModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new bs::test::TempDir();
    cfg = std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml";
    setup_error = bs::test::init_tiny_model(*dir, "m.safetensors");
  }
  // A failure in SetUpTestSuite would only skip the tests; fail each one instead.
  void SetUp() override { ASSERT_TRUE(setup_error.empty()) << setup_error; }
  static inline std::string setup_error;
  static void TearDownTestSuite() { delete dir; }
  static bs::test::TempDir* dir;
  static std::string cfg;
};
bs::test::TempDir* CliModel::dir = nullptr;
std::string CliModel::cfg;

TEST_F(CliModel, InfoPrintsConfigParamsAndTensors) {
  auto r = run_cli("info " + dir->str("m.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bs::Config c = bs::make_config(cfg, {});
  c.model.vocab = bs::Tokenizer::load(dir->str("tok.model")).vocab_size();
  bs::Model m(c.model);
  EXPECT_NE(r.out.find("parameters     " + std::to_string(m.num_params())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("layers.1.attn.wqkv.weight"), std::string::npos);
  // The weights' hash, as a model card quotes it.
  const bs::Checkpoint ck = bs::load_checkpoint(dir->str("m.safetensors"));
  EXPECT_NE(r.out.find("data_hash      " + ck.metadata.at("data_hash") + "\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[model]"), std::string::npos);
  // The [generate] defaults generation starts from (tiny.toml: steps = 4).
  EXPECT_NE(r.out.find("[generate]\nsteps = 4\n"), std::string::npos) << r.out;
}

TEST_F(CliModel, GenerateHelpShowsTheCheckpointsDefaults) {
  auto r = run_cli("generate --model " + dir->str("m.safetensors") + " --help");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("default 4: generate.steps of " + dir->str("m.safetensors")),
            std::string::npos)
      << r.out;
  auto plain = run_cli("generate --help");
  EXPECT_NE(plain.out.find("default 16: generate.steps of a new model"), std::string::npos)
      << plain.out;
}

TEST_F(CliModel, ForwardRunsBlockByBlock) {
  auto r = run_cli("forward --model " + dir->str("m.safetensors") +
                   " --prompt 'Elizabeth walked to Longbourn. She said nothing at all that day. "
                   "Mr. Bennet laughed.'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("total:"), std::string::npos) << r.out;
  // Same seed, same output; 2 threads gives the same numbers.
  auto r2 = run_cli("-t 2 forward --model " + dir->str("m.safetensors") +
                    " --prompt 'Elizabeth walked to Longbourn. She said nothing at all that day. "
                    "Mr. Bennet laughed.'");
  ASSERT_EQ(r2.exit_code, 0);
  auto strip_ms = [](const std::string& s) {  // timing columns differ run to run
    std::string out;
    std::istringstream is(s);
    for (std::string line; std::getline(is, line);) out += line.substr(0, 40) + "\n";
    return out;
  };
  EXPECT_EQ(strip_ms(r.out), strip_ms(r2.out));
}

TEST_F(CliModel, ForwardJsonAndRawLogitsCheckFromOutside) {
  const std::string text =
      "Elizabeth walked to Longbourn. She said nothing at all that day. Mr. Bennet laughed.";
  bs::test::TempDir t;
  auto r = run_cli("forward --model " + dir->str("m.safetensors") + " --prompt '" + text +
                   "' --json --mask-rate 0.6 --dump-logits " + t.str("logits.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> blocks;
  nlohmann::json total;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    (j.at("type") == "block" ? blocks.emplace_back(j) : total) = j;
  }
  const int V = total.at("vocab").get<int>();
  const std::string raw = bs::read_file(t.str("logits.bin"));
  ASSERT_EQ(raw.size(), size_t(total.at("masked").get<int64_t>()) * V * sizeof(float));
  const float* lg = reinterpret_cast<const float*>(raw.data());
  // The document as evaluation sees it: <s> first and never masked, </s> padding at the end,
  // the header E of every block (tiny config: E = 8).
  const bs::Tokenizer tok = bs::Tokenizer::load(dir->str("tok.model"));
  std::vector<int> all;
  for (const auto& b : blocks) {
    for (int id : b.at("tokens")) all.push_back(id);
    EXPECT_FALSE(b.at("header").empty());
  }
  EXPECT_EQ(all.front(), bs::Tokenizer::kBos);
  EXPECT_EQ(all.back(), bs::Tokenizer::kEos);
  EXPECT_EQ(all.size() % 16, 0u);
  EXPECT_EQ(tok.decode(all), text);
  for (int p : blocks.front().at("masked")) EXPECT_NE(p, 0) << "<s> was masked";
  // Each masked row's NLL is -log softmax(its dumped logits)[target], in double.
  int64_t row = 0;
  for (const auto& b : blocks) {
    EXPECT_EQ(b.at("logits_row").get<int64_t>(), row);
    const auto& targets = b.at("targets");
    for (size_t i = 0; i < targets.size(); ++i, ++row) {
      const float* x = lg + size_t(row) * V;
      double mx = x[0], z = 0;
      for (int v = 1; v < V; ++v) mx = std::max(mx, double(x[v]));
      for (int v = 0; v < V; ++v) z += std::exp(double(x[v]) - mx);
      const double nll = std::log(z) + mx - x[targets[i].get<int>()];
      EXPECT_NEAR(b.at("nll")[i].get<double>(), nll, 1e-4) << "block " << b.at("block");
    }
  }
  EXPECT_EQ(row, total.at("masked").get<int64_t>());
}

// convert: F16 weights at about half the size, each within F16's rounding of the original, a
// generation default changed with --set, and every bad request refused with no file written.
TEST_F(CliModel, ConvertWritesHalfWeightsAndChangesOnlyGenerationDefaults) {
  bs::test::TempDir t;
  const std::string m = dir->str("m.safetensors"), h = t.str("h.safetensors");
  auto r = run_cli("convert -m " + m + " -o " + h +
                   " --weights f16 --set generate.repeat_penalty=1.1 --set generate.top_p=0.9");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto full = std::filesystem::file_size(m), half = std::filesystem::file_size(h);
  EXPECT_LT(double(half), 0.6 * double(full)) << full << " -> " << half;
  const bs::Checkpoint a = bs::load_checkpoint(m), b = bs::load_checkpoint(h);
  EXPECT_FLOAT_EQ(b.config.generate.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(b.config.generate.top_p, 0.9f);
  EXPECT_EQ(b.config.generate.steps, a.config.generate.steps);
  EXPECT_TRUE(b.config.differences(a.config, "model").empty());
  ASSERT_EQ(a.model->params.size(), b.model->params.size());
  for (size_t i = 0; i < a.model->params.size(); ++i)
    ASSERT_NEAR(b.model->params[i], a.model->params[i], 1e-3 * std::abs(a.model->params[i]) + 1e-7)
        << "parameter " << i;
  auto info = run_cli("info " + h);
  EXPECT_NE(info.out.find("repeat_penalty = 1.1"), std::string::npos) << info.out;

  const std::string before = bs::read_file(h);
  struct Case {
    std::string args, must_contain;
  } cases[] = {
      {"convert -m " + m + " -o " + h, "h.safetensors: already exists (use --force to overwrite)"},
      {"convert -m " + m + " -o " + t.str("x.safetensors") + " --set model.d=64",
       "--set: 'model.d=64': convert changes only generate.* keys"},
      {"convert -m " + m + " -o " + t.str("x.safetensors") + " --set generate.top_p=2",
       "generate.top_p"},
      {"convert -m " + m + " -o " + t.str("x.safetensors") + " --weights f8", "f8"},
      {"convert -m " + t.str("none.safetensors") + " -o " + t.str("x.safetensors"),
       "none.safetensors: file not found"},
      {"convert -m " + h + " -o " + h + " --force", "is the checkpoint being read"},
  };
  for (const auto& c : cases) {
    auto e = run_cli(c.args);
    EXPECT_NE(e.exit_code, 0) << c.args;
    EXPECT_NE(e.err.find(c.must_contain), std::string::npos) << c.args << "\n" << e.err;
  }
  EXPECT_EQ(bs::read_file(h), before);
  EXPECT_FALSE(std::filesystem::exists(t.path() / "x.safetensors"));
}

// --device is checked while the options are parsed, on every command that runs the model, so a
// device this build lacks (cuda in a CPU-only build) or a misspelt one stops before any file is
// read or written.
TEST_F(CliModel, DeviceChoiceIsCheckedOnEveryCommand) {
  bs::test::TempDir t;
  const std::string m = dir->str("m.safetensors");
  const std::string cmds[] = {
      "forward --model " + m + " --prompt hi",
      "generate --model " + m + " --prompt hi --blocks 1",
      "eval --model " + m + " --data " + t.str("nodata"),
      "resume --session " + t.str("nosession"),
      "train --config " + cfg + " --set train.out=" + t.str("out"),
  };
  for (const std::string& c : cmds) {
    auto bad = run_cli(c + " --device tpu");
    EXPECT_EQ(bad.exit_code, 2) << c;
    EXPECT_NE(bad.err.find("--device: 'tpu' is no device of this build (it has cpu, ref)"),
              std::string::npos)
        << c << "\n"
        << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
#ifndef BLOCKSCRIBE_HAS_CUDA
    auto cuda = run_cli(c + " --device cuda");
    EXPECT_EQ(cuda.exit_code, 2) << c;
    EXPECT_NE(cuda.err.find("--device: 'cuda': this build has no CUDA backend"), std::string::npos)
        << c << "\n"
        << cuda.err;
#endif
  }
  EXPECT_TRUE(std::filesystem::is_empty(t.path()));
  // The scalar reference gives the same figures as the optimised CPU ops (to the printed digits).
  auto cpu = run_cli("forward --model " + m + " --prompt 'Elizabeth walked to Longbourn.'");
  auto ref =
      run_cli("forward --model " + m + " --prompt 'Elizabeth walked to Longbourn.' --device ref");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const auto total = [](const std::string& s) { return s.substr(s.find("total:")); };
  EXPECT_EQ(total(cpu.out), total(ref.out));
}

TEST_F(CliModel, InitRefusesToOverwrite) {
  std::string before = bs::read_file(dir->str("m.safetensors"));
  auto r = run_cli("init --config " + cfg + " --tokenizer " + dir->str("tok.model") + " --out " +
                   dir->str("m.safetensors"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(before, bs::read_file(dir->str("m.safetensors")));
}

TEST_F(CliModel, BadInputsGiveOneClearMessage) {
  bs::test::TempDir t;
  bs::test::write_file(t.path() / "bad.toml", "[model]\nd = = 3\n");
  bs::test::write_file(t.path() / "bad.txt", "caf\xc3\x28 au lait");
  bs::test::write_file(t.path() / "empty.txt", "");
  std::string corrupt = bs::read_file(dir->str("m.safetensors"));
  corrupt.resize(corrupt.size() / 3);
  bs::test::write_file(t.path() / "cut.safetensors", corrupt);
  std::string m = dir->str("m.safetensors");
  struct Case {
    std::string args, must_contain;
  } cases[] = {
      {"info " + t.str("none.safetensors"), "none.safetensors: file not found"},
      {"info " + t.str("cut.safetensors"),
       "cut.safetensors: tensor 'final_norm.weight': data lies outside the file (truncated?"},
      {"info " + t.str("bad.txt"), "bad.txt"},
      {"init --config " + t.str("bad.toml") + " --tokenizer " + dir->str("tok.model") + " --out " +
           t.str("o.st"),
       "bad.toml:2"},
      {"init --config " + cfg + " --tokenizer " + t.str("bad.txt") + " --out " + t.str("o.st"),
       "bad.txt"},
      {"init --config " + cfg + " --set model.vocab=4096 --tokenizer " + dir->str("tok.model") +
           " --out " + t.str("o.st"),
       "--set model.vocab=" +
           std::to_string(bs::Tokenizer::load(dir->str("tok.model")).vocab_size())},
      {"init --config " + cfg + " --set model.nope=1 --tokenizer " + dir->str("tok.model") +
           " --out " + t.str("o.st"),
       "unknown key"},
      {"forward --model " + m + " --prompt-file " + t.str("bad.txt"),
       "bad.txt: invalid UTF-8 at byte 3"},
      {"forward --model " + m + " --prompt-file " + t.str("empty.txt"), "empty.txt: is empty"},
      {"forward --model " + m + " --prompt hi --mask-rate 0", "--mask-rate: 0 is not in (0, 1]"},
      {"forward --model " + m + " --prompt hi --mask-rate nan",
       "--mask-rate: 'nan' is not a finite"},
      {"forward --model " + m + " --prompt hi --memory most", "memory mode 'most': unknown"},
      {"forward --model " + m, "give --prompt or --prompt-file"},
      {"forward --model " + t.str("cut.safetensors") + " --prompt hi", "cut.safetensors"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.must_contain), std::string::npos) << c.args << "\n" << r.err;
    // One message: a single line on stderr.
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(t.path() / "o.st"));
}

}  // namespace
