// The blockwise trainer (DESIGN.md §5): B consecutive blocks per document, masked pass with the
// real context, clean pass for the summary that becomes the next block's memory, backward
// through the summaries across the B blocks; AdamW; checkpoints with optimizer state for
// bit-for-bit resume.
//
// Step s (0-based) draws everything random from a generator seeded by (train.seed, s), so a
// resumed run needs no saved generator state and repeats the same batches, masks and modes.
//
// Files in train.out:
//   state.safetensors  weights + tokenizer + "train.adam.m"/"train.adam.v" + metadata (step,
//                      tokens, elapsed): what --resume reads
//   model.safetensors  weights + tokenizer only: what generate/eval/info read
//   metrics.jsonl      one JSON object per logged step / evaluation
// Both checkpoint files are written to a temporary file and renamed.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/model.h"
#include "kernels/backend.h"
#include "text/tokenizer.h"
#include "training/adamw.h"
#include "training/block_runner.h"

namespace bs {

struct StepStats {
  int64_t step = 0;      // optimizer steps done after this one
  double loss = 0;       // mean NLL-bound estimate of the step's blocks (nats/token)
  double grad_norm = 0;  // before clipping
  float lr = 0;
  int64_t tokens = 0;  // block tokens trained in this step
  double seconds = 0;  // wall time of this step
  double flops = 0;    // model FLOPs of the step's passes (burn-in forward, unroll 3× forward)
};

class DistillTargets;

class Trainer {
 public:
  // Fresh run: a new model initialised from cfg.model.init_seed.
  Trainer(const Config& cfg, Tokenizer tok, std::vector<DocBlocks> train);
  // Fresh run from given weights (a distillation student starts as its teacher).
  Trainer(const Config& cfg, Tokenizer tok, std::vector<DocBlocks> train,
          std::unique_ptr<Model> model);
  ~Trainer();
  // Continues from a state checkpoint (the model and optimizer state it holds). cfg's [model]
  // must be the checkpoint's but for model.max_memory_blocks and model.header_tokens, which
  // change no parameter; a difference is refused naming the keys.
  static std::unique_ptr<Trainer> resume(const std::string& state_path, const Config& cfg,
                                         std::vector<DocBlocks> train);
  static std::unique_ptr<Trainer> resume(Checkpoint ck, const std::string& state_path,
                                         const Config& cfg, std::vector<DocBlocks> train);

  // One optimizer step. Throws bs::Error when the loss or gradient is not finite (no update
  // is applied then).
  StepStats step();
  void save(const std::string& dir) const;  // state.safetensors, then model.safetensors

  // Distillation mode (training/distill.h): the model being trained is a student, each masked
  // pass's targets are the teacher's two-step distributions for a student of student_steps
  // steps per block, and no gradient flows through the memory. teacher_hash identifies the
  // teacher in the checkpoints (a resume must name the same one). Call before the first step.
  void set_distill(std::unique_ptr<Model> teacher, int student_steps, std::string teacher_hash);
  // The backend every pass runs on (default kernels::cpu_backend()); call before set_distill
  // and the first step.
  void set_backend(const kernels::Backend& be);
  const kernels::Backend& backend() const { return *backend_; }
  bool distilling() const { return distill_ != nullptr; }

  const Model& model() const { return *model_; }
  Model& model() { return *model_; }
  const Config& config() const { return cfg_; }
  const Tokenizer& tokenizer() const { return tok_; }
  int64_t steps_done() const { return step_; }
  int64_t tokens_seen() const { return tokens_; }
  double elapsed() const { return elapsed_; }  // training seconds, summed over runs

 private:
  struct Window {
    int doc, first, burn, count;  // burn: blocks before `first` summarised without gradient
  };
  Window sample_window(std::mt19937_64& rng) const;
  ContextMode sample_mode(std::mt19937_64& rng) const;
  double micro_batch(std::mt19937_64& rng, float scale, int64_t& tokens, double& flops);

  Config cfg_;
  Tokenizer tok_;
  std::vector<DocBlocks> train_;
  std::vector<int64_t> cum_blocks_;  // prefix sums of train block counts
  std::unique_ptr<Model> model_;
  AdamW adam_;
  std::vector<float> grads_;
  const kernels::Backend* backend_ = &kernels::cpu_backend();
  std::unique_ptr<Model> teacher_;
  std::unique_ptr<DistillTargets> distill_;
  std::string teacher_hash_;
  int64_t step_ = 0, tokens_ = 0;
  double elapsed_ = 0;
};

}  // namespace bs
