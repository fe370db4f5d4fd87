// device_collectives.h — collectives on GPU tensors that stay on the GPU (NCCL), or none.
// defines: DeviceCollectives, nccl_compiled, make_nccl_collectives
//
// MpiCommunicator hands device tensors to these when the build has NCCL (the CUDA toolkit's),
// creating them on the first device collective: rank 0 makes the NCCL unique id and MPI
// broadcasts it (share_id), then every rank joins the NCCL communicator for its GPU. Without
// NCCL device tensors take the host path (copies, MPI). Compiled in CI, run only on a GPU
// machine (docs/gpu-status.md).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/tensor.h"

namespace bpr {

class DeviceCollectives {
 public:
  virtual ~DeviceCollectives() = default;
  virtual std::string describe() const = 0;
  // Tensors on this rank's GPU, f32 or f64: each becomes the sum over ranks of scale * itself,
  // in place; one NCCL group for the list (the bucket), on a stream of its own, after the work
  // the backend has queued so far (no host wait): the backward pass goes on meanwhile.
  virtual std::unique_ptr<PendingSum> start_allreduce_sum(const std::vector<Tensor>& tensors, double scale) = 0;
  // Every rank's tensors become root's.
  virtual void broadcast(const std::vector<Tensor>& tensors, int root) = 0;
};

bool nccl_compiled();
// The NCCL communicator of `size` ranks on CUDA device `device`; share_id(buffer, bytes)
// broadcasts rank 0's unique id into `buffer` on every rank. A collective that has not finished
// after timeout_s aborts the NCCL communicator and throws. Null when the build has no NCCL.
std::unique_ptr<DeviceCollectives> make_nccl_collectives(int rank, int size, int device, double timeout_s,
                                                         const std::function<void(void*, size_t)>& share_id);

}  // namespace bpr
