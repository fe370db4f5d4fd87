#include "engine/profiler.h"

namespace bpr {

namespace {
RangeHooks& hooks() {
  static RangeHooks h;
  return h;
}
}  // namespace

void set_range_hooks(RangeHooks h) { hooks() = h; }
const RangeHooks& range_hooks() { return hooks(); }

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
