// bpr eval — accuracy and loss of a checkpoint on a data set's test split.
#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/backend.h"
#include "engine/prune/sparsity.h"
#include "engine/train/trainer.h"

namespace bpr::app {

namespace {
int run_eval(CheckpointInput& in, const CLI::App* app) {
  LoadedRun run = load_checkpoint_input(in, app);
  auto test = make_loader(run.data, run.data.test, in.data, false, in.seed, backend_for(run.device).staging_allocator());
  EvalResult r = evaluate(*run.model, *test);
  SparsityReport rep = sparsity_report(run.model->prunable_parameters());
  fmt::print("{}: {} width {} on {} test ({} examples): accuracy {:.2f}%, loss {:.4f}, sparsity {:.2f}%\n",
             in.checkpoint, in.model.model, in.model.width, in.data.spec, r.examples, 100 * r.accuracy, r.loss,
             100 * rep.sparsity());
  return 0;
}
}  // namespace

void add_eval_command(CLI::App& root) {
  auto in = std::make_shared<CheckpointInput>();
  CLI::App* c = root.add_subcommand("eval", "Evaluate a checkpoint on a test set");
  add_checkpoint_input(c, *in, "checkpoint (.safetensors)", DataFlags::Evaluate);
  c->add_flag("--allow-nonfinite", in->allow_nonfinite,
              "load weights holding NaN or Inf anyway (to inspect a diverged run); every other command refuses them");
  c->callback([in, c] { throw CommandResult{run_eval(*in, c)}; });
}

}  // namespace bpr::app
