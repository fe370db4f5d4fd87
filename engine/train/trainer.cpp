#include "engine/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/interrupt.h"
#include "engine/io/checkpoint.h"
#include "engine/io/run_folder.h"
#include "engine/ops/ops.h"
#include "engine/train/data_parallel.h"
#include "engine/train/device_batches.h"
#include "engine/train/gradient_sync.h"
#include "engine/train/metrics.h"
#include "engine/train/step_metrics.h"

namespace bpr {

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

void validate(const TrainConfig& c) {
  BPR_CHECK(c.epochs >= 1, "--epochs: must be at least 1, got {}", c.epochs);
  BPR_CHECK(std::isfinite(c.lr) && c.lr > 0, "--lr: must be a positive number, got {}", c.lr);
  BPR_CHECK(c.momentum >= 0 && c.momentum < 1, "--momentum: must be in [0, 1), got {}", c.momentum);
  BPR_CHECK(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "--weight-decay: must be >= 0, got {}",
            c.weight_decay);
  BPR_CHECK(c.log_every >= 0 && c.max_steps_per_epoch >= 0 && c.stop_after >= 0,
            "--log-every, --max-steps and --stop-after must be >= 0");
  BPR_CHECK(std::isfinite(c.parallel.bucket_mb) && c.parallel.bucket_mb >= 0,
            "--bucket-mb: must be a number of MB >= 0, got {}", c.parallel.bucket_mb);
}

std::unique_ptr<Optimizer> make_optimizer(Module& model, const TrainConfig& cfg) {
  if (cfg.optimizer == OptimizerKind::Sgd) {
    SgdArgs a;
    a.lr = cfg.lr;
    a.momentum = cfg.momentum;
    a.weight_decay = cfg.weight_decay;
    a.nesterov = cfg.nesterov;
    return std::make_unique<Sgd>(model.named_parameters(), a);
  }
  AdamWArgs a;
  a.lr = cfg.lr;
  a.weight_decay = cfg.weight_decay;
  return std::make_unique<AdamW>(model.named_parameters(), a);
}

EvalResult evaluate(Module& model, BatchSource& data, int64_t max_batches) {
  NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  DeviceBatchSource source(data, model_device(model));  // uploads ahead when on a GPU
  source.start_epoch(0);
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0, batches = 0;
  StepMetrics metrics(64);  // read back every 64 batches, not every batch
  auto drain = [&] {
    for (const StepMetrics::Step& st : metrics.flush()) {
      loss_sum += st.loss * st.examples;
      correct += st.correct;
      r.examples += st.examples;
    }
  };
  Batch b;
  while ((max_batches == 0 || batches < max_batches) && source.next(b)) {
    Tensor logits = model(b.images);
    check_label_range(b, logits.size(1));
    metrics.record(ops::cross_entropy(logits, b.labels), logits, b.labels, 0.0);
    if (metrics.full()) drain();
    ++batches;
  }
  drain();
  model.train(was_training);
  if (r.examples > 0) {
    r.loss = loss_sum / r.examples;
    r.accuracy = static_cast<double>(correct) / r.examples;
  }
  return r;
}

EpochProgress::EpochProgress(const BatchSource& train, int64_t total_steps, int64_t epochs, int64_t log_every,
                             RunLog* log)
    : total_steps_(total_steps), epochs_(epochs), log_every_(log_every), log_(log),
      batch_guess_(std::max<int64_t>(1, train.examples() / std::max<int64_t>(1, train.batches_per_epoch()))),
      t0_(Clock::now()) {}

bool EpochProgress::logs_at(int64_t step_in_epoch, int64_t steps_per_epoch) const {
  return log_ && log_every_ > 0 && (step_in_epoch % log_every_ == 0 || step_in_epoch == steps_per_epoch);
}

void EpochProgress::step(int64_t epoch, int64_t step_in_epoch, int64_t steps_per_epoch, double mean_loss,
                         double acc, double lr) {
  ++done_;
  if (!logs_at(step_in_epoch, steps_per_epoch)) return;
  const double rate = done_ / std::max(seconds_since(t0_), 1e-9);
  log_->line(fmt::format("epoch {}/{} step {}/{} loss {:.4f} acc {:.2f}% lr {:.3g} {:.0f} img/s ETA {}", epoch + 1,
                         epochs_, step_in_epoch, steps_per_epoch, mean_loss, 100.0 * acc, lr, rate * batch_guess_,
                         format_duration((total_steps_ - done_) / rate)));
}

namespace {
// Data-parallel runs: the flushed steps' loss and accuracy become the global batch's (sums of
// loss x examples, correct and examples over the ranks).
void merge_step_metrics(std::vector<StepMetrics::Step>& steps, Communicator& comm) {
  std::vector<double> v;
  for (const StepMetrics::Step& st : steps) {
    v.push_back(static_cast<double>(st.loss) * static_cast<double>(st.examples));
    v.push_back(static_cast<double>(st.correct));
    v.push_back(static_cast<double>(st.examples));
  }
  comm.allreduce_sum(v);
  for (size_t i = 0; i < steps.size(); ++i) {
    steps[i].examples = static_cast<int64_t>(v[3 * i + 2]);
    steps[i].correct = static_cast<int64_t>(v[3 * i + 1]);
    steps[i].loss = static_cast<float>(v[3 * i] / std::max(v[3 * i + 2], 1.0));
  }
}
}  // namespace

EpochStats train_epoch(Module& model, Optimizer& opt, BatchSource& train, const LrSchedule& sched, int64_t epoch,
                       int64_t max_steps, int64_t& global_step, EpochProgress& progress,
                       std::vector<float>* step_losses, const std::function<void(int64_t)>* after_step,
                       const DataParallel& dp) {
  const bool parallel = dp.active();
  Communicator* comm = dp.comm;
  std::unique_ptr<SyncBatchNormScope> sync_bn;
  if (parallel && dp.sync_bn) sync_bn = std::make_unique<SyncBatchNormScope>(model, *comm);
  std::unique_ptr<GradientSync> grads;  // the global batch's mean gradient, summed while backward runs
  if (parallel) grads = std::make_unique<GradientSync>(model, *comm, dp.bucket_mb * 1e6);
  bool stop_all = false;  // parallel: some rank was asked to stop
  model.train();
  DeviceBatchSource source(train, model_device(model));  // uploads batch t+1 during step t on a GPU
  source.start_epoch(epoch);
  auto t0 = Clock::now();
  double loss_sum = 0;
  int64_t correct = 0, seen = 0, step_in_epoch = 0, flushed = 0;
  // Losses and accuracy stay on the device until a log point: no host sync inside a step.
  StepMetrics metrics(progress.log_every() > 0 ? progress.log_every() : 64);
  auto drain = [&] {
    std::vector<StepMetrics::Step> steps = metrics.flush();
    if (parallel) merge_step_metrics(steps, *comm);
    for (const StepMetrics::Step& st : steps) {
      ++flushed;
      BPR_CHECK(std::isfinite(st.loss), "loss became {} at epoch {} step {} (lr {:.3g}); the last good "
                "checkpoint is kept — lower --lr or check the data", st.loss, epoch + 1, flushed, st.lr);
      loss_sum += static_cast<double>(st.loss) * st.examples;
      correct += st.correct;
      seen += st.examples;
      if (step_losses) step_losses->push_back(st.loss);
    }
  };
  Batch b;
  while (step_in_epoch < max_steps && source.next(b)) {
    const double lr = sched.lr_at(epoch, global_step);
    opt.set_lr(lr);
    opt.zero_grad();
    const double share = b.global_examples > 0 ? static_cast<double>(b.images.size(0)) / b.global_examples
                                               : 1.0 / (parallel ? comm->size() : 1);
    if (sync_bn) sync_bn->set_share(share);
    Tensor logits = model(b.images);
    check_label_range(b, logits.size(1));
    Tensor loss = ops::cross_entropy(logits, b.labels);
    // Data parallel: the sums of the ranks' share-weighted gradients start during backward; a
    // stop request rides on them, so every rank stops after the same step.
    if (grads) {
      grads->start_step(share, stop_requested());
      grads->backward(loss);
      stop_all = grads->finish_step() || stop_all;
    } else {
      loss.backward();
    }
    opt.step();
    metrics.record(loss, logits, b.labels, lr);
    ++global_step;
    if (after_step && *after_step) {
      try {
        (*after_step)(global_step);
      } catch (const Error&) {  // a hook failing on NaN weights: name the diverged loss instead, if any
        if (!parallel) drain();  // (drain is a collective in parallel runs: not from an error path)
        throw;
      }
    }
    ++step_in_epoch;
    if (metrics.full() || progress.logs_at(step_in_epoch, max_steps)) drain();
    progress.step(epoch, step_in_epoch, max_steps, seen ? loss_sum / seen : 0.0,
                  seen ? static_cast<double>(correct) / seen : 0.0, lr);
    // Ctrl-C: this step is complete; the epoch's checkpoint is not written. Parallel ranks stop
    // together, after the step whose gradient sum carried the request.
    if (parallel ? stop_all : stop_requested())
      throw Interrupted(fmt::format("interrupted at epoch {} step {}", epoch + 1, step_in_epoch));
  }
  drain();
  EpochStats s;
  if (parallel) {
    if (!dp.sync_bn) average_buffers(model, *comm);  // synchronized statistics are the same bits already
    s.replica_hash = check_same_on_all_ranks(model, *comm, StateParts::Everything, fmt::format("after epoch {}", epoch + 1));
    s.grad_buckets = grads->bucket_count();
    s.buckets_during_backward = grads->started_during_backward();
    s.sum_wait_ms = grads->exposed_ms_per_step();
  }
  s.epoch = epoch + 1;
  s.step = global_step;
  s.lr = opt.lr();
  s.seconds = seconds_since(t0);
  s.train_loss = seen ? loss_sum / seen : 0;
  s.train_acc = seen ? static_cast<double>(correct) / seen : 0;
  s.img_per_s = seen / std::max(s.seconds, 1e-9);
  return s;
}

void evaluate_epoch(Module& model, BatchSource* val, BatchSource* test, EpochStats& s, Communicator* agree) {
  if (val) {
    EvalResult e = evaluate(model, *val);
    s.val_loss = e.loss;
    s.val_acc = e.accuracy;
    s.has_val = true;
  }
  if (test) {
    EvalResult e = evaluate(model, *test);
    s.test_loss = e.loss;
    s.test_acc = e.accuracy;
    s.has_test = true;
  }
  if (agree && agree->is_parallel()) {
    std::vector<double> v{s.val_loss, s.val_acc, s.test_loss, s.test_acc};
    agree->broadcast(v, 0);
    s.val_loss = v[0], s.val_acc = v[1], s.test_loss = v[2], s.test_acc = v[3];
  }
}

TrainResult train_model(Module& model, BatchSource& train, BatchSource* val, BatchSource* test,
                        const TrainConfig& cfg) {
  validate(cfg);
  BPR_CHECK(cfg.keep_best != EpochSelect::Val || val != nullptr, "keep_best = val needs a validation split");
  BPR_CHECK(cfg.keep_best != EpochSelect::Test || test != nullptr, "keep_best = test needs a test set");
  auto opt = make_optimizer(model, cfg);
  int64_t steps_per_epoch = train.batches_per_epoch();
  if (cfg.max_steps_per_epoch > 0) steps_per_epoch = std::min(steps_per_epoch, cfg.max_steps_per_epoch);
  BPR_CHECK(steps_per_epoch > 0, "training set yields no batches (is it smaller than one batch?)");
  LrSchedule sched = make_schedule(cfg.schedule, cfg.lr, cfg.epochs, steps_per_epoch, cfg.warmup);

  const std::string ckpt = cfg.out_dir.empty() ? "" : cfg.out_dir + "/checkpoint.safetensors";
  // Data-parallel runs: rank 0 writes the run folder; every rank reads it to resume.
  const bool writes = !cfg.out_dir.empty() && (!cfg.parallel.comm || cfg.parallel.comm->is_root());
  std::vector<std::string> stale;
  if (writes) {  // fail now, not after hours, if the checkpoints cannot be written
    const int copies = cfg.optimizer == OptimizerKind::AdamW ? 2 : cfg.momentum > 0 ? 1 : 0;
    const uint64_t one = checkpoint_bytes(model, copies);
    stale = prepare_run_folder(cfg.out_dir, 2 * one + (cfg.keep_best == EpochSelect::Last ? 0 : one) + (1 << 20));
  }
  TrainState state;
  state.rng = Rng(cfg.seed);
  state.config = cfg.config_json;
  if (cfg.resume) {
    BPR_CHECK(!ckpt.empty() && std::filesystem::exists(ckpt), "--resume: no checkpoint at {}",
              ckpt.empty() ? "(no output folder)" : ckpt);
    state = load_checkpoint(ckpt, model, opt.get());
    state.config = cfg.config_json;
  }
  if (cfg.parallel.active()) {  // one starting point for all: rank 0's
    broadcast_state(model, *cfg.parallel.comm, 0);
    check_same_on_all_ranks(model, *cfg.parallel.comm, StateParts::Everything, "at the start of training");
  }
  RunLog log(writes ? cfg.out_dir : "", cfg.quiet || !writes, cfg.resume, state.epoch);
  if (cfg.resume) log.line(fmt::format("resumed from {} after epoch {} (step {})", ckpt, state.epoch, state.step));
  for (const std::string& name : stale) log.line(fmt::format("removed {}, left by a write that was interrupted", name));

  TrainResult result;
  const bool keeps_best = cfg.keep_best != EpochSelect::Last;
  // best_acc in a checkpoint: the selection metric's best (or the best test accuracy when the
  // last epoch is kept); a fresh run lets its first epoch win
  BestEpoch best(cfg.keep_best, keeps_best && state.epoch > 0 ? state.best_acc : -1);
  std::vector<TensorEntry> best_in_memory;
  const std::string best_path = writes ? cfg.out_dir + "/best.safetensors" : "";  // else kept in memory
  EpochProgress prog(train, (cfg.epochs - state.epoch) * steps_per_epoch, cfg.epochs, cfg.log_every, &log);
  const int64_t last_epoch = cfg.stop_after > 0 ? std::min(cfg.epochs, state.epoch + cfg.stop_after) : cfg.epochs;
  for (int64_t epoch = state.epoch; epoch < last_epoch; ++epoch) {
    EpochStats s = train_epoch(model, *opt, train, sched, epoch, steps_per_epoch, state.step, prog,
                               &result.step_losses, &cfg.after_step, cfg.parallel);
    evaluate_epoch(model, val, test, s, cfg.parallel.comm);
    if (best.offer(s)) {
      if (best_path.empty()) best_in_memory = model_tensors(model);
      else save_checkpoint(best_path, model, nullptr, state);
    }
    log.epoch(s);
    if (cfg.parallel.active())
      log.line(fmt::format("epoch {}: weights, masks and buffers identical on all {} ranks (hash {:016x}); gradient "
                           "sums in {} buckets, {} started during backward, {:.1f} ms per step waited for after it", s.epoch,
                           cfg.parallel.comm->size(), s.replica_hash, s.grad_buckets, s.buckets_during_backward,
                           s.sum_wait_ms));
    result.epochs.push_back(s);
    state.epoch = epoch + 1;
    state.best_acc = keeps_best ? best.best() : best.best_test_acc;
    if (writes) save_checkpoint(ckpt, model, opt.get(), state);
  }
  result.best_test_acc = best.best_test_acc;
  result.best_val_acc = best.best_val_acc;
  result.test_acc_at_best_val = best.test_acc_at_best_val;
  if (keeps_best && (cfg.stop_after == 0 || state.epoch == cfg.epochs)) {  // the run is complete
    if (!best_in_memory.empty()) load_model_tensors(model, best_in_memory, "best-epoch snapshot");
    else if (!best_path.empty() && std::filesystem::exists(best_path)) load_checkpoint(best_path, model, nullptr);
    // data-parallel: rank 0 holds the best epoch (in memory or in best.safetensors, which only it
    // writes; after a resume the best may predate this run); every rank takes rank 0's
    if (cfg.parallel.active()) broadcast_state(model, *cfg.parallel.comm, 0);
    log.line(fmt::format("restored the epoch with the best {} accuracy ({:.2f}%)",
                         enum_name(epoch_select_names(), cfg.keep_best), 100 * best.best()));
  }
  result.steps = prog.steps_done();
  return result;
}

}  // namespace bpr
