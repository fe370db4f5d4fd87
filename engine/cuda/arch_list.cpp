#include "engine/cuda/arch_list.h"

#include <algorithm>
#include <cctype>

#include "engine/error.h"

namespace bpr {

namespace {
int parse_number(const std::string& entry, const std::string& digits) {
  BPR_CHECK(!digits.empty() && digits.size() <= 3 &&
                std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }),
            "CUDA architecture list: '{}' is not an architecture (expected e.g. 90, 80-real, 90-virtual, native)",
            entry);
  return std::stoi(digits);
}
}  // namespace

CudaArchList parse_arch_list(const std::string& spec) {
  CudaArchList list;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t end = std::min(spec.find_first_of(";, ", start), spec.size());
    const std::string entry = spec.substr(start, end - start);
    start = end + 1;
    if (entry.empty()) continue;
    if (entry == "native") {
      list.native = true;
      continue;
    }
    const size_t dash = entry.find('-');
    const std::string kind = dash == std::string::npos ? "" : entry.substr(dash + 1);
    BPR_CHECK(kind.empty() || kind == "real" || kind == "virtual",
              "CUDA architecture list: '{}' has an unknown suffix (expected -real or -virtual)", entry);
    const int arch = parse_number(entry, entry.substr(0, dash));
    if (kind != "virtual") list.sass.push_back(arch);
    if (kind != "real") list.ptx.push_back(arch);
  }
  for (auto* v : {&list.sass, &list.ptx}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  return list;
}

ArchSupport arch_support(const CudaArchList& list, int cc_major, int cc_minor) {
  for (int a : list.sass)
    if (a / 10 == cc_major && a % 10 <= cc_minor) return ArchSupport::Sass;
  for (int a : list.ptx)
    if (a <= cc_major * 10 + cc_minor) return ArchSupport::Ptx;
  return list.native ? ArchSupport::Unknown : ArchSupport::None;
}

std::string describe_arch_list(const CudaArchList& list) {
  std::string out;
  for (int a : list.sass) out += (out.empty() ? "sm_" : ", sm_") + std::to_string(a);
  for (int a : list.ptx) out += (out.empty() ? "PTX compute_" : " + PTX compute_") + std::to_string(a);
  if (list.native) out += out.empty() ? "native (the build machine's GPU)" : " + native";
  return out.empty() ? "no architectures" : out;
}

}  // namespace bpr
