// profiler.h — per-op wall-clock accounting for `bpr bench` breakdowns.
// defines: OpProfiler, ProfileScope, BPR_PROFILE
//
// Off by default (a scope then costs one branch). When enabled, each scope adds its wall
// time and a call count under its name; `bpr bench train-step --breakdown` prints the
// table. Scopes are the natural place for NVTX ranges when the CUDA backend lands.
#pragma once
#include <chrono>
#include <map>
#include <string>

namespace bpr {

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
    if (name_) t0_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
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

#define BPR_PROFILE_CAT2(a, b) a##b
#define BPR_PROFILE_CAT(a, b) BPR_PROFILE_CAT2(a, b)
#define BPR_PROFILE(name) ::bpr::ProfileScope BPR_PROFILE_CAT(bpr_profile_, __LINE__)(name)

}  // namespace bpr
