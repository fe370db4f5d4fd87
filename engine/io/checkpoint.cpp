#include "engine/io/checkpoint.h"

#include <cmath>
#include <set>

#include "engine/backend.h"
#include "engine/io/sparse_checkpoint.h"

namespace bpr {

namespace {
constexpr const char* kFormat = "bpr-checkpoint-v1";

int64_t meta_int(const TensorFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  BPR_CHECK(it != f.metadata.end(), "{}: metadata field '{}' is missing", path, key);
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    BPR_CHECK(used == it->second.size(), "trailing characters");
    return v;
  } catch (const std::exception&) {
    BPR_FAIL("{}: metadata field '{}' = '{}' is not an integer", path, key, it->second);
  }
}

double meta_double(const TensorFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  BPR_CHECK(it != f.metadata.end(), "{}: metadata field '{}' is missing", path, key);
  try {
    size_t used = 0;
    const double v = std::stod(it->second, &used);
    BPR_CHECK(used == it->second.size(), "trailing characters");
    return v;
  } catch (const std::exception&) {
    BPR_FAIL("{}: metadata field '{}' = '{}' is not a number", path, key, it->second);
  }
}

uint64_t meta_u64(const TensorFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  BPR_CHECK(it != f.metadata.end(), "{}: metadata field '{}' is missing", path, key);
  try {
    return std::stoull(it->second);
  } catch (const std::exception&) {
    BPR_FAIL("{}: metadata field '{}' = '{}' is not an unsigned integer", path, key, it->second);
  }
}

// Number of NaN / Inf values in a host tensor (0 for integer dtypes).
template <typename T>
int64_t count_nonfinite(const T* v, int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad += !std::isfinite(v[i]);
  return bad;
}
int64_t nonfinite_values(const Tensor& t) {
  if (t.dtype() == DType::F32) return count_nonfinite(t.data<float>(), t.numel());
  if (t.dtype() == DType::F64) return count_nonfinite(t.data<double>(), t.numel());
  return 0;
}

// Refuses a tensor with NaN or Inf (a diverged or corrupted run) unless allowed.
void check_finite(const std::string& path, const std::string& name, const Tensor& src, const LoadOptions& o) {
  if (o.allow_nonfinite) return;
  const int64_t bad = nonfinite_values(src);
  BPR_CHECK(bad == 0, "{}: tensor '{}' holds {} non-finite value{} (NaN or Inf) of {}; these weights are broken (a "
            "diverged run?) — `bpr eval --allow-nonfinite` loads them anyway", path, name, bad, bad == 1 ? "" : "s",
            src.numel());
}

// Copies `src` into `dst` after checking shape and dtype.
void assign(const std::string& path, const std::string& name, const Tensor& src, Tensor& dst) {
  BPR_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(),
            "{}: tensor '{}' is {}{}, the model expects {}{}", path, name, dtype_name(src.dtype()),
            shape_str(src.shape()), dtype_name(dst.dtype()), shape_str(dst.shape()));
  dst.copy_(src);
}

bool is_batch_counter(const std::string& name) {
  const std::string tail = "num_batches_tracked";
  return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
}

void load_mask(const std::string& path, const std::string& name, const Tensor& src, Parameter& p) {
  for (uint8_t v : src.to_vector<uint8_t>())
    BPR_CHECK(v <= 1, "{}: mask '{}' holds the value {}, expected only 0 and 1", path, name, v);
  p.enable_mask();
  assign(path, name, src, p.mask);
  backend_for(p.value.device()).apply_mask(p.value, p.mask, p.value);
}
}  // namespace

namespace {
// A host copy that never aliases the model's own storage.
Tensor host_copy(const Tensor& t) { return t.device().is_cpu() ? t.clone() : t.to(cpu_device()); }
}  // namespace

std::vector<TensorEntry> model_tensors(Module& model) {
  std::vector<TensorEntry> out;
  for (auto& np : model.named_parameters()) {
    out.push_back({np.name, host_copy(np.param->value)});
    if (np.param->prunable()) out.push_back({np.name + "_mask", host_copy(np.param->mask)});
  }
  for (auto& nb : model.named_buffers()) out.push_back({nb.name, host_copy(*nb.tensor)});
  return out;
}

uint64_t checkpoint_bytes(Module& model, int optimizer_copies) {
  uint64_t bytes = 0;
  for (auto& np : model.named_parameters()) {
    bytes += np.param->value.nbytes() * (1 + optimizer_copies);
    if (np.param->prunable()) bytes += np.param->mask.nbytes();
  }
  for (auto& nb : model.named_buffers()) bytes += nb.tensor->nbytes();
  return bytes + 65536;  // header and metadata
}

void save_checkpoint(const std::string& path, Module& model, Optimizer* optimizer,
                     const TrainState& state) {
  std::vector<TensorEntry> tensors = model_tensors(model);
  std::map<std::string, std::string> meta{
      {"format", kFormat},
      {"epoch", std::to_string(state.epoch)},
      {"step", std::to_string(state.step)},
      {"best_acc", fmt::format("{:.17g}", state.best_acc)},
      {"rng.state", std::to_string(state.rng.state())},
      {"rng.inc", std::to_string(state.rng.inc())},
      {"config", state.config},
  };
  if (optimizer) {
    for (auto& [key, t] : optimizer->state()) tensors.push_back({"optim." + key, t.to(cpu_device())});
    meta["optimizer"] = optimizer->kind();
    meta["optimizer.steps"] = std::to_string(optimizer->steps());
    meta["optimizer.lr"] = fmt::format("{:.17g}", optimizer->lr());
  }
  save_safetensors(path, tensors, meta);
}

namespace {
// Copies every parameter, mask and buffer of `model` from `f`; records the names used and
// notes what was tolerated.
void apply_model_tensors(const TensorFile& f, const std::string& path, Module& model, std::set<std::string>& used,
                         const LoadOptions& o, std::vector<std::string>& notes) {
  for (auto& np : model.named_parameters()) {
    const Tensor* v = f.find(np.name);
    BPR_CHECK(v, "{}: parameter '{}' is missing (is this a checkpoint of the same model?)", path, np.name);
    check_finite(path, np.name, *v, o);
    assign(path, np.name, *v, np.param->value);
    used.insert(np.name);
    if (const Tensor* m = f.find(np.name + "_mask")) {
      BPR_CHECK(np.param->prunable(), "{}: '{}_mask' given but '{}' is not prunable", path, np.name, np.name);
      load_mask(path, np.name + "_mask", *m, *np.param);
      used.insert(np.name + "_mask");
    } else if (np.param->prunable()) {
      np.param->mask.fill_(1.0);
    }
  }
  int64_t counters_missing = 0;
  for (auto& nb : model.named_buffers()) {
    const Tensor* v = f.find(nb.name);
    if (!v && is_batch_counter(nb.name)) {  // PyTorch tolerates these missing: so do we
      nb.tensor->fill_(0);
      ++counters_missing;
      continue;
    }
    BPR_CHECK(v, "{}: buffer '{}' is missing", path, nb.name);
    check_finite(path, nb.name, *v, o);
    assign(path, nb.name, *v, *nb.tensor);
    used.insert(nb.name);
  }
  if (counters_missing)
    notes.push_back(fmt::format("{}: no num_batches_tracked for {} BatchNorm layer{} (a PyTorch state_dict saved "
                                "without them): set to 0, as PyTorch does", path, counters_missing,
                                counters_missing == 1 ? "" : "s"));
}
}  // namespace

void load_model_tensors(Module& model, const std::vector<TensorEntry>& tensors, const std::string& what) {
  TensorFile f;
  f.tensors = tensors;
  std::set<std::string> used;
  std::vector<std::string> notes;
  LoadOptions o;
  o.allow_nonfinite = true;  // our own snapshot, taken from memory
  apply_model_tensors(f, what, model, used, o, notes);
  for (const auto& e : tensors)
    BPR_CHECK(used.count(e.name), "{}: tensor '{}' does not belong to this model", what, e.name);
}

TensorFile read_checkpoint_file(const std::string& path) {
  TensorFile f = load_safetensors(path);
  expand_sparse_tensors(f, path);
  return f;
}

TrainState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer, const LoadOptions& options) {
  TensorFile f = read_checkpoint_file(path);
  std::set<std::string> used;
  TrainState st;
  apply_model_tensors(f, path, model, used, options, st.notes);
  bool ours = f.metadata.count("format") && f.metadata.at("format") == kFormat;
  if (ours) {
    st.epoch = meta_int(f, path, "epoch");
    st.step = meta_int(f, path, "step");
    BPR_CHECK(st.epoch >= 0 && st.step >= 0, "{}: negative epoch or step in metadata", path);
    st.rng.set_state(meta_u64(f, path, "rng.state"), meta_u64(f, path, "rng.inc"));
    st.best_acc = meta_double(f, path, "best_acc");
    st.config = f.metadata.count("config") ? f.metadata.at("config") : "";
  }
  if (optimizer) {
    optimizer->state().clear();
    if (ours && f.metadata.count("optimizer")) {
      BPR_CHECK(f.metadata.at("optimizer") == optimizer->kind(), "{}: saved with optimizer '{}', resuming with '{}'",
                path, f.metadata.at("optimizer"), optimizer->kind());
      optimizer->set_steps(meta_int(f, path, "optimizer.steps"));
    }
  }
  for (const auto& e : f.tensors) {
    if (used.count(e.name)) continue;
    if (e.name.rfind("optim.", 0) == 0) {
      if (!optimizer) continue;
      const std::string key = e.name.substr(6);
      bool known = false;
      for (const auto& np : optimizer->params())
        if (key.rfind(np.name + ".", 0) == 0) {
          BPR_CHECK(e.tensor.shape() == np.param->value.shape(), "{}: optimizer state '{}' has shape {}, expected {}",
                    path, e.name, shape_str(e.tensor.shape()), shape_str(np.param->value.shape()));
          known = true;
        }
      BPR_CHECK(known, "{}: optimizer state '{}' belongs to no parameter", path, e.name);
      check_finite(path, e.name, e.tensor, options);
      optimizer->state()[key] = e.tensor.to(model.parameters().front()->value.device()).clone();
      continue;
    }
    BPR_FAIL("{}: tensor '{}' does not belong to this model", path, e.name);
  }
  return st;
}

}  // namespace bpr
