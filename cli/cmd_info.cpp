// blockscribe info MODEL — prints the config (every section: [model], the [train] it was trained
// with, and the [generate] defaults `generate` starts from), parameter count and tensor table of
// a checkpoint.
#include <cstdio>

#include "cli/commands.h"
#include "core/checkpoint.h"
#include "core/fileio.h"

namespace bs::cli {

void add_info_command(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Show a checkpoint's config, parameter count and tensors");
  auto path = std::make_shared<std::string>();
  sub->add_option("model", *path, "Checkpoint (.safetensors)")->required();
  sub->callback([=] {
    Checkpoint ck = load_checkpoint(*path);
    const Model& m = *ck.model;
    std::printf("checkpoint     %s\n", path->c_str());
    // data_hash names the weights (a model card quotes it); distill_* the distillation round.
    for (const char* k : {"format_version", "data_hash", "train_step", "train_tokens",
                          "tokenizer_hash", "distill_student_steps", "distill_teacher_hash"}) {
      auto it = ck.metadata.find(k);
      if (it != ck.metadata.end()) std::printf("%-14s %s\n", k, it->second.c_str());
    }
    std::printf("tokenizer      %d pieces\n", ck.tokenizer->vocab_size());
    std::printf("parameters     %zu (%.2f M, %.1f MiB as F32)\n", m.num_params(),
                double(m.num_params()) / 1e6, double(m.num_params()) * 4 / (1 << 20));
    std::printf("max context    %d rows\n\n", m.config().max_context());
    std::printf("%s\n", ck.config.to_toml().c_str());
    std::printf("%-34s %-14s %10s\n", "tensor", "shape", "numel");
    for (const auto& t : m.tensors()) {
      std::string shape;
      for (int d : t.shape) {
        if (!shape.empty()) shape += 'x';
        shape += std::to_string(d);
      }
      std::printf("%-34s %-14s %10zu\n", t.name.c_str(), shape.c_str(), t.numel);
    }
  });
}

}  // namespace bs::cli
