// The GPU parity suite's entry point: skips (exit 77, reported by ctest as "Skipped") when
// no GPU is usable, saying why; otherwise activates the CUDA backend and runs every case.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "engine/backends.h"
#include "engine/cuda/cuda_runtime.h"

int main(int argc, char** argv) {
  bpr::register_builtin_backends();
  const bpr::CudaStatus& st = bpr::cuda_status();
  if (!bpr::cuda_backend_usable()) {
    std::printf("GPU parity suite skipped: %s\n", st.error.empty() ? "no usable GPU" : st.error.c_str());
    return 77;
  }
  bpr::select_device(bpr::parse_device("cuda:0"));
  std::printf("GPU parity suite on %s (compute capability %d.%d)\n", st.devices[0].name.c_str(),
              st.devices[0].cc_major, st.devices[0].cc_minor);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
