// commands.h — one add_*_command per subcommand of the `bpr` program.
// defines: CommandResult, add_train_command, add_eval_command, add_info_command,
//          add_bench_command, add_data_command, add_pipeline_command, add_phase_commands,
//          add_explain_command, add_export_command, add_infer_command, parallel_commands
#pragma once
#include <CLI/CLI.hpp>

#include "engine/dist/communicator.h"

namespace bpr::app {

// Thrown by a subcommand's callback to hand its exit code back to main().
struct CommandResult {
  int code;
};

// Commands that run data-parallel under an MPI launcher take the world (main owns it).
void add_train_command(CLI::App& root, Communicator& world);
void add_eval_command(CLI::App& root);
void add_info_command(CLI::App& root);
void add_bench_command(CLI::App& root);
void add_bench_kernels_command(CLI::App* bench);  // `bpr bench kernels` (cmd_bench_kernels.cpp)
void add_bench_ops_command(CLI::App* bench);      // `bpr bench ops` (cmd_bench_ops.cpp)
void add_bench_conv_command(CLI::App* bench);     // `bpr bench conv` (cmd_bench_conv.cpp)
void add_bench_infer_command(CLI::App* bench);    // `bpr bench infer` (cmd_bench_infer.cpp)
void add_bench_sparse_command(CLI::App* bench);   // `bpr bench sparse` (cmd_bench_sparse.cpp)
void add_data_command(CLI::App& root);
void add_pipeline_command(CLI::App& root, Communicator& world);
void add_phase_commands(CLI::App& root, Communicator& world);  // prune, regrow, finetune
void add_explain_command(CLI::App& root);
void add_export_command(CLI::App& root);  // `bpr export CKPT --sparse OUT` (cmd_export.cpp)
void add_infer_command(CLI::App& root);   // `bpr infer CKPT IMAGE...` (cmd_infer.cpp)
// The subcommands that may run as several ranks (the others refuse an MPI launch).
const std::vector<std::string>& parallel_commands();

}  // namespace bpr::app
