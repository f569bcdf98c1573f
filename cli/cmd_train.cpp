// blockscribe train — trains a summary-token block-diffusion model on a prepared corpus.
//
//   blockscribe train --config samples/configs/story-small.toml [--set k=v] [--resume]
//                     [--time-budget SECONDS]
//
// Writes train.out/{state,model}.safetensors every train.checkpoint_every steps, at the end, on
// Ctrl-C/SIGTERM and when the time budget runs out; metrics.jsonl gets one line per logged step
// and per evaluation. A non-finite loss or gradient stops the run and keeps the last checkpoint.
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/stream_output.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "core/heap.h"
#include "corpus/prepare.h"
#include "eval/evaluate.h"
#include "kernels/thread_pool.h"
#include "training/trainer.h"

namespace bs::cli {
namespace {

struct TrainArgs {
  ConfigArgs cfg;
  std::string resume_dir;  // --resume DIR (empty: train.out of the config)
  CLI::Option* resume = nullptr;
  double time_budget = 0;
  std::string teacher;  // --teacher CKPT: distil a student of that teacher
  std::string device = "cpu";
  int student_steps = 0;  // --student-steps S
};

std::string fmt_duration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = long(s);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

// Keeps only the metric lines of steps <= step (a resumed run rewrites what came after). A line
// that is not a metrics object is refused naming the file and line (nothing is rewritten then).
void trim_metrics(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  for (int ln = 1; std::getline(in, line); ++ln) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
      throw Error(path + ":" + std::to_string(ln),
                  "is not a metrics line (a JSON object with an integer \"step\"); move the file "
                  "aside to resume");
    if (j["step"].get<int64_t>() <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

// The run's config. A new run: defaults <- --config <- --set. A resumed run: the checkpoint's
// config <- --config <- --set, so nothing has to be given again (train.out is DIR when --resume
// names one).
Config run_config(const TrainArgs& a, std::optional<Checkpoint>& state,
                  std::optional<Checkpoint>& teacher) {
  if (!a.teacher.empty()) teacher.emplace(load_checkpoint(a.teacher));
  if (!a.resume->count()) {
    if (!teacher) return a.cfg.load();
    // A distillation run starts from its teacher's config (and weights): --config and --set
    // change [train] and [generate]; the [model] must stay the teacher's.
    Config cfg = teacher->config;
    if (!a.cfg.path.empty()) cfg.load_file(a.cfg.path);
    for (const std::string& o : a.cfg.sets) cfg.apply_override(o);
    const auto diff = cfg.differences(teacher->config, "model");
    if (!diff.empty())
      throw Error(a.cfg.path.empty() ? "--set" : a.cfg.path,
                  diff.front().key + " is " + diff.front().value + ", the teacher's " +
                      diff.front().other + ": a student has its teacher's [model]");
    cfg.validate();
    return cfg;
  }
  std::string out = a.resume_dir;
  if (out.empty()) out = a.cfg.load().train.out;
  const std::string path = out + "/state.safetensors";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(path, "nothing to resume: file not found (a run keeps it in its train.out)");
  state.emplace(load_checkpoint(path));
  Config cfg = state->config;
  if (!a.cfg.path.empty()) cfg.load_file(a.cfg.path);
  for (const std::string& o : a.cfg.sets) cfg.apply_override(o);
  cfg.train.out = out;
  cfg.validate();
  return cfg;
}

void run_train(const TrainArgs& a) {
  keep_freed_memory();  // each step reuses the last step's buffers (core/heap.h)
  const kernels::Backend& be = device_backend(a.device);
  std::optional<Checkpoint> saved, teacher;
  Config cfg = run_config(a, saved, teacher);
  const TrainConfig& tc = cfg.train;
  if (tc.data.empty())
    throw Error("train.data",
                "no corpus folder given (set it in the config or --set train.data=DIR)");
  const std::string state = tc.out + "/state.safetensors", metrics = tc.out + "/metrics.jsonl";
  std::error_code ec;
  if (!saved && std::filesystem::exists(state, ec))
    throw Error(tc.out,
                "already holds a training run (state.safetensors): continue it with `blockscribe "
                "train --resume " +
                    tc.out + "`, or choose another train.out");
  // Distillation: the teacher, and the student's steps (a resumed run's from its state),
  // checked before anything else so that an inconsistent request is refused even when there
  // is nothing to do.
  int student_steps = a.student_steps;
  std::string teacher_hash;
  if (saved) {
    const auto& md = saved->metadata;
    const bool was = md.count("distill_teacher_hash") > 0;
    if (was && !teacher)
      throw UsageError("--teacher", "missing: the run in " + tc.out +
                                        " distils from a teacher (data hash " +
                                        md.at("distill_teacher_hash") + "); give it again");
    if (!was && teacher)
      throw UsageError("--teacher", "the run in " + tc.out + " is not a distillation run");
    if (was) {
      const int s = int(
          parse_int(md.at("distill_student_steps"), 1, 1 << 20, state + " distill_student_steps"));
      if (student_steps != 0 && student_steps != s)
        throw UsageError("--student-steps", std::to_string(student_steps) + ", but the run in " +
                                                tc.out + " distils for " + std::to_string(s));
      student_steps = s;
    }
  }
  if (teacher) {
    if (student_steps == 0)
      throw UsageError("--student-steps", "missing: the steps per block the student is for");
    if (student_steps > cfg.model.block)
      throw UsageError("--student-steps", std::to_string(student_steps) +
                                              " is more than the block's " +
                                              std::to_string(cfg.model.block) + " positions");
    // The student's checkpoint generates with the steps it was trained for.
    cfg.generate.steps = student_steps;
    teacher_hash = teacher->metadata.at("data_hash");
    if (saved && saved->metadata.at("distill_teacher_hash") != teacher_hash)
      throw Error(a.teacher, "is not the teacher the run in " + tc.out + " distils from");
  }
  if (saved) {
    if (!saved->metadata.count("train_step"))
      throw Error(tc.out + "/state.safetensors", "is not a training state (no train_step)");
    const int64_t at = parse_int(saved->metadata.at("train_step"), 0, INT64_MAX,
                                 tc.out + "/state.safetensors train_step");
    if (at >= tc.steps) {
      std::fprintf(stderr,
                   "train: the run in %s is at step %lld and train.steps is %d: nothing to do "
                   "(continue it with --resume %s --set train.steps=N, N > %lld)\n",
                   tc.out.c_str(), (long long)at, tc.steps, tc.out.c_str(), (long long)at);
      return;
    }
  }
  // Temporaries of checkpoints a killed run was writing (write_file_atomic's "*.tmp-PID").
  for (const char* f : {"state.safetensors.tmp-", "model.safetensors.tmp-", "metrics.jsonl.tmp-"})
    remove_stale(tc.out, f);
  PreparedCorpus corpus = open_prepared_corpus(tc.data);
  if (corpus.tokenizer.vocab_size() != cfg.model.vocab)
    throw Error(tc.data + "/tokenizer.model",
                "tokenizer has " + std::to_string(corpus.tokenizer.vocab_size()) +
                    " pieces but model.vocab is " + std::to_string(cfg.model.vocab) +
                    " (use --set model.vocab=" + std::to_string(corpus.tokenizer.vocab_size()) +
                    ")");
  const int E = cfg.model.header_tokens;
  auto train = load_blocks(corpus.train, cfg.model.block, corpus.tokenizer, E);
  auto val = load_blocks(corpus.val, cfg.model.block, corpus.tokenizer, E);
  std::unique_ptr<Trainer> tr;
  if (teacher && teacher->tokenizer->hash() != corpus.tokenizer.hash())
    throw Error(a.teacher,
                "was trained with another tokenizer than " + tc.data + "/tokenizer.model");
  if (saved) {
    if (saved->tokenizer->hash() != corpus.tokenizer.hash())
      throw Error(state, "was trained with another tokenizer than " + tc.data + "/tokenizer.model");
    tr = Trainer::resume(std::move(*saved), state, cfg, std::move(train));
    trim_metrics(metrics, tr->steps_done());
    std::fprintf(stderr, "train: resuming %s at step %lld\n", state.c_str(),
                 (long long)tr->steps_done());
  } else {
    std::filesystem::create_directories(tc.out);
    if (teacher) {  // the student starts as its teacher
      auto student = std::make_unique<Model>(cfg.model);
      std::copy(teacher->model->params.begin(), teacher->model->params.end(),
                student->params.begin());
      tr = std::make_unique<Trainer>(cfg, std::move(corpus.tokenizer), std::move(train),
                                     std::move(student));
    } else {
      tr = std::make_unique<Trainer>(cfg, std::move(corpus.tokenizer), std::move(train));
    }
    write_file_atomic(metrics, "");
  }
  tr->set_backend(be);
  if (teacher) {
    tr->set_distill(std::move(teacher->model), student_steps, teacher_hash);
    std::fprintf(stderr, "train: distilling %s for %d steps per block\n", a.teacher.c_str(),
                 student_steps);
  }
  std::fprintf(stderr,
               "train: %zu parameters, %d threads, batch %d x %d blocks of %d, %d steps -> %s\n",
               tr->model().num_params(), num_threads(), tc.batch, tc.unroll, cfg.model.block,
               tc.steps, tc.out.c_str());

  std::ofstream log(metrics, std::ios::app);
  auto write_metric = [&](const nlohmann::json& j) {
    log << j.dump() << "\n";
    log.flush();
  };
  std::optional<SignalGuard> signals(std::in_place);
  StreamOutput out(false);  // a status line on stderr only
  double run_seconds = 0, ema_tok_s = 0, eval_seconds = 0;
  int64_t last_saved = tr->steps_done();
  auto save = [&] {
    tr->save(tc.out);
    last_saved = tr->steps_done();
  };
  // Evaluations still to come (every eval_every steps and at the end), each taking as long as
  // the last one did: part of the ETA.
  auto evals_left = [&](int64_t step) {
    if (tc.eval_every <= 0) return int64_t(0);
    const int64_t ahead = tc.steps / tc.eval_every - step / tc.eval_every;
    return ahead + (tc.steps % tc.eval_every != 0 && step < tc.steps);
  };
  const std::string resume_hint = "continue with `blockscribe train --resume " + tc.out + "`";
  try {
    while (tr->steps_done() < tc.steps) {
      StepStats s = tr->step();
      run_seconds += s.seconds;
      const double tok_s = s.tokens / std::max(1e-9, s.seconds);
      ema_tok_s = ema_tok_s == 0 ? tok_s : 0.9 * ema_tok_s + 0.1 * tok_s;
      const double eta = double(tc.steps - s.step) * (s.tokens / std::max(1.0, ema_tok_s)) +
                         double(evals_left(s.step)) * eval_seconds;
      if (s.step % tc.log_every == 0 || s.step == tc.steps || s.step == 1)
        write_metric({{"step", s.step},
                      {"loss", s.loss},
                      {"lr", decimal(s.lr)},
                      {"grad_norm", s.grad_norm},
                      {"tokens", tr->tokens_seen()},
                      {"tok_s", tok_s},
                      {"gflop_s", s.flops / std::max(1e-9, s.seconds) / 1e9},
                      {"elapsed", tr->elapsed()}});
      char line[160];
      std::snprintf(line, sizeof line, "step %lld/%d  loss %.4f  %.0f tok/s  ETA %s",
                    (long long)s.step, tc.steps, s.loss, ema_tok_s, fmt_duration(eta).c_str());
      if (out.has_status())
        out.status(line);
      else if (s.step % tc.log_every == 0 || s.step == tc.steps)
        std::fprintf(stderr, "%s\n", line);
      if (tc.eval_every > 0 && (s.step % tc.eval_every == 0 || s.step == tc.steps)) {
        if (out.has_status()) out.status(std::string(line) + "  (evaluating)");
        const auto e0 = std::chrono::steady_clock::now();
        const double v = validation_nll(tr->model(), val, tc, be);
        eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
        if (std::isfinite(v)) {
          write_metric({{"step", s.step}, {"val_nll", v}, {"tokens", tr->tokens_seen()}});
          char msg[120];
          std::snprintf(msg, sizeof msg, "step %lld  validation NLL bound %.4f nats/token",
                        (long long)s.step, v);
          out.note(msg);
        }
      }
      if (tc.checkpoint_every > 0 && s.step % tc.checkpoint_every == 0) save();
      if (SignalGuard::caught()) break;
      if (a.time_budget > 0 && run_seconds >= a.time_budget) {
        out.note("train: time budget of " + shortest(float(a.time_budget)) + " s reached at step " +
                 std::to_string(s.step) + " of " + std::to_string(tc.steps) + "; " + resume_hint);
        break;
      }
    }
  } catch (const Error& e) {
    signals.reset();
    out.clear_status();
    const bool any = std::filesystem::exists(state);
    throw Error(e.what(), any ? "training stopped; the last good checkpoint (step " +
                                    std::to_string(last_saved) + ") is kept in " + tc.out
                              : "training stopped before any checkpoint was written");
  }
  if (tr->steps_done() != last_saved) save();
  const int sig = SignalGuard::caught();
  signals.reset();
  out.clear_status();
  std::fprintf(stderr,
               "train: step %lld, %lld tokens, %s of training; checkpoint %s/model.safetensors\n",
               (long long)tr->steps_done(), (long long)tr->tokens_seen(),
               fmt_duration(tr->elapsed()).c_str(), tc.out.c_str());
  if (sig) {
    std::fprintf(stderr, "train: interrupted; %s\n", resume_hint.c_str());
    throw ExitCode{128 + sig};
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* sub =
      app.add_subcommand("train", "Train a model on a prepared corpus (see train.* in the config)");
  a->cfg.add_to(sub);
  a->resume = sub->add_option("--resume", a->resume_dir,
                              "Continue the run in DIR (default: train.out) from its "
                              "state.safetensors, with its config; --config/--set change keys")
                  ->expected(0, 1)
                  ->type_name("[DIR]");
  sub->add_option("--teacher", a->teacher,
                  "Distil: train a student (starting as this checkpoint) to write a block in "
                  "--student-steps steps (docs/TRAINING.md §Distillation)");
  sub->add_option("--student-steps", a->student_steps,
                  "The student's denoising steps per block (with --teacher)")
      ->check(IntRange(1, 1 << 20));
  sub->add_option("--time-budget", a->time_budget,
                  "Stop (with a checkpoint) after this many seconds of training")
      ->check(NumberRange(0, 1e12));
  add_device_option(sub, a->device);
  sub->callback([a] { run_train(*a); });
}

}  // namespace bs::cli
