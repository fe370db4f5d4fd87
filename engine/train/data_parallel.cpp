#include "engine/train/data_parallel.h"

#include <cstring>

namespace bpr {

namespace {
void set_batch_norm_sync(Module& m, const std::shared_ptr<const ops::BatchNormSync>& sync) {
  for (auto& [name, module] : m.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(module)) bn->set_sync(sync);
}
}  // namespace

SyncBatchNormScope::SyncBatchNormScope(Module& m, Communicator& comm) : model_(m) {
  sync_ = std::make_shared<ops::BatchNormSync>();
  sync_->sum = [&comm](std::vector<double>& v) { comm.allreduce_sum(v); };
  set_batch_norm_sync(m, sync_);
}

SyncBatchNormScope::~SyncBatchNormScope() { set_batch_norm_sync(model_, nullptr); }

void average_buffers(Module& m, Communicator& comm) {
  if (!comm.is_parallel()) return;
  std::vector<Tensor> floats;
  for (const NamedBuffer& b : m.named_buffers())
    if (b.tensor->dtype() == DType::F32 || b.tensor->dtype() == DType::F64) floats.push_back(*b.tensor);
  comm.allreduce_sum(floats, 1.0 / comm.size());
}

namespace {
// The tensors a hash or a broadcast covers, in name order.
std::vector<Tensor> state_tensors(Module& m, StateParts parts) {
  std::vector<Tensor> out;
  for (const NamedParameter& np : m.named_parameters()) {
    if (parts == StateParts::Everything) out.push_back(np.param->value);
    if (np.param->prunable()) out.push_back(np.param->mask);
  }
  if (parts == StateParts::Everything)
    for (const NamedBuffer& b : m.named_buffers()) out.push_back(*b.tensor);
  return out;
}
}  // namespace

void broadcast_state(Module& m, Communicator& comm, int root) {
  if (!comm.is_parallel()) return;
  std::vector<Tensor> all = state_tensors(m, StateParts::Everything);
  for (Tensor& t : all) t = t.detach();  // the same storage, written in place
  comm.broadcast(all, root);
}

uint64_t state_hash(Module& m, StateParts parts) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64-bit
  for (const Tensor& t : state_tensors(m, parts)) {
    const Tensor host = t.to(cpu_device());
    const auto* p = static_cast<const unsigned char*>(host.raw_data());
    for (size_t i = 0; i < host.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

uint64_t check_same_on_all_ranks(Module& m, Communicator& comm, StateParts parts, const std::string& when) {
  const std::vector<uint64_t> all = comm.allgather(state_hash(m, parts));
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += fmt::format("{}{}", differ.empty() ? "" : ", ", r);
  BPR_CHECK(differ.empty(), "data parallel: the {} of rank(s) {} differ from rank 0's {} (a bug: the replicas must "
            "stay identical)", parts == StateParts::Masks ? "masks" : "weights, masks or buffers", differ, when);
  return all[0];
}

}  // namespace bpr
