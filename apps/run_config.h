// run_config.h — TOML run configurations (configs/*.toml), read through the key tables.
// defines: ConfigDocument, read_config_document, load_run_config
//
// A config file sets the model, the data and every phase of the pipeline (configs/demo.toml
// shows every key with a comment; `bpr pipeline --list-keys` prints them with types and
// defaults). Unknown keys are errors, so a typo never silently falls back to a default.
// `--set section.key=value` overrides any key (the value is parsed as TOML: numbers, strings
// in quotes or bare words, arrays).
#pragma once
#include <string>
#include <vector>

#include "apps/config_keys.h"

namespace bpr::app {

struct ConfigDocument {
  json doc;             // the file after overrides, nested by section
  std::string toml;     // the same as TOML text, as written to the run folder
};
// Parses `path` and applies the overrides; throws bpr::Error naming the file and position.
ConfigDocument read_config_document(const std::string& path, const std::vector<std::string>& overrides);

// The whole configuration: every key of the document checked against pipeline_schema.
RunConfig load_run_config(const ConfigDocument& d, const std::string& path);

}  // namespace bpr::app
