// profiler.h — per-op wall-clock accounting for `bpr bench` breakdowns, and named ranges for
// external profilers.
// defines: RangeHooks, set_range_hooks, OpProfiler, ProfileScope, NvtxRange, BPR_PROFILE
//
// Each scope is also a range for an external profiler: register_builtin_backends() installs
// NVTX (engine/cuda) as the range hooks where CUDA is built, so Nsight Systems shows every op
// and pipeline phase by name; without a profiler attached that costs a call. The core knows
// no profiler library: it calls whatever hooks were installed (none: nothing).
// Wall-time accounting is off by default (one branch); when enabled, each scope adds its
// wall time and a call count under its name; `bpr bench train-step --breakdown` prints
// the table (on a GPU the times are host-side launch times unless BPR_CUDA_SYNC=1).
#pragma once
#include <chrono>
#include <map>
#include <string>

namespace bpr {

// Push and pop a named range; both null (the default) or both set.
struct RangeHooks {
  void (*push)(const char* name) = nullptr;
  void (*pop)() = nullptr;
};
void set_range_hooks(RangeHooks hooks);
const RangeHooks& range_hooks();
inline void range_push(const char* name) {
  if (range_hooks().push) range_hooks().push(name);
}
inline void range_pop() {
  if (range_hooks().pop) range_hooks().pop();
}

struct OpTime {
  double seconds = 0;
  int64_t calls = 0;
};

class OpProfiler {
 public:
  static OpProfiler& instance();
  void enable(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }
  void add(const char* name, double seconds);
  void reset() { times_.clear(); }
  const std::map<std::string, OpTime>& times() const { return times_; }

 private:
  bool enabled_ = false;
  std::map<std::string, OpTime> times_;
};

class ProfileScope {
 public:
  explicit ProfileScope(const char* name)
      : name_(OpProfiler::instance().enabled() ? name : nullptr) {
    range_push(name);
    if (name_) t0_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    range_pop();
    if (name_)
      OpProfiler::instance().add(
          name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point t0_;
};

// An NVTX range with a run-time name (pipeline phases such as "phase oneshot_90").
class NvtxRange {
 public:
  explicit NvtxRange(const std::string& name) { range_push(name.c_str()); }
  ~NvtxRange() { range_pop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

#define BPR_PROFILE_CAT2(a, b) a##b
#define BPR_PROFILE_CAT(a, b) BPR_PROFILE_CAT2(a, b)
#define BPR_PROFILE(name) ::bpr::ProfileScope BPR_PROFILE_CAT(bpr_profile_, __LINE__)(name)

}  // namespace bpr
