#include "apps/run_config.h"

#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace bpr::app {

namespace {
// Reads typed values from a TOML table and remembers which keys were used.
class Reader {
 public:
  Reader(toml::table& root, std::string file) : root_(root), file_(std::move(file)) {}

  template <typename T>
  void get(const std::string& path, T& out) {
    used_.insert(path);
    toml::node* n = root_.at_path(path).node();
    if (!n) return;  // keep the default
    if constexpr (std::is_same_v<T, bool>) {
      auto v = n->value<bool>();
      BPR_CHECK(v.has_value(), "{}: '{}' must be true or false", file_, path);
      out = *v;
    } else if constexpr (std::is_same_v<T, std::string>) {
      auto v = n->value<std::string>();
      BPR_CHECK(v.has_value(), "{}: '{}' must be a string", file_, path);
      out = *v;
    } else if constexpr (std::is_floating_point_v<T>) {
      auto v = n->value<double>();
      BPR_CHECK(v.has_value(), "{}: '{}' must be a number", file_, path);
      out = static_cast<T>(*v);
    } else {
      auto v = n->value<int64_t>();
      BPR_CHECK(v.has_value(), "{}: '{}' must be an integer", file_, path);
      out = static_cast<T>(*v);
    }
  }

  void get_list(const std::string& path, std::vector<double>& out) {
    used_.insert(path);
    toml::node* n = root_.at_path(path).node();
    if (!n) return;
    toml::array* a = n->as_array();
    BPR_CHECK(a != nullptr, "{}: '{}' must be an array of numbers", file_, path);
    out.clear();
    for (auto& e : *a) {
      auto v = e.value<double>();
      BPR_CHECK(v.has_value(), "{}: '{}' must hold numbers only", file_, path);
      out.push_back(*v);
    }
  }

  void finetune(const std::string& prefix, FinetuneConfig& f) {
    get(prefix + ".optimizer", f.optimizer);
    get(prefix + ".lr", f.lr);
    get(prefix + ".weight_decay", f.weight_decay);
    get(prefix + ".momentum", f.momentum);
    get(prefix + ".schedule", f.schedule);
    get(prefix + ".warmup", f.warmup);
    get(prefix + ".steps", f.steps);
    get(prefix + ".epochs", f.epochs);
    get(prefix + ".patience", f.patience);
    get(prefix + ".select", f.select);
    get(prefix + ".max_steps_per_epoch", f.max_steps_per_epoch);
    get(prefix + ".log_every", f.log_every);
  }

  // Every key in the file must have been read.
  void reject_unknown(const toml::table& t, const std::string& prefix) {
    for (auto&& [k, v] : t) {
      const std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (const toml::table* sub = v.as_table()) {
        reject_unknown(*sub, path);
      } else {
        BPR_CHECK(used_.count(path), "{}: unknown key '{}' (see configs/demo.toml for the keys)", file_, path);
      }
    }
  }

 private:
  toml::table& root_;
  std::string file_;
  std::set<std::string> used_;
};

void set_path(toml::table& root, const std::string& path, toml::node&& value) {
  toml::table* t = &root;
  size_t start = 0;
  for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    const std::string key = path.substr(start, dot - start);
    if (!t->contains(key)) t->insert(key, toml::table{});
    t = (*t)[key].as_table();
    BPR_CHECK(t != nullptr, "--set {}: '{}' is not a section", path, key);
  }
  t->insert_or_assign(path.substr(start), std::move(value));
}

void apply_override(toml::table& root, const std::string& text) {
  const size_t eq = text.find('=');
  BPR_CHECK(eq != std::string::npos && eq > 0, "--set '{}': expected section.key=value", text);
  const std::string path = text.substr(0, eq), value = text.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{};
    parsed.insert("v", value);  // a bare word: take it as a string
  }
  set_path(root, path, std::move(*parsed.get("v")));
}
}  // namespace

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    BPR_FAIL("{}: invalid TOML at {}: {}", path, where.str(), e.description());
  }
  for (const auto& o : overrides) apply_override(root, o);
  RunConfig rc;
  Reader r(root, path);
  PipelineConfig& p = rc.pipeline;
  r.get("seed", p.seed);
  r.get("out", p.out_dir);
  r.get("threads", rc.threads);
  r.get("model.name", rc.model.model);
  r.get("model.width", rc.model.width);
  r.get("data.spec", rc.data.spec);
  r.get("data.batch", rc.data.batch);
  r.get("data.test_batch", rc.data.test_batch);
  r.get("data.val_split", rc.data.val_split);
  r.get("data.augment", rc.data.augment);
  r.get("data.prefetch", rc.data.prefetch);
  r.get("data.train_size", rc.data.synthetic_train);
  r.get("data.test_size", rc.data.synthetic_test);
  TrainConfig& d = p.dense;
  r.get("dense.epochs", d.epochs);
  r.get("dense.optimizer", d.optimizer);
  r.get("dense.lr", d.lr);
  r.get("dense.momentum", d.momentum);
  r.get("dense.weight_decay", d.weight_decay);
  r.get("dense.schedule", d.schedule);
  r.get("dense.max_steps_per_epoch", d.max_steps_per_epoch);
  r.get("dense.log_every", d.log_every);
  r.get_list("prune.oneshot", p.oneshot_targets);
  r.get("prune.iterative_rounds", p.iterative_rounds);
  r.get_list("prune.gradual", p.gradual_targets);
  r.finetune("prune.gradual_finetune", p.gradual_finetune);
  r.get("prune.iterative_amount", p.iterative_amount);
  r.get("prune.allocation", p.allocation);
  r.get("prune.criterion", p.criterion);
  r.finetune("prune.oneshot_finetune", p.oneshot_finetune);
  r.finetune("prune.iterative_finetune", p.iterative_finetune);
  r.get("start.sparsity", p.start_sparsity);
  r.get("start.curve", p.start_curve);
  r.get("regrow.fraction", p.regrow_fraction);
  r.get("regrow.iterations", p.regrow_iterations);
  r.get("regrow.policy", p.policy);
  r.get("regrow.init", p.init);
  r.get("regrow.ssim_threshold", p.ssim_threshold);
  r.get("regrow.ssim_batches", p.ssim_batches);
  r.get("regrow.saliency_batches", p.saliency_batches);
  r.get("regrow.non_conv_score", p.non_conv_score);
  r.get("regrow.budget_bonus", p.budget_bonus);
  r.finetune("regrow.mini_finetune", p.mini_finetune);
  r.get("regrow.rl.actions", p.rl.actions);
  r.get("regrow.rl.hidden", p.rl.hidden);
  r.get("regrow.rl.lr", p.rl.lr);
  r.get("regrow.rl.episodes", p.rl.max_episodes);
  r.get("regrow.rl.patience", p.rl.patience);
  r.get("regrow.rl.min_episodes", p.rl.min_episodes);
  r.get("regrow.rl.temperature", p.rl.temperature);
  r.get("regrow.rl.beta_start", p.rl.beta_start);
  r.get("regrow.rl.beta_end", p.rl.beta_end);
  r.finetune("final", p.final_finetune);
  r.reject_unknown(root, "");
  BPR_CHECK(!p.out_dir.empty(), "{}: 'out' (the run folder) is not set; add out = \"runs/name\" or --out", path);
  std::ostringstream os;
  os << root;
  rc.resolved_toml = os.str() + "\n";
  return rc;
}

}  // namespace bpr::app
