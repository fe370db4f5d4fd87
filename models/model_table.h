// model_table.h — a model layer by layer: what `bpr info --model` prints.
// defines: model_table
#pragma once
#include <string>

#include "engine/nn/module.h"

namespace bpr {

// One row per layer that owns parameters (Conv2d, Linear, BatchNorm2d), in network order:
// name, kind and settings, output shape per example where known, parameters, prunable
// weights (a masked weight; 0 for batch norm, biases and layers kept dense), and
// multiply-accumulates per example (a weight's `uses` x its size; "-" when unknown). Then the
// totals. Shape-only: nothing runs.
std::string model_table(Module& model);

}  // namespace bpr
