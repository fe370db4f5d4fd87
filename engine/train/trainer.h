// trainer.h — the supervised training loop, evaluation and run folders.
// defines: TrainConfig, EpochStats, TrainResult, EvalResult, train_model, evaluate,
//          make_optimizer
//
// train_model runs epochs of (forward, cross-entropy, backward, optimizer step) with the LR
// from a stateless schedule, evaluates after each epoch, appends a row to metrics.csv,
// logs progress (epoch, step, loss, accuracy, img/s, ETA) to stdout and train.log, and
// writes checkpoint.safetensors atomically at the end of each epoch. With resume=true it
// continues from that checkpoint and produces bit-identical results to a run that never
// stopped (same thread count). Losses and accuracy are read back from the device only at
// log points (StepMetrics), so a GPU step never waits for the device; a non-finite loss
// stops the run there with an error naming the epoch and the first bad step; the last good
// checkpoint stays on disk.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/optimizer.h"
#include "engine/train/best_epoch.h"
#include "engine/train/data_parallel.h"
#include "data/batch.h"

namespace bpr {

struct TrainConfig {
  int64_t epochs = 1;
  OptimizerKind optimizer = OptimizerKind::Sgd;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
  ScheduleKind schedule = ScheduleKind::Cosine;  // see lr_schedule.h
  double warmup = 0.0;              // fraction of steps (cosine-step)
  uint64_t seed = 42;
  std::string out_dir;              // empty: no files written
  bool resume = false;
  int64_t log_every = 50;           // steps between progress lines (0: epoch lines only)
  int64_t max_steps_per_epoch = 0;  // 0: whole epochs (tests and smoke runs cap it)
  EpochSelect keep_best = EpochSelect::Last;  // or restore the epoch with the best val/test
                                    // accuracy at the end (saved as best.safetensors in the run
                                    // folder, so resume keeps it)
  int64_t stop_after = 0;           // stop this call after N epochs (0: run to the end);
                                    // a later --resume continues exactly where it stopped
  bool quiet = false;
  std::string config_json;          // recorded in checkpoints
  // Called after every optimizer step with the global step count (e.g. gradual pruning).
  std::function<void(int64_t)> after_step;
  // Data-parallel runs (engine/dist, data_parallel.h): the ranks this run is spread over, each
  // reading its shard of every batch (LoaderConfig::shard); gradients are summed across them
  // every step, batch norm statistics merged every epoch (or synchronized every step), and
  // only rank 0 writes files. Default: one process.
  DataParallel parallel;
};

struct EpochStats {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far
  double lr = 0, train_loss = 0, train_acc = 0;
  double val_loss = 0, val_acc = 0;    // meaningful only when has_val
  double test_loss = 0, test_acc = 0;  // meaningful only when has_test
  bool has_val = false, has_test = false;  // measured (reports print "–" / null otherwise)
  double seconds = 0, img_per_s = 0;
  uint64_t replica_hash = 0;  // data-parallel runs: the state hash every rank agreed on (0: one process)
  size_t grad_buckets = 0;    // data-parallel runs: buckets of each step's gradient sums,
  size_t buckets_during_backward = 0;  // and how many of them started before backward ended (last step)
  double sum_wait_ms = 0;     // mean time per step spent on the sums after backward (not hidden)
};

struct TrainResult {
  std::vector<EpochStats> epochs;   // epochs run by this call
  std::vector<float> step_losses;   // every step's loss, in order (this call only)
  int64_t steps = 0;
  double best_test_acc = 0;
  double best_val_acc = 0;
  double test_acc_at_best_val = 0;   // the validation-selected test accuracy
};

struct EvalResult {
  double loss = 0, accuracy = 0;  // accuracy in [0, 1]
  int64_t examples = 0;
};

class RunLog;

// Progress lines (epoch, step, loss, accuracy, lr, img/s, ETA) every `log_every` steps.
class EpochProgress {
 public:
  EpochProgress(const BatchSource& train, int64_t total_steps, int64_t epochs, int64_t log_every, RunLog* log);
  // Counts a step and prints a line at log points (mean_loss and acc must be current there).
  void step(int64_t epoch, int64_t step_in_epoch, int64_t steps_per_epoch, double mean_loss, double acc, double lr);
  bool logs_at(int64_t step_in_epoch, int64_t steps_per_epoch) const;
  int64_t log_every() const { return log_every_; }
  int64_t steps_done() const { return done_; }

 private:
  int64_t total_steps_, epochs_, log_every_;
  RunLog* log_;
  int64_t batch_guess_, done_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

// One pass of at most `max_steps` steps over `train` (epoch `epoch`, 0-based), the LR from
// `sched` at (epoch, global_step); global_step advances. Fills the training fields of the stats.
// With active `parallel`, every step sums the gradients across ranks, the stats are the global
// batch's, and at the end of the epoch batch norm statistics are averaged and the replicas
// checked identical.
EpochStats train_epoch(Module& model, Optimizer& opt, BatchSource& train, const LrSchedule& sched, int64_t epoch,
                       int64_t max_steps, int64_t& global_step, EpochProgress& progress,
                       std::vector<float>* step_losses = nullptr,
                       const std::function<void(int64_t)>* after_step = nullptr,
                       const DataParallel& parallel = DataParallel{});
// Fills the val/test fields of `s` (either source may be null). With a parallel `agree`, every
// rank takes rank 0's figures: decisions made from them (the best epoch, patience, rewards)
// are then the same on every rank even where evaluation itself could round differently
// (cuDNN's timed algorithm choice, unequal thread counts).
void evaluate_epoch(Module& model, BatchSource* val, BatchSource* test, EpochStats& s, Communicator* agree = nullptr);

// Throws bpr::Error naming the offending flag.
void validate(const TrainConfig& cfg);
std::unique_ptr<Optimizer> make_optimizer(Module& model, const TrainConfig& cfg);
// val and test may be null. Both are evaluated after every epoch when given.
TrainResult train_model(Module& model, BatchSource& train, BatchSource* val, BatchSource* test,
                        const TrainConfig& cfg);
EvalResult evaluate(Module& model, BatchSource& data, int64_t max_batches = 0);

}  // namespace bpr
