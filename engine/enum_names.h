// enum_names.h — the names users type for an enum's values: one table per enum, parsed once
// (at the command line or config file) with the valid names in the error, printed back for
// logs and run folders.
// defines: EnumName, parse_enum, enum_name, enum_choices
#pragma once
#include <string>
#include <vector>

#include "engine/error.h"

namespace bpr {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// "a, b or c"
template <typename E>
std::string enum_choices(const std::vector<EnumName<E>>& table) {
  std::string out;
  for (size_t i = 0; i < table.size(); ++i)
    out += (i == 0 ? "" : i + 1 == table.size() ? " or " : ", ") + std::string(table[i].name);
  return out;
}

// The value named `text`; otherwise bpr::Error "<what>: unknown '<text>' (expected a, b or c)".
template <typename E>
E parse_enum(const std::vector<EnumName<E>>& table, const std::string& text, const std::string& what) {
  for (const auto& e : table)
    if (text == e.name) return e.value;
  BPR_FAIL("{}: unknown '{}' (expected {})", what, text, enum_choices(table));
}

template <typename E>
const char* enum_name(const std::vector<EnumName<E>>& table, E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return "?";
}

}  // namespace bpr
