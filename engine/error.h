// error.h — bpr's one family of checks.
// defines: bpr::Error, BPR_CHECK(cond, fmt, args...), BPR_FAIL(fmt, args...)
//
// The library throws bpr::Error with a message that names what was wrong and what was
// expected; apps catch it at the top and print one line. Destructors never throw.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace bpr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace bpr

#define BPR_FAIL(...) throw ::bpr::Error(fmt::format(__VA_ARGS__))

#define BPR_CHECK(cond, ...)                    \
  do {                                          \
    if (!(cond)) BPR_FAIL(__VA_ARGS__);         \
  } while (0)
