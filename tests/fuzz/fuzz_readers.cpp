// libFuzzer targets for every file reader. One source, one target per reader, chosen at
// compile time by BPR_FUZZ_TARGET (cifar10, cifar100, idx, image, safetensors). Contract under test:
// any byte string either parses or throws bpr::Error — never a crash, hang, leak or
// out-of-bounds access (AddressSanitizer is on in the fuzz build).
#include <cstddef>
#include <cstdint>

#include "data/readers.h"
#include "engine/backends.h"
#include "engine/io/safetensors.h"

#ifndef BPR_FUZZ_TARGET
#error "define BPR_FUZZ_TARGET"
#endif

namespace {
void run(const uint8_t* data, size_t size) {
  using namespace bpr;
  const char* which = BPR_FUZZ_TARGET;
  const std::string t(which);
  if (t == "cifar10") {
    parse_cifar10_batch(data, size, "fuzz.bin");
  } else if (t == "cifar100") {
    parse_cifar100(data, size, "fuzz.bin", size % 2 == 1);  // both label choices
  } else if (t == "idx") {
    parse_idx(data, size, "fuzz.idx");
  } else if (t == "image") {
    decode_image(data, size, 3, "fuzz.img");
  } else if (t == "safetensors") {
    parse_safetensors(data, size, "fuzz.safetensors");
  }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  bpr::register_builtin_backends();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    run(data, size);
  } catch (const bpr::Error&) {
    // rejected with a message: the expected outcome for bad input
  }
  return 0;
}
