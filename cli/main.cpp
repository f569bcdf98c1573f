// blockscribe — command-line entry point. A thin layer: parse, dispatch, report errors.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/format.h"
#include "kernels/thread_pool.h"

namespace {

// -t/--threads before the command or after any command's name (`generate -t 2`).
void add_threads(CLI::App* app, int& threads) {
  app->add_option("-t,--threads", threads, "CPU threads for the kernels (default: all cores)")
      ->check(bs::cli::IntRange(1, 256))
      ->capture_default_str();
  for (CLI::App* sub : app->get_subcommands({})) add_threads(sub, threads);
}

std::vector<std::string> names(const CLI::App* app, const std::string& prefix) {
  std::vector<std::string> out;
  for (const CLI::App* sub : app->get_subcommands({})) out.push_back(prefix + sub->get_name());
  for (const CLI::Option* o : app->get_options())
    for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
  return out;
}

// "unknown: genrate (did you mean 'generate'?)" for arguments CLI11 could not place.
std::string did_you_mean(const CLI::App& app, const std::vector<std::string>& extras) {
  const CLI::App* at = &app;
  for (const CLI::App* sub : app.get_subcommands()) at = sub;  // the innermost parsed command
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  std::string msg;
  for (const std::string& e : extras) {
    const std::string word = e.substr(0, e.find('='));
    const std::string c = bs::closest(word, names(at, ""));
    if (!c.empty()) msg += "; '" + word + "': did you mean '" + c + "'?";
  }
  return msg;
}

// The value after -m/--model, when --help is asked for too (generate -m M --help).
std::string model_for_help(int argc, char** argv) {
  bool help = false, generate = false;
  std::string model;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    help = help || a == "-h" || a == "--help";
    generate = generate || a == "generate";
    if ((a == "-m" || a == "--model") && i + 1 < argc) model = argv[i + 1];
    if (a.rfind("--model=", 0) == 0) model = a.substr(8);
  }
  return help && generate ? model : "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "blockscribe — writes long documents block by block with a masked diffusion model,\n"
      "learned summary-token memory and an entity/timeline store.\n"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "blockscribe 0.1.0");
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));

  bs::cli::add_corpus_command(app);
  bs::cli::add_tokenizer_command(app);
  bs::cli::add_init_command(app);
  bs::cli::add_info_command(app);
  bs::cli::add_convert_command(app);
  bs::cli::add_forward_command(app);
  bs::cli::add_train_command(app);
  bs::cli::add_eval_command(app);
  bs::cli::add_plot_command(app);
  bs::cli::add_generate_command(app);
  bs::cli::add_resume_command(app);
  bs::cli::add_memory_command(app);
  add_threads(&app, threads);
  app.parse_complete_callback([&] { bs::set_num_threads(threads); });
  if (const std::string m = model_for_help(argc, argv); !m.empty())
    bs::cli::show_checkpoint_defaults(m);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors all end with code 2 (CLI11's own codes are 100+), with a did-you-mean.
    const CLI::App* at = &app;  // the innermost command that was parsed
    while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
    std::vector<std::string> extras = app.remaining();
    if (at != &app)
      for (const std::string& x : at->remaining()) extras.push_back(x);
    const std::string hint = did_you_mean(app, extras);
    std::fprintf(stderr, "blockscribe: usage: %s%s (see --help)\n", e.what(), hint.c_str());
    return bs::cli::kExitUsage;
  } catch (const bs::cli::ExitCode& e) {
    return e.code;
  } catch (const bs::cli::UsageError& e) {
    std::fprintf(stderr, "blockscribe: usage: %s\n", e.what());
    return bs::cli::kExitUsage;
  } catch (const bs::Error& e) {
    std::fprintf(stderr, "blockscribe: error: %s\n", e.what());
    return bs::cli::kExitError;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "blockscribe: error: out of memory\n");
    return bs::cli::kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "blockscribe: error: %s\n", e.what());
    return bs::cli::kExitError;
  }
  return 0;
}
