// launch.cuh — the launch helper every kernel file uses: grid-stride loops and the check
// after each launch.
// defines: for_each_index, check_launch, WorkspaceCarver
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda_check.h"
#include "engine/error.h"
#include "kernels/index_math.h"

namespace bpr::kernels {

// Throws bpr::Error naming the kernel and the launching call's file and line when the
// launch was rejected (bad configuration, missing architecture in the build). Execution
// errors surface at the next synchronizing call; BPR_CUDA_SYNC=1 makes the backend
// synchronize after every op to pin them down. The defaults capture the caller's position.
inline void check_launch(const char* kernel, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    BPR_FAIL("CUDA kernel launch {} failed at {}:{}: {} ({})", kernel, cuda::short_path(file), line,
             cudaGetErrorName(e), cudaGetErrorString(e));
}

// Lays out sub-buffers of one device workspace: take(bytes) returns the next 256-byte
// aligned offset; total() is the workspace size needed.
class WorkspaceCarver {
 public:
  size_t take(size_t bytes) {
    const size_t at = at_;
    at_ += (bytes + 255) & ~size_t(255);
    return at;
  }
  size_t total() const { return at_; }

 private:
  size_t at_ = 0;
};

template <typename F>
__global__ void for_each_index_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    f(i);
}

// Calls f(i) for i in [0, n) on `stream` (f: a __device__ functor or extended lambda).
template <typename F>
void for_each_index(int64_t n, cudaStream_t stream, const char* name, F f, const char* file = __builtin_FILE(),
                    int line = __builtin_LINE()) {
  if (n <= 0) return;
  constexpr int kThreads = 256;
  for_each_index_kernel<<<kmath::grid_blocks(n, kThreads, 8192), kThreads, 0, stream>>>(n, f);
  check_launch(name, file, line);
}

}  // namespace bpr::kernels
