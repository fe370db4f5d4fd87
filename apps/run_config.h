// run_config.h — TOML run configurations (configs/*.toml) for `bpr pipeline`.
// defines: RunConfig, load_run_config, apply_override
//
// A config file sets the model, the data and every phase of the pipeline (see
// configs/demo.toml for the full list of keys with comments). Unknown keys are errors, so a
// typo never silently falls back to a default. `--set section.key=value` overrides any key
// (the value is parsed as TOML: numbers, strings in quotes or bare words, arrays).
#pragma once
#include <string>
#include <vector>

#include "apps/app_common.h"
#include "engine/prune/pipeline.h"

namespace bpr::app {

struct RunConfig {
  ModelOptions model;
  DataOptions data;
  PipelineConfig pipeline;
  int threads = 0;
  std::string resolved_toml;  // the configuration after overrides, as written to the run folder
};

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace bpr::app
