// bpr — the command-line program. Thin: each subcommand parses flags and calls the library.
// Errors from the library (bpr::Error) become one line on stderr and exit code 1; usage
// errors exit with CLI11's code (non-zero) and a hint to --help. Ctrl-C (or SIGTERM) stops a
// training loop after its current step: exit 130, with the command that resumes. Under an MPI
// launcher (`mpirun -np N bpr train ...`) the commands of parallel_commands() run as N
// data-parallel ranks (engine/dist); an error on any rank ends the whole job.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "engine/backends.h"
#include "engine/dist/communicator.h"
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

// The run's processes: MPI's world under mpirun/srun, else one. Ranks other than 0 print
// nothing on stdout (rank 0 reports for the job); errors from any rank reach stderr.
std::unique_ptr<bpr::Communicator> make_world(int argc, char** argv) {
  bpr::WorldOptions wo;
  if (const char* t = std::getenv("BPR_DIST_TIMEOUT")) wo.timeout_s = std::atof(t);
  auto world = bpr::make_world_communicator(wo);
  if (!world->is_parallel()) return world;
  const auto& ok = bpr::app::parallel_commands();
  const std::string cmd = argc > 1 ? argv[1] : "";
  BPR_CHECK(std::find(ok.begin(), ok.end(), cmd) != ok.end(),
            "'bpr {}' runs in one process; only {} run as several ranks (start it without mpirun)", cmd,
            fmt::format("{}", fmt::join(ok, ", ")));
  if (!world->is_root()) BPR_CHECK(std::freopen("/dev/null", "w", stdout), "rank {}: cannot silence stdout", world->rank());
  return world;
}
}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<bpr::Communicator> world;
  try {
    world = make_world(argc, argv);
  } catch (const bpr::Error& e) {
    std::fprintf(stderr, "bpr: error: %s\n", e.what());
    if (world && world->is_parallel()) world->abort(1);
    return 1;
  }
  // Any rank that fails ends every rank (they would wait for it in the next collective).
  auto fail = [&](const char* what) {
    if (world->is_parallel()) {
      std::fprintf(stderr, "bpr: error: rank %d of %d: %s\n", world->rank(), world->size(), what);
      std::fflush(stderr);
      world->abort(1);
    }
    std::fprintf(stderr, "bpr: error: %s\n", what);
    return 1;
  };
  bpr::register_builtin_backends();
  bpr::install_interrupt_handlers();
  std::signal(SIGXFSZ, SIG_IGN);  // over a file-size limit a write fails (EFBIG) instead of killing us
  CLI::App app{"bpr — bidirectional pruning-regrowth engine (C++17/CUDA, no DL framework)", "bpr"};
  app.require_subcommand(1);
  app.set_version_flag("--version", BPR_VERSION);
  bpr::app::add_train_command(app, *world);
  bpr::app::add_eval_command(app);
  bpr::app::add_info_command(app);
  bpr::app::add_bench_command(app);
  bpr::app::add_data_command(app);
  bpr::app::add_pipeline_command(app, *world);
  bpr::app::add_phase_commands(app, *world);
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
    if (world->is_root()) report_interrupt(e, argc, argv);  // every rank stopped at the same step
    return 130;
  } catch (const bpr::Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
