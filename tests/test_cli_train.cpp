// `blockscribe train|eval|plot` end to end on a tiny corpus: checkpoints and metrics, refusing
// to overwrite a run, SIGTERM writes a checkpoint and --resume then ends with exactly the weights
// of an uninterrupted run, the NaN stop, eval in all memory modes, the SVG plot, bad inputs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/checkpoint.h"
#include "core/fileio.h"
#include "tests/testutil.h"
#include "text/tokenizer.h"

namespace {

using bs::test::run_cli;

class CliTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new bs::test::TempDir();
    std::filesystem::create_directories(dir->path() / "docs");
    const char* names[] = {"Elizabeth", "Darcy", "Jane", "Bingley", "Lydia", "Wickham"};
    for (int d = 0; d < 30; ++d) {
      std::string text;
      for (int i = 0; i < 25; ++i)
        text += std::string(names[(d + i) % 6]) + " walked with " + names[(d * 7 + i * 5 + 1) % 6] +
                " to the house on day " + std::to_string(i) + ". They spoke of the letter. ";
      text += '\n';
      std::string name(1, 'd');  // "d" + to_string(d): GCC 12 warns falsely (-Wrestrict) on that
      name += std::to_string(d);
      name += ".txt";
      bs::test::write_file(dir->path() / "docs" / name, text);
    }
    auto r = run_cli("corpus prepare --source " + dir->str("docs") + " --out " + dir->str("data") +
                     " --vocab 320 --val-permille 100");
    if (r.exit_code != 0) {
      setup_error = "corpus prepare failed: " + r.err;
      return;
    }
    vocab = bs::Tokenizer::load(dir->str("data/tokenizer.model")).vocab_size();
  }
  static void TearDownTestSuite() { delete dir; }
  void SetUp() override { ASSERT_TRUE(setup_error.empty()) << setup_error; }

  // Common train arguments for a run in `out`.
  static std::string train_args(const std::string& out, int steps, const std::string& extra = "") {
    return "train --config " + std::string(BS_SOURCE_DIR) +
           "/samples/configs/tiny.toml --set model.vocab=" + std::to_string(vocab) +
           " --set train.data=" + dir->str("data") + " --set train.out=" + out +
           " --set train.steps=" + std::to_string(steps) + " --set train.eval_blocks=8 " + extra;
  }
  // Starts `args` (a run writing to `out`), stops it with SIGTERM once it has logged a step and
  // returns the step its checkpoint holds. A run that finishes before the signal arrives (a
  // stalled test process) is no trial: it is repeated; 0 after three such runs.
  static int interrupt(const std::string& args, const std::string& out) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::filesystem::remove_all(out);
      int fd = -1;
      const pid_t pid = bs::test::spawn_cli_piped(args, 2, &fd);
      // Its first step's progress line (stderr is a pipe: one line per logged step).
      bs::test::read_until(
          fd, [](const std::string& s) { return s.find("step 1/") != std::string::npos; });
      kill(pid, SIGTERM);
      bs::test::read_until(fd, [](const std::string&) { return false; });  // to its end
      close(fd);
      int status = 0;
      waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status));
      if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) continue;  // finished first
      EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
      EXPECT_TRUE(std::filesystem::exists(out + "/state.safetensors"))
          << "no checkpoint on SIGTERM";
      if (!std::filesystem::exists(out + "/model.safetensors")) return 0;
      return std::stoi(bs::load_checkpoint(out + "/model.safetensors").metadata.at("train_step"));
    }
    return 0;
  }
  static std::vector<float> weights(const std::string& path) {
    return bs::load_checkpoint(path).model->params;
  }

  static inline bs::test::TempDir* dir = nullptr;
  static inline std::string setup_error;
  static inline int vocab = 0;
};

TEST_F(CliTrain, TrainsWritesMetricsAndRefusesToOverwrite) {
  const std::string out = dir->str("run1");
  auto r = run_cli(train_args(
      out, 12, "--set train.checkpoint_every=5 --set train.log_every=2 --set train.eval_every=6"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(out + "/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(out + "/state.safetensors"));
  // metrics.jsonl: a JSON object per line, losses finite, validation at steps 6 and 12.
  std::ifstream in(out + "/metrics.jsonl");
  std::string line;
  int losses = 0, vals = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.contains("step")) << line;
    if (j.contains("loss")) {
      ++losses;
      EXPECT_TRUE(std::isfinite(j["loss"].get<double>()));
      EXPECT_GT(j["gflop_s"].get<double>(), 0.0) << line;
    }
    if (j.contains("val_nll")) ++vals;
  }
  EXPECT_EQ(losses, 7);  // steps 1, 2, 4, ..., 12
  EXPECT_EQ(vals, 2);
  auto info = run_cli("info " + out + "/model.safetensors");
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("train_step"), std::string::npos) << info.out;

  const std::string before = bs::test::read_file(out + "/state.safetensors");
  auto again = run_cli(train_args(out, 12));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already holds a training run"), std::string::npos) << again.err;
  EXPECT_EQ(bs::test::read_file(out + "/state.safetensors"), before);

  // plot: an SVG with the curves.
  auto p = run_cli("plot " + out + "/metrics.jsonl -o " + dir->str("loss.svg"));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::string svg = bs::test::read_file(dir->str("loss.svg"));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("validation NLL bound"), std::string::npos);

  // eval: one line per memory mode, a finite bound with an interval.
  auto e = run_cli("eval --model " + out + "/model.safetensors --data " + dir->str("data") +
                   " --memory all --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  std::istringstream lines(e.out);
  int modes = 0, paired = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_GT(j["ci95"].get<double>(), 0.0);
    if (j.contains("memory")) {
      EXPECT_GT(j["nll"].get<double>(), 0.0);
      EXPECT_GT(j["ci95_masks"].get<double>(), 0.0) << line;
      ++modes;
    } else {
      EXPECT_TRUE(j.contains("paired") && j.contains("diff")) << line;
      ++paired;
    }
  }
  EXPECT_EQ(modes, 4);
  EXPECT_EQ(paired, 3);  // window, full, none against summary

  // The tiny config has a header budget (E = 8): dropping E changes the bound.
  e = run_cli("eval --model " + out + "/model.safetensors --data " + dir->str("data") +
              " --memory summary,summary-no-header --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  std::istringstream hl(e.out);
  std::vector<nlohmann::json> js;
  while (std::getline(hl, line)) js.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(js.size(), 3u);
  EXPECT_EQ(js[1]["memory"], "summary-no-header");
  EXPECT_EQ(js[2]["paired"], "summary-no-header - summary");
  EXPECT_NE(js[2]["diff"].get<double>(), 0.0);
}

TEST_F(CliTrain, SigtermCheckpointsAndResumeEndsWithTheSameWeights) {
  const int steps = 200;
  const std::string a = dir->str("uninterrupted"), b = dir->str("interrupted");
  auto r = run_cli(train_args(a, steps, "--set train.eval_every=0"));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const int stopped =
      interrupt(train_args(b, steps, "--set train.eval_every=0 --set train.log_every=1"), b);
  ASSERT_GT(stopped, 0) << "three runs of " << steps << " steps ended before the signal arrived";
  ASSERT_LT(stopped, steps);

  // --resume DIR: the config comes from the checkpoint, nothing is given again.
  auto res = run_cli("train --resume " + b);
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.err.find("resuming"), std::string::npos) << res.err;
  EXPECT_EQ(weights(a + "/model.safetensors"), weights(b + "/model.safetensors"))
      << "stopped at step " << stopped;

  // Resuming a finished run says so and changes nothing.
  const std::string before = bs::test::read_file(b + "/state.safetensors");
  auto done = run_cli("train --resume " + b);
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_NE(done.err.find("is at step 200 and train.steps is 200: nothing to do"),
            std::string::npos)
      << done.err;
  EXPECT_EQ(bs::test::read_file(b + "/state.safetensors"), before);
  // A resume whose [model] differs names the key, and changes nothing.
  auto other = run_cli("train --resume " + b + " --set train.steps=300 --set model.ffn=96");
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("model.ffn is 96, the checkpoint's 64"), std::string::npos) << other.err;
  EXPECT_EQ(bs::test::read_file(b + "/state.safetensors"), before);
}

// Distillation from the command line: a student starts as its teacher, records the steps it is
// for (and generates with them), a SIGTERM'd run resumed with its teacher ends with exactly the
// weights of an uninterrupted one, and every inconsistent request is refused without a change.
TEST_F(CliTrain, DistillationResumesExactlyAndRefusesAMismatchedTeacher) {
  const std::string teacher = dir->str("teacher"), other = dir->str("other-teacher");
  ASSERT_EQ(run_cli(train_args(teacher, 20, "--set train.eval_every=0")).exit_code, 0);
  ASSERT_EQ(run_cli(train_args(other, 21, "--set train.eval_every=0")).exit_code, 0);
  const std::string t = teacher + "/model.safetensors";
  const int steps = 120;
  auto distil = [&](const std::string& out, const std::string& extra) {
    return "train --teacher " + t + " --student-steps 4 --set train.out=" + out +
           " --set train.steps=" + std::to_string(steps) +
           " --set train.eval_every=0 --set train.log_every=1 " + extra;
  };
  const std::string a = dir->str("student-a"), b = dir->str("student-b");
  auto r = run_cli(distil(a, ""));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("distilling " + t + " for 4 steps per block"), std::string::npos) << r.err;
  const bs::Checkpoint ck = bs::load_checkpoint(a + "/model.safetensors");
  EXPECT_EQ(ck.metadata.at("distill_student_steps"), "4");
  EXPECT_EQ(ck.metadata.at("distill_teacher_hash"),
            bs::load_checkpoint(t).metadata.at("data_hash"));
  EXPECT_EQ(ck.config.generate.steps, 4);
  EXPECT_NE(ck.model->params, weights(t)) << "the student did not move";

  const int stopped = interrupt(distil(b, ""), b);
  ASSERT_GT(stopped, 0) << "three runs of " << steps << " steps ended before the signal arrived";
  ASSERT_LT(stopped, steps);
  const std::string before = bs::test::read_file(b + "/state.safetensors");
  struct Case {
    std::string args, must_contain;
  } refused[] = {
      {"train --resume " + b, "--teacher: missing"},
      {"train --resume " + b + " --teacher " + other + "/model.safetensors",
       "is not the teacher the run in " + b + " distils from"},
      {"train --resume " + b + " --teacher " + t + " --student-steps 8",
       "--student-steps: 8, but the run in " + b + " distils for 4"},
      {"train --resume " + dir->str("teacher") + " --teacher " + t, "is not a distillation run"},
      {"train --teacher " + t + " --set train.out=" + dir->str("s-none"),
       "--student-steps: missing"},
      {"train --teacher " + t + " --student-steps 17 --set train.out=" + dir->str("s-17"),
       "--student-steps: 17 is more than the block's 16 positions"},
      {"train --teacher " + t +
           " --student-steps 4 --set model.ffn=96 --set train.out=" + dir->str("s-ffn"),
       "model.ffn is 96, the teacher's 64"},
      {"train --teacher " + dir->str("nowhere.safetensors") +
           " --student-steps 4 --set train.out=" + dir->str("s-nowhere"),
       "nowhere.safetensors"},
  };
  const std::string teacher_state = bs::test::read_file(teacher + "/state.safetensors");
  for (const auto& c : refused) {
    auto e = run_cli(c.args);
    EXPECT_NE(e.exit_code, 0) << c.args;
    EXPECT_NE(e.err.find(c.must_contain), std::string::npos) << c.args << "\n" << e.err;
  }
  EXPECT_EQ(bs::test::read_file(b + "/state.safetensors"), before);
  EXPECT_EQ(bs::test::read_file(teacher + "/state.safetensors"), teacher_state);
  for (const char* d : {"s-none", "s-17", "s-ffn", "s-nowhere"})
    EXPECT_FALSE(std::filesystem::exists(dir->path() / d)) << d;

  auto res = run_cli("train --resume " + b + " --teacher " + t);
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_EQ(weights(a + "/model.safetensors"), weights(b + "/model.safetensors"))
      << "stopped at step " << stopped;
}

TEST_F(CliTrain, ADamagedMetricsFileIsRefusedOnResumeNamingTheLine) {
  const std::string out = dir->str("metrics-damaged");
  ASSERT_EQ(run_cli(train_args(out, 4, "--set train.eval_every=0")).exit_code, 0);
  std::string m = bs::test::read_file(out + "/metrics.jsonl");
  m += "{\"step\": \"five\"}\n";
  bs::test::write_file(out + "/metrics.jsonl", m);
  const std::string state = bs::test::read_file(out + "/state.safetensors");
  auto r = run_cli("train --resume " + out + " --set train.steps=8");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("metrics.jsonl:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not a metrics line"), std::string::npos) << r.err;
  EXPECT_EQ(bs::test::read_file(out + "/metrics.jsonl"), m);
  EXPECT_EQ(bs::test::read_file(out + "/state.safetensors"), state);
}

TEST_F(CliTrain, ATimeBudgetStopSaysHowToContinue) {
  const std::string out = dir->str("budget");
  auto r = run_cli(train_args(out, 100000, "--set train.eval_every=0") + " --time-budget 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("time budget of 0.2 s reached at step"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("continue with `blockscribe train --resume " + out + "`"), std::string::npos)
      << r.err;
  EXPECT_TRUE(std::filesystem::exists(out + "/state.safetensors"));
}

TEST_F(CliTrain, NonFiniteLossStopsWithAClearMessage) {
  const std::string out = dir->str("nan");
  auto r = run_cli(train_args(
      out, 30,
      "--set train.lr=10 --set train.min_lr=10 --set train.warmup=0 --set train.beta2=0 "
      "--set train.grad_clip=0 --set train.checkpoint_every=1 --set train.eval_every=0"));
  EXPECT_NE(r.exit_code, 0);
  // A loss, gradient or update that is not finite: one line, the last one (progress lines may
  // precede it), naming the step.
  const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_EQ(last.rfind("blockscribe: error: training step ", 0), 0u) << r.err;
  EXPECT_NE(last.find("finite"), std::string::npos) << r.err;
  // A checkpoint left behind is loadable and finite; the message says whether there is one.
  const bool kept = r.err.find("the last good checkpoint") != std::string::npos;
  EXPECT_TRUE(kept || r.err.find("before any checkpoint was written") != std::string::npos)
      << r.err;
  ASSERT_EQ(std::filesystem::exists(out + "/model.safetensors"), kept) << r.err;
  if (kept) {
    for (float w : weights(out + "/model.safetensors")) ASSERT_TRUE(std::isfinite(w));
  }
}

TEST_F(CliTrain, BadInputsGiveOneClearMessage) {
  bs::test::TempDir t;
  bs::test::write_file(t.path() / "bad.jsonl", "{\"step\": 1, \"loss\": 2}\nnot json\n");
  const std::string cfg = std::string(BS_SOURCE_DIR) + "/samples/configs/tiny.toml";
  struct Case {
    std::string args, must_contain;
  } cases[] = {
      {"train --config " + cfg + " --set train.data=" + t.str("nowhere") +
           " --set train.out=" + t.str("o"),
       "nowhere"},
      {train_args(t.str("o2"), 5) + " --resume", "nothing to resume"},
      {"train --config " + cfg + " --set train.data=" + dir->str("data") +
           " --set train.out=" + t.str("o3") + " --set model.vocab=4096",
       "--set model.vocab=" + std::to_string(vocab)},
      {train_args(t.str("o4"), 5, "--set train.none_prob=0.9 --set train.memory_dropout=0.5"),
       "train.none_prob"},
      {"eval --model " + t.str("none.safetensors") + " --data " + dir->str("data"),
       "none.safetensors"},
      {"plot " + t.str("bad.jsonl") + " -o " + t.str("x.svg"), "bad.jsonl:2"},
      {"eval --model " + dir->str("run1/model.safetensors") + " --data " + dir->str("data") +
           " --memory summary,nope",
       "memory mode 'nope': unknown"},
      {train_args(t.str("o5"), 5) + " --time-budget nan",
       "--time-budget: 'nan' is not a number in [0, 1e+12]"},
      {train_args(t.str("o6"), 5, "--set train.log_every=0"),
       "'train.log_every' = 0 is not in [1, 1000000000]"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.must_contain), std::string::npos) << c.args << "\n" << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(t.path() / "x.svg"));
  EXPECT_FALSE(std::filesystem::exists(t.path() / "o3" / "state.safetensors"));
}

}  // namespace
