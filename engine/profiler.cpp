#include "engine/profiler.h"

namespace bpr {

OpProfiler& OpProfiler::instance() {
  static OpProfiler p;
  return p;
}

void OpProfiler::add(const char* name, double seconds) {
  OpTime& t = times_[name];
  t.seconds += seconds;
  t.calls += 1;
}

}  // namespace bpr
