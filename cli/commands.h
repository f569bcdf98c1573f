// Subcommand registration. Each cli/cmd_*.cpp adds its subcommand(s) to the app; main() owns
// parsing and error reporting. Handlers throw bs::Error (or ExitCode, cli/common.h); they never
// exit().
#pragma once
#include <CLI/CLI.hpp>

namespace bs::cli {

void add_corpus_command(CLI::App& app);     // corpus prepare
void add_tokenizer_command(CLI::App& app);  // tokenizer train|encode|decode
void add_info_command(CLI::App& app);       // info MODEL
void add_forward_command(CLI::App& app);    // forward (runs the model on a prompt)
void add_init_command(CLI::App& app);       // init (writes a randomly initialised checkpoint)
void add_convert_command(CLI::App& app);    // convert (F16 / BF16 / F32 weights)
void add_train_command(CLI::App& app);      // train
void add_eval_command(CLI::App& app);       // eval (NLL bound per memory mode)
void add_plot_command(CLI::App& app);       // plot (loss curves to SVG)
void add_generate_command(CLI::App& app);   // generate (block-by-block writing)
void add_resume_command(CLI::App& app);     // resume (continue a session)
void add_memory_command(CLI::App& app);     // memory (inspect a session)

// `generate --model M --help`: the help shows M's [generate] defaults (main calls this before
// parsing when both are on the command line).
void show_checkpoint_defaults(const std::string& model_path);

}  // namespace bs::cli
