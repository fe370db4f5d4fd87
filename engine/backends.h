// backends.h — the layer above the backends: registering them, and turning a device the user
// named into one that is ready to compute on.
// defines: register_builtin_backends, select_device
//
// The op table (engine/backend.h) knows no backend; each registers itself. Programs (the
// bpr CLI, the test runners, the fuzzers) call register_builtin_backends() once at start:
// it puts the CPU backend in the table and installs NVTX as the profiler range hooks where
// CUDA is built. The CUDA backend joins the table when select_device picks a GPU.
#pragma once
#include "engine/device.h"

namespace bpr {

// Idempotent.
void register_builtin_backends();

// The device to compute on: "auto" becomes the first GPU this build has code for, else the
// CPU; a GPU is checked (present, covered by the build) and its backend activated. The one
// place where naming a device has side effects. Throws bpr::Error with the reason.
Device select_device(const DeviceSpec& spec);

}  // namespace bpr
