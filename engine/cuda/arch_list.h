// arch_list.h — which GPUs a build of bpr can run on, from the architecture list it was
// compiled with (CMake's BPR_CUDA_ARCHS, resolved; e.g. "75-real;80-real;90").
// defines: CudaArchList, parse_arch_list, ArchSupport, arch_support, describe_arch_list
//
// Plain C++ (tested on the CPU): "NN-real" is machine code (SASS) for sm_NN, "NN-virtual"
// is PTX for compute_NN, a bare "NN" is both, "native" is whatever GPU the build machine
// had. SASS for sm_XY runs on any X.Z with Z >= Y (same major version); PTX for compute_XY
// is compiled by the driver for any GPU of capability >= X.Y.
#pragma once
#include <string>
#include <vector>

namespace bpr {

struct CudaArchList {
  std::vector<int> sass;  // e.g. 75, 80, 86, 89, 90, 100, 120 (ascending)
  std::vector<int> ptx;   // e.g. 121
  bool native = false;    // built for the build machine's GPU ("native")
};

// Throws bpr::Error on an entry that is none of the forms above.
CudaArchList parse_arch_list(const std::string& spec);

enum class ArchSupport {
  Sass,     // machine code for this GPU is in the binary
  Ptx,      // the driver compiles PTX for it at first launch (slower start, same results)
  None,     // no code for this GPU: every kernel launch would fail
  Unknown,  // "native": only a launch can tell
};
ArchSupport arch_support(const CudaArchList& list, int cc_major, int cc_minor);

// "sm_75, sm_80, sm_90 + PTX compute_90"
std::string describe_arch_list(const CudaArchList& list);

}  // namespace bpr
