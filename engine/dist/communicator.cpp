// The one-process communicator and the launcher detection shared by both builds.
#include "engine/dist/communicator.h"

#include <cstdlib>

#include "engine/error.h"

namespace bpr {

void SoloCommunicator::allreduce_sum(const std::vector<Tensor>& tensors, double scale) {
  if (scale == 1.0) return;  // the sum over one rank
  for (const Tensor& t : tensors) {
    BPR_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "allreduce: {} tensors are not summed",
              dtype_name(t.dtype()));
    Tensor host = t.to(cpu_device()).clone();
    if (host.dtype() == DType::F32)
      for (int64_t i = 0; i < host.numel(); ++i) host.data<float>()[i] *= static_cast<float>(scale);
    else
      for (int64_t i = 0; i < host.numel(); ++i) host.data<double>()[i] *= scale;
    const_cast<Tensor&>(t).copy_(host);
  }
}

namespace {
class CompletedSum final : public PendingSum {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<PendingSum> Communicator::start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) {
  allreduce_sum(tensors, scale);
  return std::make_unique<CompletedSum>();
}

void SoloCommunicator::abort(int code) { std::exit(code); }

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(var)) return true;
  return false;
}

}  // namespace bpr
