// blockscribe convert — rewrites a checkpoint with its weights in another type: F16 or BF16 (half
// the size; what a shipped model uses) or F32. The config, tokenizer and metadata are kept; a
// training state's optimizer moments (train.* tensors) are not: the result is a model to use.
// --set generate.KEY=VALUE changes a generation default on the way (no weight depends on them).
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"

namespace bs::cli {

void add_convert_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "convert", "Rewrite a checkpoint with F16, BF16 or F32 weights (a model to use)");
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>("f16");
  auto force = std::make_shared<bool>(false);
  auto sets = std::make_shared<std::vector<std::string>>();
  sub->add_option("-m,--model", *in, "Checkpoint to read (.safetensors)")->required();
  sub->add_option("-o,--out", *out, "Checkpoint to write (.safetensors)")->required();
  sub->add_option("--weights", *type, "Weight type: f16 | bf16 | f32")->capture_default_str();
  sub->add_flag("--force", *force, "Overwrite an existing file");
  sub->add_option("--set", *sets,
                  "generate.KEY=VALUE: change a generation default (the [generate] section) in "
                  "the written checkpoint; repeatable")
      ->type_name("KEY=VALUE");
  sub->callback([=] {
    const WeightType w = parse_weight_type(*type);
    std::error_code ec;
    if (!*force && std::filesystem::exists(*out, ec))
      throw Error(*out, "already exists (use --force to overwrite)");
    if (std::filesystem::exists(*out, ec) && std::filesystem::equivalent(*in, *out, ec))
      throw Error(*out, "is the checkpoint being read: write to another file");
    for (const std::string& o : *sets)
      if (o.rfind("generate.", 0) != 0)
        throw UsageError("--set", "'" + o + "': convert changes only generate.* keys");
    Checkpoint ck = load_checkpoint(*in);
    for (const std::string& o : *sets) ck.config.apply_override(o);
    ck.config.validate();
    std::map<std::string, std::string> keep;  // the rest is rewritten by save_checkpoint
    for (const auto& [k, v] : ck.metadata)
      if (k.rfind("train_", 0) == 0 || k.rfind("distill_", 0) == 0) keep[k] = v;
    save_checkpoint(*out, ck.config, *ck.model, *ck.tokenizer, keep, {}, w);
    std::fprintf(stderr, "convert: %s -> %s (%s weights, %.1f MiB)\n", in->c_str(), out->c_str(),
                 type->c_str(), double(std::filesystem::file_size(*out)) / (1 << 20));
  });
}

}  // namespace bs::cli
