#include "apps/config_schema.h"

#include <algorithm>

namespace bpr::app {

namespace {
// Edit distance, for "did you mean" on unknown keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Calls fn(path, value) for every non-object value of a nested document.
void for_each_leaf(const json& doc, const std::string& prefix,
                   const std::function<void(const std::string&, const json&)>& fn) {
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      for_each_leaf(*it, path, fn);
    else
      fn(path, *it);
  }
}

const json* at_path(const json& doc, const std::string& path) {
  const json* node = &doc;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}
}  // namespace

const ConfigSchema::Bound* ConfigSchema::find(const std::string& path) const {
  for (const Bound& b : keys_)
    if (b.path == path) return &b;
  return nullptr;
}

void ConfigSchema::read(const json& doc, const std::string& source, bool strict) const {
  for_each_leaf(doc, "", [&](const std::string& path, const json& value) {
    const Bound* b = find(path);
    if (b) {
      b->set(value, fmt::format("{}: '{}'", source, path));
      return;
    }
    if (!strict) return;
    std::string hint;
    size_t best = 3;  // suggest only close matches
    for (const Bound& k : keys_)
      if (const size_t d = edit_distance(path, k.path); d < best) {
        best = d;
        hint = fmt::format("; did you mean '{}'?", k.path);
      }
    BPR_FAIL("{}: unknown key '{}'{} ('bpr pipeline --list-keys' lists every key)", source, path, hint);
  });
}

void ConfigSchema::read_only(const json& doc, const std::vector<std::string>& paths, const std::string& source) const {
  for (const std::string& path : paths) {
    const Bound* b = find(path);
    BPR_CHECK(b != nullptr, "internal: no config key '{}'", path);
    if (const json* v = at_path(doc, path)) b->set(*v, fmt::format("{}: '{}'", source, path));
  }
}

json ConfigSchema::to_json() const {
  json out = json::object();
  for (const Bound& b : keys_) {
    json* node = &out;
    size_t start = 0;
    for (size_t dot; (dot = b.path.find('.', start)) != std::string::npos; start = dot + 1)
      node = &(*node)[b.path.substr(start, dot - start)];
    (*node)[b.path.substr(start)] = b.get();
  }
  return out;
}

void ConfigSchema::add_cli(CLI::App* app, const std::vector<std::string>& paths) const {
  if (paths.empty()) {
    for (const Bound& b : keys_)
      if (!b.flag.empty()) b.add_cli(app);
    return;
  }
  for (const std::string& path : paths) {
    const Bound* b = find(path);
    BPR_CHECK(b != nullptr && !b->flag.empty(), "internal: no config key '{}' with a flag", path);
    b->add_cli(app);
  }
}

std::vector<std::string> ConfigSchema::given(const CLI::App* app) const {
  std::vector<std::string> out;
  for (const Bound& b : keys_) {
    if (b.flag.empty()) continue;
    const std::string name = b.flag[0] == '!' ? b.flag.substr(1) : b.flag;
    if (app->get_option_no_throw(name) && app->count(name) > 0) out.push_back(b.path);
  }
  return out;
}

std::string ConfigSchema::describe() const {
  size_t wp = 3, wt = 4, wd = 7;
  std::vector<std::string> defaults;
  for (const Bound& b : keys_) {
    defaults.push_back(b.get().dump());
    wp = std::max(wp, b.path.size());
    wt = std::max(wt, b.type.size());
    wd = std::max(wd, defaults.back().size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", "key", wp, "type", wt, "default", wd, "meaning");
  for (size_t i = 0; i < keys_.size(); ++i)
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", keys_[i].path, wp, keys_[i].type, wt, defaults[i], wd,
                       keys_[i].help);
  return out;
}

}  // namespace bpr::app
