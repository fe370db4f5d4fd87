// Built when CMake did not find oneDNN (or BPR_ONEDNN=OFF): the CPU backend then runs every
// convolution through its im2col + GEMM path (onednn_conv.h).
#include "engine/cpu/onednn_conv.h"

namespace bpr {

std::unique_ptr<OneDnnConv> make_onednn_conv() { return nullptr; }

}  // namespace bpr
