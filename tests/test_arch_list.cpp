// Which GPUs a build runs on (engine/cuda/arch_list.h): the compiled architecture list as
// CMake resolves it, and the SASS/PTX compatibility rules, on the CPU.
#include <doctest/doctest.h>

#include "engine/cuda/arch_list.h"
#include "engine/error.h"

using namespace bpr;

TEST_CASE("arch list: CMake's forms parse into machine code and PTX sets") {
  const CudaArchList all = parse_arch_list("75-real,80-real,86-real,89-real,90-real,100-real,120");
  CHECK(all.sass == std::vector<int>{75, 80, 86, 89, 90, 100, 120});
  CHECK(all.ptx == std::vector<int>{120});
  CHECK_FALSE(all.native);
  const CudaArchList two = parse_arch_list("90;75-real");
  CHECK(two.sass == std::vector<int>{75, 90});
  CHECK(two.ptx == std::vector<int>{90});
  CHECK(parse_arch_list("80-virtual").sass.empty());
  CHECK(parse_arch_list("native").native);
  CHECK(parse_arch_list("").sass.empty());
  CHECK(describe_arch_list(parse_arch_list("75-real;90")) == "sm_75, sm_90 + PTX compute_90");
  CHECK_THROWS_WITH_AS(parse_arch_list("sm_90"), doctest::Contains("'sm_90' is not an architecture"), Error);
  CHECK_THROWS_WITH_AS(parse_arch_list("90-fat"), doctest::Contains("unknown suffix"), Error);
}

TEST_CASE("arch list: SASS runs within its major version upward, PTX on anything newer") {
  const CudaArchList l = parse_arch_list("75-real;80-real;90");
  CHECK(arch_support(l, 9, 0) == ArchSupport::Sass);   // H100 / H200
  CHECK(arch_support(l, 8, 0) == ArchSupport::Sass);   // A100
  CHECK(arch_support(l, 8, 6) == ArchSupport::Sass);   // RTX 3090: sm_80 code runs on 8.6
  CHECK(arch_support(l, 8, 9) == ArchSupport::Sass);   // RTX 4090 / L4
  CHECK(arch_support(l, 7, 5) == ArchSupport::Sass);   // T4 / RTX 2080
  CHECK(arch_support(l, 10, 0) == ArchSupport::Ptx);   // B200: JIT from compute_90
  CHECK(arch_support(l, 12, 0) == ArchSupport::Ptx);
  CHECK(arch_support(l, 7, 0) == ArchSupport::None);   // V100: older than anything built
  const CudaArchList hopper_only = parse_arch_list("90-real");
  CHECK(arch_support(hopper_only, 8, 0) == ArchSupport::None);  // the old default: no A100
  CHECK(arch_support(hopper_only, 10, 0) == ArchSupport::None);  // and no PTX for newer cards
  CHECK(arch_support(parse_arch_list("native"), 8, 6) == ArchSupport::Unknown);
}
