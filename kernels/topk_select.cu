// Exact radix top-k on the GPU; the algorithm is described in topk_select.h.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include "kernels/launch.cuh"
#include "kernels/topk_select.h"

namespace bpr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kItems = 16;                       // per thread in the counting/selection passes
constexpr int64_t kChunk = int64_t(kThreads) * kItems;  // elements per block there

struct SelectState {
  uint32_t prefix;  // key bits fixed so far; after the last pass: the threshold key T
  uint32_t rank;    // rank of the k-th element within the current bucket (1-based)
  uint32_t none;    // 1 when nothing is selected (k == 0 or no candidates)
};

struct Layout {
  size_t hist, state, block_counts, block_offsets, cub, cub_bytes, total;
  int64_t blocks;
};
Layout layout(int64_t n) {
  Layout L{};
  L.blocks = (n + kChunk - 1) / kChunk;
  size_t scan_bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, (const uint32_t*)nullptr, (uint32_t*)nullptr,
                                int(L.blocks > 0 ? L.blocks : 1));
  WorkspaceCarver c;
  L.hist = c.take(sizeof(uint32_t) * kmath::kRadixBins * kmath::kRadixPasses);
  L.state = c.take(sizeof(SelectState));
  L.block_counts = c.take(sizeof(uint32_t) * L.blocks);
  L.block_offsets = c.take(sizeof(uint32_t) * L.blocks);
  L.cub_bytes = scan_bytes;
  L.cub = c.take(scan_bytes);
  L.total = c.total();
  return L;
}

__device__ __forceinline__ bool candidate(const uint8_t* eligible, uint8_t want, int64_t i) {
  return eligible == nullptr || eligible[i] == want;
}

// Histogram of this pass's digit over candidates whose key matches the prefix so far.
__global__ void histogram_kernel(const float* scores, int64_t n, const uint8_t* eligible, uint8_t want, int pass,
                                 const SelectState* state, uint32_t* hist, uint32_t* nan_count) {
  __shared__ uint32_t local[kmath::kRadixBins];
  for (int b = threadIdx.x; b < kmath::kRadixBins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const uint32_t mask = kmath::radix_prefix_mask(pass), prefix = state->prefix;
  uint32_t nans = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if (!candidate(eligible, want, i)) continue;
    const float s = scores[i];
    if (pass == 0 && s != s) ++nans;
    const uint32_t key = kmath::ordered_key(s);
    if ((key & mask) == prefix) atomicAdd(&local[kmath::radix_digit(key, pass)], 1u);
  }
  if (nans) atomicAdd(nan_count, nans);
  __syncthreads();
  for (int b = threadIdx.x; b < kmath::kRadixBins; b += blockDim.x)
    if (local[b]) atomicAdd(&hist[b], local[b]);
}

// One thread: picks this pass's digit (kernels/index_math.h, radix_pick_digit).
__global__ void pick_digit_kernel(const uint32_t* hist, int pass, int64_t k, SelectState* state) {
  if (pass == 0) {
    uint64_t total = 0;
    for (int b = 0; b < kmath::kRadixBins; ++b) total += hist[b];
    state->prefix = 0;
    state->none = (k == 0 || total == 0) ? 1u : 0u;
    state->rank = uint32_t(uint64_t(k) < total ? uint64_t(k) : total);
  }
  if (state->none) return;
  uint32_t rank = state->rank;
  const uint32_t digit = kmath::radix_pick_digit(hist, rank);
  state->rank = rank;
  state->prefix |= digit << (32 - kmath::kRadixBits * (pass + 1));
}

// Per block of kChunk elements: how many candidates have key == T.
__global__ void count_equal_kernel(const float* scores, int64_t n, const uint8_t* eligible, uint8_t want,
                                   const SelectState* state, uint32_t* block_counts) {
  using Reduce = cub::BlockReduce<uint32_t, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const uint32_t T = state->prefix;
  const int64_t base = blockIdx.x * kChunk;
  uint32_t count = 0;
  for (int j = 0; j < kItems; ++j) {
    const int64_t i = base + int64_t(j) * kThreads + threadIdx.x;
    if (i < n && candidate(eligible, want, i) && kmath::ordered_key(scores[i]) == T) ++count;
  }
  const uint32_t total = Reduce(tmp).Sum(count);
  if (threadIdx.x == 0) block_counts[blockIdx.x] = total;
}

// Marks keys > T, and the first `rank` keys == T in index order. Stripes of kThreads
// consecutive elements are visited in order; a block scan ranks equal keys inside a stripe.
__global__ void select_kernel(const float* scores, int64_t n, const uint8_t* eligible, uint8_t want,
                              const SelectState* state, const uint32_t* block_offsets, uint8_t* selected) {
  using Scan = cub::BlockScan<uint32_t, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const uint32_t T = state->prefix, rank = state->rank, none = state->none;
  const int64_t base = blockIdx.x * kChunk;
  uint32_t before = block_offsets[blockIdx.x];  // equal keys in earlier blocks and stripes
  for (int j = 0; j < kItems; ++j) {
    const int64_t i = base + int64_t(j) * kThreads + threadIdx.x;
    const bool in = i < n && candidate(eligible, want, i);
    const uint32_t key = in ? kmath::ordered_key(scores[i]) : 0u;
    const uint32_t eq = in && key == T ? 1u : 0u;
    uint32_t pos = 0, stripe_total = 0;
    Scan(tmp).ExclusiveSum(eq, pos, stripe_total);
    __syncthreads();  // tmp is reused by the next stripe
    if (i < n) selected[i] = (!none && in && (key > T || (eq && before + pos < rank))) ? 1 : 0;
    before += stripe_total;
  }
}

}  // namespace

size_t topk_workspace_bytes(int64_t n) { return layout(n).total; }

void topk_select(const float* scores, int64_t n, int64_t k, const uint8_t* eligible, uint8_t want,
                 uint8_t* selected, uint32_t* nan_count, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream) {
  BPR_CHECK(k >= 0, "top-k: k must be >= 0, got {}", k);
  BPR_CHECK(n < (int64_t(1) << 31), "top-k: {} scores exceed the kernel's 2^31 limit", n);
  if (n <= 0) return;
  const Layout L = layout(n);
  BPR_CHECK(workspace_bytes >= L.total, "top-k: workspace of {} bytes, {} needed", workspace_bytes, L.total);
  char* ws = static_cast<char*>(workspace);
  auto* hist = reinterpret_cast<uint32_t*>(ws + L.hist);
  auto* state = reinterpret_cast<SelectState*>(ws + L.state);
  auto* block_counts = reinterpret_cast<uint32_t*>(ws + L.block_counts);
  auto* block_offsets = reinterpret_cast<uint32_t*>(ws + L.block_offsets);
  BPR_CUDA_CHECK(cudaMemsetAsync(hist, 0, sizeof(uint32_t) * kmath::kRadixBins * kmath::kRadixPasses, stream));
  BPR_CUDA_CHECK(cudaMemsetAsync(state, 0, sizeof(SelectState), stream));  // pass 0 matches against prefix 0
  BPR_CUDA_CHECK(cudaMemsetAsync(nan_count, 0, sizeof(uint32_t), stream));
  const int grid = kmath::grid_blocks(n, kThreads, 1024);
  for (int pass = 0; pass < kmath::kRadixPasses; ++pass) {
    uint32_t* h = hist + pass * kmath::kRadixBins;
    histogram_kernel<<<grid, kThreads, 0, stream>>>(scores, n, eligible, want, pass, state, h, nan_count);
    check_launch("topk_histogram");
    pick_digit_kernel<<<1, 1, 0, stream>>>(h, pass, k, state);
    check_launch("topk_pick_digit");
  }
  count_equal_kernel<<<unsigned(L.blocks), kThreads, 0, stream>>>(scores, n, eligible, want, state, block_counts);
  check_launch("topk_count_equal");
  size_t cub_bytes = L.cub_bytes;
  cudaError_t e = cub::DeviceScan::ExclusiveSum(ws + L.cub, cub_bytes, block_counts, block_offsets, int(L.blocks),
                                                stream);
  BPR_CHECK(e == cudaSuccess, "top-k: CUB scan failed: {}", cudaGetErrorString(e));
  select_kernel<<<unsigned(L.blocks), kThreads, 0, stream>>>(scores, n, eligible, want, state, block_offsets,
                                                             selected);
  check_launch("topk_select");
}

int64_t count_regrow_conflicts(const uint8_t* selected, const uint8_t* mask, int64_t n, unsigned long long* counter,
                               cudaStream_t stream) {
  BPR_CUDA_CHECK(cudaMemsetAsync(counter, 0, sizeof(unsigned long long), stream));
  for_each_index(n, stream, "regrow_conflicts", [=] __device__(int64_t i) {
    if (regrow_conflict(selected[i], mask[i])) atomicAdd(counter, 1ull);
  });
  unsigned long long host = 0;
  BPR_CUDA_CHECK(cudaMemcpyAsync(&host, counter, sizeof host, cudaMemcpyDeviceToHost, stream));
  BPR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return static_cast<int64_t>(host);
}

void apply_selection(const uint8_t* selected, SelectionMode mode, int64_t n, uint8_t* mask, float* value,
                     const float* init, cudaStream_t stream) {
  for_each_index(n, stream, "apply_selection", [=] __device__(int64_t i) {
    select_update(mode, selected[i], mask[i], value[i], init ? init[i] : 0.0f);
  });
}

}  // namespace bpr::kernels
