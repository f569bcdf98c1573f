// blockscribe — command-line entry point. A thin layer: parse, dispatch, report errors.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/thread_pool.h"

int main(int argc, char** argv) {
  CLI::App app{
      "blockscribe — writes long documents block by block with a masked diffusion model,\n"
      "learned summary-token memory and an entity/timeline store.\n"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "blockscribe 0.1.0");
  int threads = 1;
  app.add_option("-t,--threads", threads, "CPU threads for the kernels")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.parse_complete_callback([&] { bs::set_num_threads(threads); });

  bs::cli::add_corpus_command(app);
  bs::cli::add_tokenizer_command(app);
  bs::cli::add_init_command(app);
  bs::cli::add_info_command(app);
  bs::cli::add_forward_command(app);
  bs::cli::add_train_command(app);
  bs::cli::add_eval_command(app);
  bs::cli::add_plot_command(app);
  bs::cli::add_generate_command(app);
  bs::cli::add_resume_command(app);
  bs::cli::add_memory_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // usage errors: exit code 2 or more, message from CLI11
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "blockscribe: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "blockscribe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
