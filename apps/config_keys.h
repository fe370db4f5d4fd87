// config_keys.h — the key tables of bpr's config structs (config_schema.h), one per struct,
// and the schemas of the commands built from them.
// defines: model_keys, data_keys, dense_keys, finetune_keys, prune_keys, start_keys, baseline_keys,
//          regrow_keys, rl_keys, RunConfig, run_keys, pipeline_schema
//
// configs/demo.toml shows every key with a comment; `bpr pipeline --list-keys` prints them
// with their types and defaults (a test checks that demo.toml names them all).
#pragma once
#include <string>
#include <vector>

#include "apps/app_common.h"
#include "apps/config_schema.h"
#include "engine/prune/pipeline.h"

namespace bpr::app {

const std::vector<ConfigKey<ModelOptions>>& model_keys();      // [model]
const std::vector<ConfigKey<DataOptions>>& data_keys();        // [data]
const std::vector<ConfigKey<TrainConfig>>& dense_keys();       // [dense]: dense training
const std::vector<ConfigKey<FinetuneConfig>>& finetune_keys(); // every finetune section
const std::vector<ConfigKey<PruneConfig>>& prune_keys();       // [prune]
const std::vector<ConfigKey<StartConfig>>& start_keys();       // [start]
const std::vector<ConfigKey<BaselineConfig>>& baseline_keys(); // [baseline]
const std::vector<ConfigKey<RegrowConfig>>& regrow_keys();     // [regrow]
const std::vector<ConfigKey<RlConfig>>& rl_keys();             // [regrow.rl]

// A pipeline run as configured: the model, the data, every phase, and the run's settings.
struct RunConfig {
  ModelOptions model;
  DataOptions data;
  PipelineConfig pipeline;
  int threads = 0;
};
const std::vector<ConfigKey<RunConfig>>& run_keys();  // the root keys: seed, out, threads

// Every key of a pipeline config file, bound to `rc` (sections in file order).
ConfigSchema pipeline_schema(RunConfig& rc);

}  // namespace bpr::app
