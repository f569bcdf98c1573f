#include "training/trainer.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <filesystem>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/format.h"
#include "corpus/shard.h"
#include "kernels/backward.h"
#include "training/distill.h"
#include "training/masking.h"

namespace bs {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Trainer::Trainer(const Config& cfg, Tokenizer tok, std::vector<DocBlocks> train)
    : Trainer(cfg, std::move(tok), std::move(train), [&] {
        auto m = std::make_unique<Model>(cfg.model);
        m->init_random();
        return m;
      }()) {}

Trainer::Trainer(const Config& cfg, Tokenizer tok, std::vector<DocBlocks> train,
                 std::unique_ptr<Model> model)
    : cfg_(cfg),
      tok_(std::move(tok)),
      train_(std::move(train)),
      model_(std::move(model)),
      adam_(*model_),
      grads_(model_->num_params(), 0.f) {
  BS_CHECK(!train_.empty(), "training data", "no training documents");
  // Training builds memories of at most burn_in + unroll - 1 blocks. A longer S_max would let
  // generation and evaluation build contexts the model never saw (measured: 0.04 nats/token worse
  // with 32 blocks than with 7 on the story model, docs/TRAINING.md).
  const int trained_mem = cfg_.train.burn_in + cfg_.train.unroll - 1;
  if (cfg_.model.max_memory_blocks > trained_mem)
    throw Error("model.max_memory_blocks",
                std::to_string(cfg_.model.max_memory_blocks) +
                    " is more than training ever builds (train.burn_in + train.unroll - 1 = " +
                    std::to_string(trained_mem) + "); lower it or raise train.burn_in");
  cum_blocks_.assign(1, 0);
  for (const auto& d : train_) cum_blocks_.push_back(cum_blocks_.back() + d.nblocks());
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& path, const Config& cfg,
                                         std::vector<DocBlocks> train) {
  return resume(load_checkpoint(path), path, cfg, std::move(train));
}

std::unique_ptr<Trainer> Trainer::resume(Checkpoint ck, const std::string& path, const Config& cfg,
                                         std::vector<DocBlocks> train) {
  // Two model keys change no parameter: max_memory_blocks (within the trained range the
  // constructor checks) and header_tokens (E rows are token embeddings), so a run may continue
  // with a corrected memory bound, or go on to learn the entity/timeline header.
  Config saved = ck.config;
  saved.model.max_memory_blocks = cfg.model.max_memory_blocks;
  saved.model.header_tokens = cfg.model.header_tokens;
  const std::vector<Config::Difference> diff = cfg.differences(saved, "model");
  if (!diff.empty()) {
    std::string keys;
    for (const auto& d : diff)
      keys +=
          (keys.empty() ? "" : "; ") + d.key + " is " + d.value + ", the checkpoint's " + d.other;
    throw Error(path,
                "its [model] section differs from the configuration given (resume needs "
                "the same model): " +
                    keys);
  }
  auto need = [&](const std::string& k) -> const std::string& {
    auto it = ck.metadata.find(k);
    if (it == ck.metadata.end())
      throw Error(path, "not a training state (metadata '" + k + "' missing)");
    return it->second;
  };
  const int64_t step = parse_int(need("train_step"), 0, INT64_MAX, path + " train_step");
  auto m = ck.extra.find("train.adam.m"), v = ck.extra.find("train.adam.v");
  if (m == ck.extra.end() || v == ck.extra.end() || m->second.size() != ck.model->num_params() ||
      v->second.size() != ck.model->num_params())
    throw Error(path, "not a training state (optimizer moments missing or mis-sized)");
  // The model takes the given config (those two keys may differ), with the saved weights.
  auto model = std::make_unique<Model>(cfg.model);
  BS_CHECK(model->num_params() == ck.model->num_params(), path, "parameter count differs");
  // Copied into the new buffer, not moved: the model's tensor views point into it.
  std::copy(ck.model->params.begin(), ck.model->params.end(), model->params.begin());
  std::unique_ptr<Trainer> t(
      new Trainer(cfg, std::move(*ck.tokenizer), std::move(train), std::move(model)));
  t->adam_.m = std::move(m->second);
  t->adam_.v = std::move(v->second);
  t->adam_.t = parse_int(need("train_adam_t"), 0, INT64_MAX, path + " train_adam_t");
  t->step_ = step;
  t->tokens_ = parse_int(need("train_tokens"), 0, INT64_MAX, path + " train_tokens");
  t->elapsed_ = parse_number(need("train_elapsed"), 0, 1e12, path + " train_elapsed");
  return t;
}

Trainer::~Trainer() = default;

void Trainer::set_backend(const kernels::Backend& be) {
  BS_CHECK(backend_ == &be || (!distill_ && step_ == 0), "trainer",
           "the backend is chosen before distillation is set up and before the first step");
  backend_ = &be;
}

void Trainer::set_distill(std::unique_ptr<Model> teacher, int student_steps,
                          std::string teacher_hash) {
  BS_CHECK(teacher && teacher->config().vocab == cfg_.model.vocab &&
               teacher->num_params() == model_->num_params() &&
               teacher->config().block == cfg_.model.block,
           "distillation", "the teacher must have the student's [model]");
  teacher_ = std::move(teacher);
  distill_ = std::make_unique<DistillTargets>(*teacher_, student_steps, *backend_);
  teacher_hash_ = std::move(teacher_hash);
}

Trainer::Window Trainer::sample_window(std::mt19937_64& rng) const {
  const int64_t g = int64_t(rng() % uint64_t(cum_blocks_.back()));
  const int doc =
      int(std::upper_bound(cum_blocks_.begin(), cum_blocks_.end(), g) - cum_blocks_.begin()) - 1;
  const int nb = train_[doc].nblocks(), B = cfg_.train.unroll;
  int first = int(g - cum_blocks_[doc]);
  first = std::max(0, std::min(first, nb - B));
  Window w;
  w.doc = doc;
  w.first = first;
  w.count = std::min(B, nb - first);
  w.burn = std::min(first, cfg_.train.burn_in);
  return w;
}

ContextMode Trainer::sample_mode(std::mt19937_64& rng) const {
  const TrainConfig& t = cfg_.train;
  const double u = uniform01(rng);
  if (u < t.memory_dropout) return ContextMode::window;
  if (u < t.memory_dropout + t.none_prob) return ContextMode::none;
  if (u < t.memory_dropout + t.none_prob + t.full_prob) return ContextMode::full;
  return ContextMode::summary;
}

// One micro-batch: batch windows, burn-in, unroll with backward. Returns Σ weight·nll.
double Trainer::micro_batch(std::mt19937_64& rng, float scale_base, int64_t& tokens,
                            double& flops) {
  const TrainConfig& tc = cfg_.train;
  BlockRunner runner(*model_, *backend_, tc.full_context);
  if (distill_)
    runner.set_soft_targets(
        [this](PassSeq& p, float t, std::mt19937_64& r) { distill_->fill(p, t, r); });
  std::vector<Window> wins;
  std::vector<DocState> states;
  int masked_blocks = 0;
  for (int i = 0; i < tc.batch; ++i) {
    Window w = sample_window(rng);
    DocState s;
    s.doc = &train_[w.doc];
    s.next = w.first - w.burn;
    wins.push_back(w);
    states.push_back(std::move(s));
    masked_blocks += w.count;
  }
  // Burn-in: summaries of up to burn_in earlier blocks, no gradient.
  for (int k = 0;; ++k) {
    std::vector<BlockJob> jobs;
    for (size_t i = 0; i < wins.size(); ++i)
      if (k < wins[i].burn) {
        BlockJob j;
        j.doc = int(i);
        jobs.push_back(j);
      }
    if (jobs.empty()) break;
    std::mt19937_64 unused(0);
    flops += runner.run(states, jobs, unused, -1).flops;
  }
  // The unroll: stratified rates over all its blocks.
  std::vector<float> rates = stratified_rates(masked_blocks, tc.mask_eps, rng);
  const float scale = scale_base / float(cfg_.model.block * masked_blocks);
  std::vector<Stage> stages;
  size_t r = 0;
  double loss = 0;
  for (int b = 0; b < tc.unroll; ++b) {
    std::vector<BlockJob> jobs;
    for (size_t i = 0; i < wins.size(); ++i) {
      if (b >= wins[i].count) continue;
      BlockJob j;
      j.doc = int(i);
      j.rates = {rates[r++]};
      j.modes = {sample_mode(rng)};
      j.scale = scale;
      j.clean = b + 1 < wins[i].count;  // the last block's summary would feed nothing
      j.grad = !distill_;  // distillation trains the in-block steps, not the memory path
      jobs.push_back(std::move(j));
    }
    if (jobs.empty()) break;
    stages.push_back(runner.run(states, jobs, rng, int(stages.size())));
    loss += stages.back().loss;
    tokens += int64_t(jobs.size()) * cfg_.model.block;
  }
  runner.backward(stages, states, grads_.data());
  for (const Stage& st : stages) flops += st.flops;
  return loss;
}

StepStats Trainer::step() {
  const double t0 = now();
  const TrainConfig& tc = cfg_.train;
  std::mt19937_64 rng(splitmix64(tc.seed * 0x100000001B3ull ^ splitmix64(uint64_t(step_))));
  std::fill(grads_.begin(), grads_.end(), 0.f);
  StepStats s;
  double loss = 0;
  for (int a = 0; a < tc.accum; ++a)
    loss += micro_batch(rng, 1.f / float(tc.accum), s.tokens, s.flops);
  const float lr = lr_at(tc, step_);
  if (!std::isfinite(loss))
    throw Error("training step " + std::to_string(step_ + 1),
                "loss is " + std::to_string(loss) + " (not finite)");
  // AdamW leaves the weights untouched when the gradient norm is not finite.
  try {
    s.grad_norm = adam_.step(model_->params, grads_, tc, lr, *backend_->grad);
  } catch (const Error& e) {
    throw Error("training step " + std::to_string(step_ + 1), e.what());
  }
  if (!std::isfinite(s.grad_norm))
    throw Error("training step " + std::to_string(step_ + 1), "gradient norm is not finite");
  ++step_;
  tokens_ += s.tokens;
  s.step = step_;
  s.loss = loss;
  s.lr = lr;
  s.seconds = now() - t0;
  elapsed_ += s.seconds;
  return s;
}

void Trainer::save(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  std::map<std::string, std::string> meta = {
      {"train_step", std::to_string(step_)},
      {"train_adam_t", std::to_string(adam_.t)},
      {"train_tokens", std::to_string(tokens_)},
      {"train_elapsed", std::to_string(elapsed_)},
  };
  if (distill_) {
    meta["distill_student_steps"] = std::to_string(distill_->student_steps());
    meta["distill_teacher_hash"] = teacher_hash_;
  }
  save_checkpoint(dir + "/state.safetensors", cfg_, *model_, tok_, meta,
                  {{"train.adam.m", &adam_.m}, {"train.adam.v", &adam_.v}});
  save_checkpoint(dir + "/model.safetensors", cfg_, *model_, tok_, meta);
}

}  // namespace bs
