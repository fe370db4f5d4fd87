#include "apps/config_keys.h"

namespace bpr::app {

namespace {
// Choices narrower than the enum: finetunes pick an epoch by val or test accuracy, and
// their schedule spans a step budget; pruning criteria need no training state.
const std::vector<EnumName<EpochSelect>>& finetune_select_names() {
  static const std::vector<EnumName<EpochSelect>> names{{EpochSelect::Test, "test"}, {EpochSelect::Val, "val"}};
  return names;
}
const std::vector<EnumName<ScheduleKind>>& finetune_schedule_names() {
  static const std::vector<EnumName<ScheduleKind>> names{{ScheduleKind::Constant, "constant"},
                                                         {ScheduleKind::CosineStep, "cosine-step"}};
  return names;
}
const std::vector<EnumName<Criterion>>& prune_criterion_names() {
  static const std::vector<EnumName<Criterion>> names{{Criterion::Magnitude, "magnitude"},
                                                      {Criterion::Random, "random"},
                                                      {Criterion::Saliency, "saliency"},
                                                      {Criterion::Lamp, "lamp"}};
  return names;
}
}  // namespace

const std::vector<ConfigKey<ModelOptions>>& model_keys() {
  using M = ModelOptions;
  static const std::vector<ConfigKey<M>> keys{
      key("name", &M::model, "network: vgg11, vgg13, vgg16, vgg19 (CIFAR VGG: conv3x3, BN, ReLU), resnet20, resnet32, "
          "resnet44, resnet56, resnet110 (CIFAR ResNets, option-A shortcuts) or mobilenetv2 (CIFAR variant)", "--model"),
      key("width", &M::width, "channel width multiplier (e.g. 0.25 for a narrow network)"),
      key("keep_first_dense", &M::keep_first_dense, "leave the first convolution unpruned (off: the paper prunes it)"),
      key("keep_classifier_dense", &M::keep_classifier_dense, "leave the classifier unpruned (off: the paper prunes it)"),
  };
  return keys;
}

const std::vector<ConfigKey<DataOptions>>& data_keys() {
  using D = DataOptions;
  static const std::vector<ConfigKey<D>> keys{
      key("spec", &D::spec, "synthetic | cifar10:<dir> | fashion-mnist[:<dir>] | folder:<dir>", "--data"),
      key("batch", &D::batch, "training batch size (prune: the training batches scored)"),
      key("test_batch", &D::test_batch, "evaluation batch size"),
      key("val_split", &D::val_split, "fraction of the training split held out for validation, seeded "
                                      "(negative: 0.1 for real data, 0 for synthetic)"),
      key("augment", &D::augment, "pad-4 random crop + horizontal flip on training batches", "!--no-augment"),
      key("prefetch", &D::prefetch, "batches assembled ahead on a background thread"),
      key("drop_last", &D::drop_last, "drop the last partial training batch"),
      key("train_size", &D::synthetic_train, "synthetic: training examples"),
      key("test_size", &D::synthetic_test, "synthetic: test examples"),
  };
  return keys;
}

const std::vector<ConfigKey<TrainConfig>>& dense_keys() {
  using T = TrainConfig;
  static const std::vector<ConfigKey<T>> keys{
      key("epochs", &T::epochs, "epochs to train"),
      enum_key("optimizer", &T::optimizer, optimizer_names, "optimizer"),
      key("lr", &T::lr, "base learning rate"),
      key("momentum", &T::momentum, "SGD momentum"),
      key("weight_decay", &T::weight_decay, "weight decay (decoupled for adamw)"),
      key("nesterov", &T::nesterov, "Nesterov momentum (sgd)"),
      enum_key("schedule", &T::schedule, schedule_names, "LR schedule (cosine: per epoch; cosine-step: per step)"),
      key("warmup", &T::warmup, "linear warm-up as a fraction of all steps (cosine-step)"),
      key("max_steps_per_epoch", &T::max_steps_per_epoch, "cap on steps per epoch (0: whole epochs)", "--max-steps"),
      key("log_every", &T::log_every, "steps between progress lines (0: per epoch)"),
      key<T, bool>("sync_bn", [](T& t) -> bool& { return t.parallel.sync_bn; },
                   "data-parallel runs (mpirun): batch norm with the global batch's statistics, every step (default: "
                   "each rank's own, as PyTorch DDP)"),
      key<T, double>("bucket_mb", [](T& t) -> double& { return t.parallel.bucket_mb; },
                     "data-parallel runs (mpirun): gradients summed across ranks in buckets of this many MB, each "
                     "started as soon as backward has finished its gradients (0: one sum after backward)"),
  };
  return keys;
}

const std::vector<ConfigKey<FinetuneConfig>>& finetune_keys() {
  using F = FinetuneConfig;
  static const std::vector<ConfigKey<F>> keys{
      enum_key("optimizer", &F::optimizer, optimizer_names, "optimizer"),
      key("lr", &F::lr, "learning rate"),
      key("weight_decay", &F::weight_decay, "weight decay"),
      key("momentum", &F::momentum, "SGD momentum (sgd only)"),
      enum_key("schedule", &F::schedule, finetune_schedule_names, "LR schedule (cosine-step spans the step budget)"),
      key("warmup", &F::warmup, "warm-up fraction (cosine-step)"),
      key("steps", &F::steps, "step budget (0: epochs x steps per epoch)"),
      key("epochs", &F::epochs, "maximum epochs"),
      key("patience", &F::patience, "epochs without a new best before stopping (0: never)"),
      enum_key("select", &F::select, finetune_select_names, "which accuracy picks the restored epoch"),
      key("max_steps_per_epoch", &F::max_steps_per_epoch, "cap on steps per epoch (0: whole epochs)", "--max-steps"),
      key("log_every", &F::log_every, "steps between progress lines (0: per epoch)"),
  };
  return keys;
}

const std::vector<ConfigKey<PruneConfig>>& prune_keys() {
  using P = PruneConfig;
  static const std::vector<ConfigKey<P>> keys{
      enum_key("allocation", &P::allocation, allocation_names, "how the kept weights are spread over the layers"),
      enum_key("criterion", &P::criterion, prune_criterion_names, "within-layer ranking (non-LAMP allocations)"),
      key("oneshot", &P::oneshot_targets, "one-shot targets, each pruned from the dense model", "-"),
      key("iterative_rounds", &P::iterative_rounds, "> 0: also an iterative curve of this many rounds", "-"),
      key("iterative_amount", &P::iterative_amount, "fraction of the remaining weights pruned per round", "-"),
      key("gradual", &P::gradual_targets, "gradual (cubic) pruning targets, each during its own finetune", "-"),
  };
  return keys;
}

const std::vector<ConfigKey<StartConfig>>& start_keys() {
  using S = StartConfig;
  static const std::vector<ConfigKey<S>> keys{
      key("sparsity", &S::sparsity, "> 0: the curve point closest to it; 0: the curve's drop point", "-"),
      enum_key("curve", &S::curve, start_curve_names, "the curve regrowth starts from", "-"),
  };
  return keys;
}

const std::vector<ConfigKey<BaselineConfig>>& baseline_keys() {
  using B = BaselineConfig;
  static const std::vector<ConfigKey<B>> keys{
      key("matched", &B::matched, "also build the matched one-way model: one-shot to the final sparsity, finetuned "
          "like the final phase (summary.json: regrown_minus_oneway_pp)", "-"),
      key("matched_total", &B::matched_total, "also the matched one-shot model finetuned like a curve point first: "
          "equal total training after pruning with a one-shot start", "-"),
      key("matched_iterative", &B::matched_iterative, "also the iterative one-way model at the final sparsity (the "
          "iterative curve continued), finetuned like the final phase", "-"),
      key("no_regrowth", &B::no_regrowth, "control: the start model without regrowth + the final finetune", "-"),
      key("random_positions", &B::random_positions, "control: the method's per-layer counts at random pruned "
          "positions + the final finetune", "-"),
      key("zero_init", &B::zero_init, "control: the method's positions starting at zero, regrown in one step", "-"),
      key("reference_init", &B::reference_init, "control: the method's positions starting at the dense values", "-"),
      key("kaiming_init", &B::kaiming_init, "control: the method's positions starting Kaiming-uniform", "-"),
      key("match_round_steps", &B::match_round_steps, "after iterative regrowth: every arm first gets as many "
          "mini-finetune steps as the rounds had", "-"),
  };
  return keys;
}

const std::vector<ConfigKey<RegrowConfig>>& regrow_keys() {
  using R = RegrowConfig;
  static const std::vector<ConfigKey<R>> keys{
      key("fraction", &R::fraction, "budget per round: this fraction of all prunable weights"),
      key("iterations", &R::iterations, "> 1: iterative regrowth (rounds from the previous round's model, each "
          "mini-finetuned)", "-"),
      key("target_sparsity", &R::target_sparsity, "> 0: iterative rounds stop once within 0.1 % of this sparsity", "-"),
      enum_key("reward", &R::reward, regrow_reward_names, "rl reward: gain over the round's start model, or over the "
               "one-way curve interpolated at the episode's sparsity", "-"),
      enum_key("policy", &R::policy, regrow_policy_names, "how the budget is split over the selected layers"),
      enum_key("init", &R::init, regrow_init_names, "value of a regrown weight (reference: the dense model's)"),
      key("ssim_threshold", &R::ssim_threshold, "layers with feature-map SSIM below this are regrown "
                                                "(none below: the lowest)"),
      key("ssim_batches", &R::ssim_batches, "test batches for the SSIM maps"),
      key("saliency_batches", &R::saliency_batches, "training batches for the saliency (0: a full pass)"),
      key("non_conv_score", &R::non_conv_score, "similarity given to non-conv layers (1.0: never selected)"),
      key("budget_bonus", &R::budget_bonus, "rl: reward per unit of the budget used"),
  };
  return keys;
}

const std::vector<ConfigKey<RlConfig>>& rl_keys() {
  using L = RlConfig;
  static const std::vector<ConfigKey<L>> keys{
      key("actions", &L::actions, "choices per layer: regrow j/actions of what fits, j = 1..actions"),
      key("hidden", &L::hidden, "LSTM hidden size"),
      key("lr", &L::lr, "controller learning rate"),
      key("episodes", &L::max_episodes, "maximum episodes"),
      key("batch", &L::batch, "episodes per policy update (1: the paper's); under mpirun the ranks evaluate a "
          "batch's candidates side by side, with the same search result as one process", "--rl-batch"),
      key("patience", &L::patience, "episodes without a new best reward before stopping"),
      key("min_episodes", &L::min_episodes, "episode index from which the reward-spread rule may stop the search"),
      key("std_window", &L::std_window, "episodes in the reward-spread stopping window"),
      key("std_threshold", &L::std_threshold, "stop when the rewards' std over the window is below this"),
      enum_key("advantage", &L::advantage, rl_advantage_names, "advantage scale: temperature (one-shot script) or "
               "the std of the previous std_window rewards (iterative script)"),
      key("temperature", &L::temperature, "advantage = (reward - baseline) / temperature (advantage = temperature)"),
      key("budget_fractions", &L::budget_fractions, "non-empty: a budget head picks each episode's budget from these "
          "fractions of all prunable weights (iterative script: 0.001 .. 0.005)"),
      key("advantage_clip", &L::advantage_clip, "clip on the advantage (both signs)"),
      key("beta_start", &L::beta_start, "entropy bonus weight at the start"),
      key("beta_end", &L::beta_end, "entropy bonus weight at the end of its decay"),
      key("beta_fraction", &L::beta_fraction, "fraction of the episodes over which the bonus decays linearly"),
      key("baseline_decay", &L::baseline_decay, "moving-average decay of the reward baseline"),
      key("grad_clip", &L::grad_clip, "gradient-norm clip of the controller"),
  };
  return keys;
}

const std::vector<ConfigKey<RunConfig>>& run_keys() {
  using R = RunConfig;
  static const std::vector<ConfigKey<R>> keys{
      key<R, uint64_t>("seed", [](R& r) -> uint64_t& { return r.pipeline.run.seed; },
                       "random seed (init, shuffling, splits, sampling)"),
      key<R, std::string>("out", [](R& r) -> std::string& { return r.pipeline.run.out_dir; }, "run folder"),
      key("threads", &R::threads, "CPU threads: one OpenMP pool for bpr and oneDNN (0: all cores)"),
  };
  return keys;
}

ConfigSchema pipeline_schema(RunConfig& rc) {
  PipelineConfig& p = rc.pipeline;
  ConfigSchema s;
  s.add("", run_keys(), rc);
  s.add("model", model_keys(), rc.model);
  s.add("data", data_keys(), rc.data);
  s.add("dense", dense_keys(), p.dense);
  s.add("prune", prune_keys(), p.prune);
  s.add("prune.oneshot_finetune", finetune_keys(), p.prune.oneshot_finetune);
  s.add("prune.iterative_finetune", finetune_keys(), p.prune.iterative_finetune);
  s.add("prune.gradual_finetune", finetune_keys(), p.prune.gradual_finetune);
  s.add("start", start_keys(), p.start);
  s.add("regrow", regrow_keys(), p.regrow);
  s.add("regrow.mini_finetune", finetune_keys(), p.regrow.mini_finetune);
  s.add("regrow.rl", rl_keys(), p.regrow.rl);
  s.add("final", finetune_keys(), p.final_finetune);
  s.add("baseline", baseline_keys(), p.baseline);
  return s;
}

}  // namespace bpr::app
