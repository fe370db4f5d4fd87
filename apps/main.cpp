// bpr — the command-line program. Thin: each subcommand parses flags and calls the library.
// Errors from the library (bpr::Error) become one line on stderr and exit code 1; usage
// errors exit with CLI11's code (non-zero) and a hint to --help. Ctrl-C (or SIGTERM) stops a
// training loop after its current step: exit 130, with the command that resumes.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "engine/backends.h"
#include "engine/error.h"
#include "engine/interrupt.h"

namespace {
// What to tell a user whose run was interrupted: train and pipeline resume with --resume.
void report_interrupt(const bpr::Interrupted& e, int argc, char** argv) {
  std::string cmd = "bpr";
  bool resume = false, resumable = argc > 1 && (std::string(argv[1]) == "train" || std::string(argv[1]) == "pipeline");
  for (int i = 1; i < argc; ++i) {
    cmd += " " + std::string(argv[i]);
    resume = resume || std::string(argv[i]) == "--resume";
  }
  std::fprintf(stderr, "bpr: %s; nothing partial was written (checkpoints are written whole, at epoch ends).\n", e.what());
  if (resumable)
    std::fprintf(stderr, "bpr: to continue where the last checkpoint left off: %s%s\n", cmd.c_str(),
                 resume ? "" : " --resume");
  else
    std::fprintf(stderr, "bpr: this command keeps no checkpoint of its own: run it again to redo it\n");
}
}  // namespace

int main(int argc, char** argv) {
  bpr::register_builtin_backends();
  bpr::install_interrupt_handlers();
  std::signal(SIGXFSZ, SIG_IGN);  // over a file-size limit a write fails (EFBIG) instead of killing us
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
  bpr::app::add_explain_command(app);
  bpr::app::add_export_command(app);
  bpr::app::add_infer_command(app);
  try {
    app.parse(argc, argv);
  } catch (const bpr::app::CommandResult& r) {
    return r.code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bpr::Interrupted& e) {
    report_interrupt(e, argc, argv);
    return 130;
  } catch (const bpr::Error& e) {
    std::fprintf(stderr, "bpr: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bpr: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
