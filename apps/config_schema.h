// config_schema.h — configuration as data: one table of keys per config struct, and the
// schema that binds tables to struct instances for one command.
// defines: ConfigKey, key, add_enum_option, enum_key, ConfigSchema
//
// A key names one field of a struct: its name in TOML files, `--set` paths and the JSON
// written to run folders, its command-line flag, its help text and its type. From that one
// row come the TOML reader (type-checked; unknown keys are errors), `--set`, the CLI option
// (with its default), the JSON of a run folder, the JSON read back from a checkpoint, and the
// `--list-keys` table. Enums are parsed once, here, against their name table, and every
// error lists the valid names. Nothing about a key is written twice, so the four cannot
// disagree.
//
// Flags: a key's flag is "--" + its name with '_' as '-', unless the row gives one
// ("--max-steps", or "!--no-augment" for a bool whose flag turns it off); a schema section
// may prefix its flags ("--mini-" + "epochs").
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/enum_names.h"
#include "engine/error.h"

namespace bpr::app {

using json = nlohmann::json;

template <typename S>
struct ConfigKey {
  std::string name;  // within its section: "lr", "max_steps_per_epoch"
  std::string flag;  // "--lr"; "" when the key has no flag
  std::string help;
  std::string type;  // for --list-keys: number, integer, true|false, string, [numbers], "a | b"
  // `where` names the source in errors ("configs/demo.toml: 'dense.lr'", "checkpoint x: 'seed'").
  std::function<void(S&, const json&, const std::string& where)> set;
  std::function<json(const S&)> get;
  std::function<CLI::Option*(CLI::App*, S&, const std::string& flag, const std::string& help)> add_cli;
};

namespace detail {
inline std::string default_flag(const std::string& name) {
  std::string f = "--" + name;
  for (char& c : f)
    if (c == '_') c = '-';
  return f;
}

template <typename T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bool>) return "true|false";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_same_v<T, std::vector<double>>) return "[numbers]";
  else if constexpr (std::is_floating_point_v<T>) return "number";
  else return "integer";
}

// One JSON value as a T, or bpr::Error "<where> must be <type>".
template <typename T>
T from_json(const json& v, const std::string& where) {
  if constexpr (std::is_same_v<T, bool>) {
    BPR_CHECK(v.is_boolean(), "{} must be true or false", where);
  } else if constexpr (std::is_same_v<T, std::string>) {
    BPR_CHECK(v.is_string(), "{} must be a string", where);
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    BPR_CHECK(v.is_array(), "{} must be an array of numbers", where);
    for (const json& e : v) BPR_CHECK(e.is_number(), "{} must hold numbers only", where);
  } else if constexpr (std::is_floating_point_v<T>) {
    BPR_CHECK(v.is_number(), "{} must be a number", where);
  } else {
    BPR_CHECK(v.is_number_integer(), "{} must be an integer", where);
    if constexpr (std::is_unsigned_v<T>) {
      BPR_CHECK(v.is_number_unsigned() || v.get<int64_t>() >= 0, "{} must be a non-negative integer", where);
      BPR_CHECK(v.get<uint64_t>() <= std::numeric_limits<T>::max(), "{} is too large (at most {})", where,
                std::numeric_limits<T>::max());
    } else {
      BPR_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max()),
                "{} is too large (at most {})", where, std::numeric_limits<T>::max());
      const int64_t i = v.get<int64_t>();
      BPR_CHECK(i >= int64_t(std::numeric_limits<T>::min()) && i <= int64_t(std::numeric_limits<T>::max()),
                "{} is out of range [{}, {}]", where, std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    }
  }
  return v.get<T>();
}
}  // namespace detail

// A key for a field of S of a plain type (bool, integers, double, string, list of numbers),
// reached by `field` (a member pointer, or an accessor for fields of nested structs).
template <typename S, typename T>
ConfigKey<S> key(std::string name, std::function<T&(S&)> field, std::string help, std::string flag = "") {
  ConfigKey<S> k;
  k.flag = flag.empty() ? detail::default_flag(name) : flag == "-" ? "" : flag;
  k.name = std::move(name);
  k.help = std::move(help);
  k.type = detail::type_name<T>();
  k.set = [field](S& s, const json& v, const std::string& where) { field(s) = detail::from_json<T>(v, where); };
  k.get = [field](const S& s) { return json(field(const_cast<S&>(s))); };
  k.add_cli = [field](CLI::App* app, S& s, const std::string& f, const std::string& h) -> CLI::Option* {
    if constexpr (std::is_same_v<T, bool>) return app->add_flag(f, field(s), f[0] == '!' ? "no " + h : h);
    else return app->add_option(f, field(s), h)->capture_default_str();
  };
  return k;
}
template <typename S, typename T>
ConfigKey<S> key(std::string name, T S::*member, std::string help, std::string flag = "") {
  return key<S, T>(std::move(name), std::function<T&(S&)>([member](S& s) -> T& { return s.*member; }),
                   std::move(help), std::move(flag));
}

// A command-line option for an enum: parsed once, here; an unknown name is an error listing
// the valid ones ("--optimizer: unknown 'sdg' (expected sgd or adamw)").
template <typename E>
CLI::Option* add_enum_option(CLI::App* app, const std::string& flag, E& target,
                             const std::vector<EnumName<E>>& (*names)(), const std::string& help) {
  std::string choices;
  for (const auto& e : names()) choices += (choices.empty() ? "{" : ",") + std::string(e.name);
  return app
      ->add_option_function<std::string>(
          flag, [&target, names, flag](const std::string& text) { target = parse_enum(names(), text, flag); }, help)
      ->type_name(choices + "}")
      ->default_str(enum_name(names(), target));
}

// A key for an enum field: written and read as one of `names()`.
template <typename S, typename E>
ConfigKey<S> enum_key(std::string name, E S::*member, const std::vector<EnumName<E>>& (*names)(), std::string help,
                      std::string flag = "") {
  ConfigKey<S> k;
  k.flag = flag.empty() ? detail::default_flag(name) : flag == "-" ? "" : flag;
  k.name = std::move(name);
  k.help = std::move(help);
  std::string type;
  for (const auto& e : names()) type += (type.empty() ? "" : " | ") + std::string(e.name);
  k.type = type;
  k.set = [member, names](S& s, const json& v, const std::string& where) {
    s.*member = parse_enum(names(), detail::from_json<std::string>(v, where), where);
  };
  k.get = [member, names](const S& s) {
    const std::string name = enum_name(names(), s.*member);
    BPR_CHECK(name != "?", "a config value outside its choices ({})", enum_choices(names()));
    return json(name);
  };
  k.add_cli = [member, names](CLI::App* app, S& s, const std::string& f, const std::string& h) {
    return add_enum_option(app, f, s.*member, names, h);
  };
  return k;
}

// The keys of one command, bound to its structs. Paths are "section.key" ("key" at the root).
class ConfigSchema {
 public:
  struct Bound {
    std::string path, flag, help, type;
    std::function<void(const json&, const std::string& where)> set;
    std::function<json()> get;
    std::function<CLI::Option*(CLI::App*)> add_cli;
  };

  // Binds `table` to `obj` under `section` ("" for the root, "prune.oneshot_finetune").
  // `flag_prefix` goes after the dashes of each flag ("mini-": --mini-epochs, !--mini-no-x),
  // `help_prefix` before each help text ("rl mini-finetune: ").
  template <typename S>
  void add(const std::string& section, const std::vector<ConfigKey<S>>& table, S& obj,
           const std::string& flag_prefix = "", const std::string& help_prefix = "") {
    for (const ConfigKey<S>& k : table) {
      Bound b;
      b.path = section.empty() ? k.name : section + "." + k.name;
      const size_t dashes = k.flag.rfind("--", 2);  // "!--no-x" or "--x"
      b.flag = k.flag.empty() || flag_prefix.empty() ? k.flag
                                                     : k.flag.substr(0, dashes + 2) + flag_prefix + k.flag.substr(dashes + 2);
      b.help = help_prefix + k.help;
      b.type = k.type;
      b.set = [&obj, set = k.set](const json& v, const std::string& where) { set(obj, v, where); };
      b.get = [&obj, get = k.get] { return get(obj); };
      b.add_cli = [&obj, add = k.add_cli, flag = b.flag, help = b.help](CLI::App* app) {
        return add(app, obj, flag, help);
      };
      keys_.push_back(std::move(b));
    }
  }
  const std::vector<Bound>& keys() const { return keys_; }
  const Bound* find(const std::string& path) const;

  // Sets every key the document (a TOML file as JSON, nested by section) has. `strict`: a
  // key the schema does not know is an error naming `source`; otherwise it is skipped (a
  // command that reads its part of a larger config).
  void read(const json& doc, const std::string& source, bool strict) const;
  // Sets only the keys in `paths` that the document has (a checkpoint's recorded run).
  void read_only(const json& doc, const std::vector<std::string>& paths, const std::string& source) const;

  // Every key's value, nested by section: the run folder's record of a run.
  json to_json() const;

  // Adds the flags of the keys in `paths` (in that order) to `app`; all keys with a flag
  // when `paths` is empty.
  void add_cli(CLI::App* app, const std::vector<std::string>& paths = {}) const;
  // The paths whose flags were given on the command line.
  std::vector<std::string> given(const CLI::App* app) const;
  // The --list-keys table: path, type, default (the bound values), meaning.
  std::string describe() const;

 private:
  std::vector<Bound> keys_;
};

}  // namespace bpr::app
