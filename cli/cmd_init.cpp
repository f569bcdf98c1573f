// blockscribe init — writes a freshly initialised model checkpoint for a config and tokenizer.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint.h"
#include "core/error.h"

namespace bs::cli {

void add_init_command(CLI::App& app) {
  auto* sub = app.add_subcommand("init", "Write a randomly initialised model checkpoint");
  auto cfg = std::make_shared<ConfigArgs>();
  auto tok = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  cfg->add_to(sub);
  sub->add_option("--tokenizer", *tok, "SentencePiece .model made by `tokenizer train`")
      ->required();
  sub->add_option("-o,--out", *out, "Checkpoint to write (.safetensors)")->required();
  sub->add_flag("--force", *force, "Overwrite an existing checkpoint");
  sub->callback([=] {
    if (!*force && std::filesystem::exists(*out))
      throw Error(*out, "already exists (use --force to overwrite)");
    Config c = cfg->load();
    Tokenizer t = Tokenizer::load(*tok);
    if (t.vocab_size() != c.model.vocab)
      throw Error(*tok, "tokenizer has " + std::to_string(t.vocab_size()) +
                            " pieces but model.vocab is " + std::to_string(c.model.vocab) +
                            " (use --set model.vocab=" + std::to_string(t.vocab_size()) + ")");
    Model m(c.model);
    m.init_random();
    save_checkpoint(*out, c, m, t, {{"train_step", "0"}});
    std::cerr << "wrote " << *out << " (" << m.num_params() << " parameters)\n";
  });
}

}  // namespace bs::cli
