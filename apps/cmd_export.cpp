// bpr export — a checkpoint's model in the sparse layout (engine/io/sparse_checkpoint.h):
// only the kept weights of each masked layer, as CSR (values + indices), every other tensor
// as is, no optimizer state. eval, finetune and infer load the result like the original.
#include <filesystem>

#include "apps/commands.h"
#include "engine/error.h"
#include "engine/io/sparse_checkpoint.h"

namespace bpr::app {

namespace {
struct ExportOptions {
  std::string checkpoint;
  std::string sparse_out;
};

int run_export(const ExportOptions& o) {
  BPR_CHECK(o.sparse_out != o.checkpoint, "--sparse: the output must not overwrite the checkpoint it reads");
  const SparseExportStats st = export_sparse_checkpoint(o.checkpoint, o.sparse_out);
  const auto in_bytes = static_cast<double>(std::filesystem::file_size(o.checkpoint));
  const auto out_bytes = static_cast<double>(std::filesystem::file_size(o.sparse_out));
  if (st.sparse_tensors == 0)
    fmt::print("note: {} holds no masks, so no layer was made sparse (the file holds the dense weights)\n",
               o.checkpoint);
  fmt::print("wrote {}: {} masked weight{} as CSR, {} of {} entries kept ({:.2f}% sparse); {:.2f} MB vs {:.2f} MB "
             "({:.1f}x smaller){}\n",
             o.sparse_out, st.sparse_tensors, st.sparse_tensors == 1 ? "" : "s", st.kept, st.total,
             st.total ? 100.0 * static_cast<double>(st.total - st.kept) / static_cast<double>(st.total) : 0.0,
             out_bytes / 1e6, in_bytes / 1e6, in_bytes / out_bytes,
             st.dropped_optimizer_tensors
                 ? fmt::format("; {} optimizer state tensors left out", st.dropped_optimizer_tensors)
                 : "");
  return 0;
}
}  // namespace

void add_export_command(CLI::App& root) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* c = root.add_subcommand("export", "Write a checkpoint's model with only its kept weights (sparse CSR "
                                              "safetensors; docs/checkpoints.md)");
  c->add_option("checkpoint", o->checkpoint, "checkpoint to read (.safetensors)")->required()->check(CLI::ExistingFile);
  c->add_option("--sparse", o->sparse_out, "output file: masked weights as CSR (crow_indices, col_indices, values), "
                "the rest dense, no optimizer state")->required();
  c->callback([o] { throw CommandResult{run_export(*o)}; });
}

}  // namespace bpr::app
