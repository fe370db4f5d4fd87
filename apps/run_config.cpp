#include "apps/run_config.h"

#include <sstream>
#include <toml++/toml.h>

namespace bpr::app {

namespace {
json toml_to_json(const toml::node& n, const std::string& where) {
  if (const toml::table* t = n.as_table()) {
    json out = json::object();
    for (auto&& [k, v] : *t) out[std::string(k.str())] = toml_to_json(v, where + "." + std::string(k.str()));
    return out;
  }
  if (const toml::array* a = n.as_array()) {
    json out = json::array();
    for (const toml::node& e : *a) out.push_back(toml_to_json(e, where));
    return out;
  }
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_boolean()) return v->get();
  BPR_FAIL("{}: dates and times are not config values", where);
}

void set_path(toml::table& root, const std::string& path, toml::node&& value) {
  toml::table* t = &root;
  size_t start = 0;
  for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) {
    const std::string key = path.substr(start, dot - start);
    if (!t->contains(key)) t->insert(key, toml::table{});
    t = (*t)[key].as_table();
    BPR_CHECK(t != nullptr, "--set {}: '{}' is not a section", path, key);
  }
  t->insert_or_assign(path.substr(start), std::move(value));
}

void apply_override(toml::table& root, const std::string& text) {
  const size_t eq = text.find('=');
  BPR_CHECK(eq != std::string::npos && eq > 0, "--set '{}': expected section.key=value", text);
  const std::string path = text.substr(0, eq), value = text.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{};
    parsed.insert("v", value);  // a bare word: take it as a string
  }
  set_path(root, path, std::move(*parsed.get("v")));
}
}  // namespace

ConfigDocument read_config_document(const std::string& path, const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    BPR_FAIL("{}: invalid TOML at {}: {}", path, where.str(), e.description());
  }
  for (const auto& o : overrides) apply_override(root, o);
  ConfigDocument d;
  d.doc = toml_to_json(root, path);
  std::ostringstream os;
  os << root;
  d.toml = os.str() + "\n";
  return d;
}

RunConfig load_run_config(const ConfigDocument& d, const std::string& path) {
  RunConfig rc;
  pipeline_schema(rc).read(d.doc, path, true);
  return rc;
}

}  // namespace bpr::app
