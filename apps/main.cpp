// bpr — the command-line program. Thin: each subcommand parses flags and calls the library.
// Errors from the library (bpr::Error) become one line on stderr and exit code 1; usage
// errors exit with CLI11's code (non-zero) and a hint to --help.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/commands.h"
#include "engine/error.h"

int main(int argc, char** argv) {
  CLI::App app{"bpr — bidirectional pruning-regrowth engine (C++17/CUDA, no DL framework)", "bpr"};
  app.require_subcommand(1);
  app.set_version_flag("--version", BPR_VERSION);
  bpr::app::add_train_command(app);
  bpr::app::add_eval_command(app);
  bpr::app::add_info_command(app);
  bpr::app::add_bench_command(app);
  bpr::app::add_data_command(app);
  bpr::app::add_pipeline_command(app);
  bpr::app::add_phase_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const bpr::app::CommandResult& r) {
    return r.code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bpr::Error& e) {
    std::fprintf(stderr, "bpr: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bpr: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
