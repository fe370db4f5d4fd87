// Configuration as data: the key tables drive the TOML reader, --set, the CLI and the JSON of
// run folders, so a value survives every path, errors name the key and the valid choices,
// and configs/demo.toml documents every key.
#include <doctest/doctest.h>

#include <set>

#include "apps/app_common.h"
#include "apps/config_keys.h"
#include "apps/run_config.h"

using namespace bpr;
using namespace bpr::app;

namespace {
const std::string kDemo = std::string(BPR_SOURCE_DIR) + "/configs/demo.toml";

// Parses `args` (after the program name) with the given schema's flags.
void parse(ConfigSchema& schema, std::vector<std::string> args, CLI::App& app) {
  schema.add_cli(&app);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
  app.parse(args);
}
}  // namespace

TEST_CASE("config: every key of a pipeline config survives TOML -> structs -> JSON -> structs") {
  const ConfigDocument d = read_config_document(
      kDemo, {"regrow.policy=rl", "prune.gradual=[0.5, 0.7]", "dense.nesterov=true", "final.select=\"val\"",
              "seed=7", "regrow.rl.std_window=9", "start.curve=gradual"});
  RunConfig a = load_run_config(d, kDemo);
  CHECK(a.pipeline.regrow.policy == RegrowPolicy::Rl);
  CHECK(a.pipeline.prune.gradual_targets == std::vector<double>{0.5, 0.7});
  CHECK(a.pipeline.dense.nesterov);
  CHECK(a.pipeline.final_finetune.select == EpochSelect::Val);
  CHECK(a.pipeline.run.seed == 7);
  CHECK(a.pipeline.regrow.rl.std_window == 9);
  CHECK(a.pipeline.start.curve == StartCurve::Gradual);
  CHECK(a.pipeline.prune.oneshot_finetune.optimizer == OptimizerKind::AdamW);  // from the file
  const json recorded = pipeline_schema(a).to_json();
  RunConfig b;  // defaults, then the record read back
  pipeline_schema(b).read(recorded, "record", true);
  CHECK(pipeline_schema(b).to_json() == recorded);
  CHECK(recorded["regrow"]["policy"] == "rl");  // enums are written by name
}

TEST_CASE("config: configs/demo.toml names every key (each finetune key in at least one finetune section)") {
  std::set<std::string> in_file;
  std::function<void(const json&, const std::string&)> walk = [&](const json& j, const std::string& prefix) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (it->is_object()) walk(*it, path);
      else in_file.insert(path);
    }
  };
  walk(read_config_document(kDemo, {}).doc, "");
  const std::vector<std::string> finetunes{"prune.oneshot_finetune", "prune.iterative_finetune",
                                           "prune.gradual_finetune", "regrow.mini_finetune", "final"};
  RunConfig rc;
  const ConfigSchema schema = pipeline_schema(rc);
  for (const auto& k : schema.keys()) {
    CAPTURE(k.path);
    bool found = in_file.count(k.path) > 0;
    for (const std::string& f : finetunes)
      if (k.path.rfind(f + ".", 0) == 0 && k.path.find('.', f.size() + 1) == std::string::npos)
        for (const std::string& g : finetunes) found = found || in_file.count(g + k.path.substr(f.size())) > 0;
    CHECK(found);
  }
}

TEST_CASE("config: errors name the source, the key and the valid choices") {
  auto load_with = [](const std::string& set) { return load_run_config(read_config_document(kDemo, {set}), kDemo); };
  CHECK_THROWS_WITH_AS(load_with("dense.epoch=3"),
                       doctest::Contains("unknown key 'dense.epoch'; did you mean 'dense.epochs'?"), Error);
  CHECK_THROWS_WITH_AS(load_with("dense.epochs=2.5"), doctest::Contains("'dense.epochs' must be an integer"), Error);
  CHECK_THROWS_WITH_AS(load_with("dense.nesterov=1"), doctest::Contains("must be true or false"), Error);
  CHECK_THROWS_WITH_AS(load_with("prune.oneshot=[0.9, \"x\"]"), doctest::Contains("must hold numbers only"), Error);
  CHECK_THROWS_WITH_AS(load_with("prune.allocation=lamb"),
                       doctest::Contains("'prune.allocation': unknown 'lamb' (expected global, uniform, erk or lamp)"),
                       Error);
  CHECK_THROWS_WITH_AS(load_with("final.schedule=cosine"),
                       doctest::Contains("unknown 'cosine' (expected constant or cosine-step)"), Error);
  CHECK_THROWS_WITH_AS(load_with("seed=-1"), doctest::Contains("'seed' must be a non-negative integer"), Error);
  CHECK_THROWS_WITH_AS(load_with("regrow.rl.actions=4294967298"),  // would wrap to 2 in an int
                       doctest::Contains("'regrow.rl.actions' is out of range"), Error);
  CHECK_THROWS_WITH_AS(validate_pipeline(load_with("regrow.rl.episodes=0").pipeline),
                       doctest::Contains("regrow.rl: episodes"), Error);  // with the pipeline's settings, before work
  CHECK_THROWS_WITH_AS(validate_pipeline(load_with("baseline.zero_init=true").pipeline),  // demo: one-shot, zero init
                       doctest::Contains("baseline.zero_init repeats the regrown model exactly"), Error);
  CHECK_THROWS_WITH_AS(validate_pipeline(load_with("regrow.rl.budget_fractions=[0.01]").pipeline),  // demo: proportional
                       doctest::Contains("budget_fractions is set, but regrow.policy is not rl"), Error);
  // a command reading its part of a config skips what it does not know
  ModelOptions m;
  ConfigSchema s;
  s.add("model", model_keys(), m);
  s.read(read_config_document(kDemo, {}).doc, kDemo, false);
  CHECK(m.width == 0.0625);  // demo.toml's width
}

TEST_CASE("config: the CLI flags come from the same rows (names, enum parsing, negated bools, given flags)") {
  TrainConfig t;
  DataOptions d;
  ConfigSchema s;
  s.add("dense", dense_keys(), t);
  s.add("data", data_keys(), d);
  CLI::App app;
  parse(s, {"--optimizer", "adamw", "--max-steps", "7", "--no-augment", "--schedule", "cosine-step", "--nesterov"},
        app);
  CHECK(t.optimizer == OptimizerKind::AdamW);
  CHECK(t.max_steps_per_epoch == 7);
  CHECK(t.schedule == ScheduleKind::CosineStep);
  CHECK(t.nesterov);
  CHECK_FALSE(d.augment);
  const std::vector<std::string> given = s.given(&app);
  CHECK(given == std::vector<std::string>{"dense.optimizer", "dense.nesterov", "dense.schedule",
                                          "dense.max_steps_per_epoch", "data.augment"});
  TrainConfig t2;
  ConfigSchema s2;
  s2.add("dense", dense_keys(), t2);
  CLI::App app2;
  CHECK_THROWS_WITH_AS(parse(s2, {"--optimizer", "sdg"}, app2),
                       doctest::Contains("--optimizer: unknown 'sdg' (expected sgd or adamw)"), Error);
  // a section's flag prefix: the regrow command's --mini-epochs
  FinetuneConfig f;
  ConfigSchema s3;
  s3.add("regrow.mini_finetune", finetune_keys(), f, "mini-");
  CLI::App app3;
  parse(s3, {"--mini-epochs", "3"}, app3);
  CHECK(f.epochs == 3);
}

TEST_CASE("config: checkpoints keep the recorded run; the flat layout of older checkpoints is read too") {
  const json flat = {{"model", "vgg11"},      {"width", 0.25},      {"data", "synthetic"}, {"val_split", 0.0},
                     {"train_size", 256},     {"test_size", 64},    {"seed", 5}};
  CheckpointInput in;
  checkpoint_schema(in).read(recorded_run(flat), "old checkpoint", false);
  CHECK(in.model.model == "vgg11");
  CHECK(in.model.width == 0.25);
  CHECK(in.data.synthetic_train == 256);
  CHECK(in.seed == 5);
  const json nested = checkpoint_schema(in).to_json();
  CHECK(recorded_run(nested) == nested);  // the current layout passes through
  CheckpointInput back;
  checkpoint_schema(back).read(nested, "checkpoint", true);
  CHECK(checkpoint_schema(back).to_json() == nested);
}
