// blockscribe train — trains a summary-token block-diffusion model on a prepared corpus.
//
//   blockscribe train --config samples/configs/story-small.toml [--set k=v] [--resume]
//                     [--time-budget SECONDS]
//
// Writes train.out/{state,model}.safetensors every train.checkpoint_every steps, at the end, on
// Ctrl-C/SIGTERM and when the time budget runs out; metrics.jsonl gets one line per logged step
// and per evaluation. A non-finite loss or gradient stops the run and keeps the last checkpoint.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/heap.h"
#include "kernels/thread_pool.h"
#include "corpus/prepare.h"
#include "eval/evaluate.h"
#include "training/trainer.h"

namespace bs::cli {
namespace {

struct TrainArgs {
  ConfigArgs cfg;
  bool resume = false;
  double time_budget = 0;
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

// Keeps only the metric lines of steps <= step (a resumed run rewrites what came after).
void trim_metrics(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step")) continue;
    if (j["step"].get<int64_t>() <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void run_train(const TrainArgs& a) {
  keep_freed_memory();  // each step reuses the last step's buffers (core/heap.h)
  Config cfg = a.cfg.load();
  const TrainConfig& tc = cfg.train;
  if (tc.data.empty())
    throw Error("train.data",
                "no corpus folder given (set it in the config or --set train.data=DIR)");
  PreparedCorpus corpus = open_prepared_corpus(tc.data);
  if (corpus.tokenizer.vocab_size() != cfg.model.vocab)
    throw Error(tc.data + "/tokenizer.model",
                "tokenizer has " + std::to_string(corpus.tokenizer.vocab_size()) +
                    " pieces but model.vocab is " + std::to_string(cfg.model.vocab) +
                    " (use --set model.vocab=" + std::to_string(corpus.tokenizer.vocab_size()) +
                    ")");
  const std::string state = tc.out + "/state.safetensors", metrics = tc.out + "/metrics.jsonl";
  std::error_code ec;
  const bool have_state = std::filesystem::exists(state, ec);
  if (a.resume && !have_state) throw Error(state, "nothing to resume: file not found");
  if (!a.resume && have_state)
    throw Error(tc.out,
                "already holds a training run (state.safetensors): pass --resume, or choose "
                "another train.out");

  const int E = cfg.model.header_tokens;
  auto train = load_blocks(corpus.train, cfg.model.block, corpus.tokenizer, E);
  auto val = load_blocks(corpus.val, cfg.model.block, corpus.tokenizer, E);
  std::unique_ptr<Trainer> tr;
  if (a.resume) {
    tr = Trainer::resume(state, cfg, std::move(train));
    if (tr->tokenizer().hash() != corpus.tokenizer.hash())
      throw Error(state, "was trained with another tokenizer than " + tc.data + "/tokenizer.model");
    trim_metrics(metrics, tr->steps_done());
    std::fprintf(stderr, "train: resuming %s at step %lld\n", state.c_str(),
                 (long long)tr->steps_done());
  } else {
    std::filesystem::create_directories(tc.out);
    tr = std::make_unique<Trainer>(cfg, std::move(corpus.tokenizer), std::move(train));
    write_file_atomic(metrics, "");
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
  const bool tty = stderr_is_tty();
  double run_seconds = 0, ema_tok_s = 0;
  int64_t last_saved = tr->steps_done();
  auto save = [&] {
    tr->save(tc.out);
    last_saved = tr->steps_done();
  };
  try {
    while (tr->steps_done() < tc.steps) {
      StepStats s = tr->step();
      run_seconds += s.seconds;
      const double tok_s = s.tokens / std::max(1e-9, s.seconds);
      ema_tok_s = ema_tok_s == 0 ? tok_s : 0.9 * ema_tok_s + 0.1 * tok_s;
      const double eta = (tc.steps - s.step) * (s.tokens / std::max(1.0, ema_tok_s));
      if (s.step % tc.log_every == 0 || s.step == tc.steps || s.step == 1)
        write_metric({{"step", s.step},
                      {"loss", s.loss},
                      {"lr", s.lr},
                      {"grad_norm", s.grad_norm},
                      {"tokens", tr->tokens_seen()},
                      {"tok_s", tok_s},
                      {"gflop_s", s.flops / std::max(1e-9, s.seconds) / 1e9},
                      {"elapsed", tr->elapsed()}});
      if (tty) {
        std::fprintf(stderr, "\rstep %lld/%d  loss %.4f  %.0f tok/s  ETA %s   ", (long long)s.step,
                     tc.steps, s.loss, ema_tok_s, fmt_duration(eta).c_str());
      } else if (s.step % tc.log_every == 0 || s.step == tc.steps) {
        std::fprintf(stderr, "step %lld/%d  loss %.4f  %.0f tok/s  ETA %s\n", (long long)s.step,
                     tc.steps, s.loss, ema_tok_s, fmt_duration(eta).c_str());
      }
      if (tc.eval_every > 0 && (s.step % tc.eval_every == 0 || s.step == tc.steps)) {
        double v = validation_nll(tr->model(), val, tc);
        if (std::isfinite(v)) {
          write_metric({{"step", s.step}, {"val_nll", v}, {"tokens", tr->tokens_seen()}});
          std::fprintf(stderr, "%sstep %lld  validation NLL bound %.4f nats/token\n",
                       tty ? "\n" : "", (long long)s.step, v);
        }
      }
      if (tc.checkpoint_every > 0 && s.step % tc.checkpoint_every == 0) save();
      if (SignalGuard::caught()) break;
      if (a.time_budget > 0 && run_seconds >= a.time_budget) {
        std::fprintf(stderr, "%strain: time budget of %.0f s reached at step %lld\n",
                     tty ? "\n" : "", a.time_budget, (long long)s.step);
        break;
      }
    }
  } catch (const Error& e) {
    signals.reset();
    if (tty) std::fprintf(stderr, "\n");
    const bool any = std::filesystem::exists(state);
    throw Error(e.what(), any ? "training stopped; the last good checkpoint (step " +
                                    std::to_string(last_saved) + ") is kept in " + tc.out
                              : "training stopped before any checkpoint was written");
  }
  if (tr->steps_done() != last_saved) save();
  const int sig = SignalGuard::caught();
  signals.reset();
  if (tty) std::fprintf(stderr, "\n");
  std::fprintf(stderr,
               "train: step %lld, %lld tokens, %s of training; checkpoint %s/model.safetensors\n",
               (long long)tr->steps_done(), (long long)tr->tokens_seen(),
               fmt_duration(tr->elapsed()).c_str(), tc.out.c_str());
  if (sig) {
    std::fprintf(stderr, "train: interrupted; continue with --resume\n");
    throw ExitCode{128 + sig};
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* sub =
      app.add_subcommand("train", "Train a model on a prepared corpus (see train.* in the config)");
  a->cfg.add_to(sub);
  sub->add_flag("--resume", a->resume, "Continue the run in train.out from its state.safetensors");
  sub->add_option("--time-budget", a->time_budget,
                  "Stop (with a checkpoint) after this many seconds of training")
      ->check(CLI::NonNegativeNumber);
  sub->callback([a] { run_train(*a); });
}

}  // namespace bs::cli
