// bpr info — what this build is and what it can run on; with --model, a network layer by layer.
#include <omp.h>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/dist/communicator.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/blas.h"
#include "engine/cuda/cuda_runtime.h"
#include "models/model_table.h"

namespace bpr::app {

namespace {
// Whether the build's architecture list covers a GPU, in words.
std::string code_line(const CudaDeviceInfo& d) {
  switch (d.code) {
    case ArchSupport::Sass: return "built for this GPU (machine code in the binary)";
    case ArchSupport::Ptx: return "runs from PTX, compiled by the driver at first use (no machine code for it built in)";
    case ArchSupport::Unknown: return "built for the build machine's GPU (native); the first launch tells";
    case ArchSupport::None: break;
  }
  return fmt::format("NOT SUPPORTED by this build: rebuild with -DBPR_CUDA_ARCHS=native (or add {}{})", d.cc_major,
                     d.cc_minor);
}

int run_info() {
  fmt::print("bpr {}\n", BPR_VERSION);
#ifdef NDEBUG
  const char* build = "release";
#else
  const char* build = "debug";
#endif
  fmt::print("build:       {} (C++{}, {} {})\n", build, __cplusplus / 100 % 100, "gcc", __VERSION__);
  fmt::print("cpu threads: {} (OpenMP), {} cores online\n", cpu_threads(), omp_get_num_procs());
  fmt::print("blas:        {}\n", cpu::blas_config());
  fmt::print("cpu conv:    {}\n", cpu_backend().conv_summary());
  fmt::print("mpi:         {}\n", mpi_compiled() ? "yes (mpirun -np N bpr train ...: data-parallel ranks, docs/scale-out.md)"
                                                   : "no (one process; install libopenmpi-dev and rebuild)");
  const CudaStatus& st = cuda_status();
  if (!st.compiled) {
    fmt::print("cuda:        not built ({})\n", st.error);
  } else {
    fmt::print("cuda:        built with runtime {}.{}; driver {}\n", st.runtime_version / 1000,
               st.runtime_version % 1000 / 10,
               st.driver_version ? fmt::format("{}.{}", st.driver_version / 1000, st.driver_version % 1000 / 10)
                                 : std::string("not loaded"));
    fmt::print("cuda archs:  {}\n", st.archs);
    for (const auto& d : st.devices) {
      fmt::print("gpu {}:       {} ({:.1f} GiB, sm_{}{}, {} SMs; fp32 peak {:.1f} TFLOP/s, DRAM {:.0f} GB/s)\n",
                 d.index, d.name, d.total_memory / 1073741824.0, d.cc_major, d.cc_minor, d.sm_count,
                 d.fp32_peak_tflops, d.dram_gbps);
      fmt::print("             {}\n", code_line(d));
    }
    if (st.devices.empty()) fmt::print("gpus:        none usable ({})\n", st.error);
  }
  fmt::print("backends:    cpu{}\n", cuda_backend_usable() ? ", cuda" : "");
  return 0;
}

struct ModelTableOptions {
  ModelOptions model;
  int64_t classes = 10, in_channels = 3, image_size = 32;
};

// The table of models/model_table.h for --model/--width (and the keep-dense settings).
int run_model_table(const ModelTableOptions& o) {
  ModelConfig c;
  c.name = o.model.model;
  c.width = o.model.width;
  c.keep_first_dense = o.model.keep_first_dense;
  c.keep_classifier_dense = o.model.keep_classifier_dense;
  c.num_classes = o.classes;
  c.in_channels = o.in_channels;
  c.image_size = o.image_size;
  auto m = make_model(c, 0);
  fmt::print("{} ({}x{}x{} input, {} classes)\n{}", m->extra(), c.in_channels, c.image_size, c.image_size,
             c.num_classes, model_table(*m));
  return 0;
}
}  // namespace

void add_info_command(CLI::App& root) {
  auto o = std::make_shared<ModelTableOptions>();
  CLI::App* c = root.add_subcommand("info", "Show build, BLAS, threads, CUDA toolkit and GPUs; with --model, a network's "
                                            "layers, parameters, prunable weights and MACs");
  add_model_options(c, o->model);
  c->add_option("--classes", o->classes, "--model: classes of the head")->capture_default_str();
  c->add_option("--in-channels", o->in_channels, "--model: input channels")->capture_default_str();
  c->add_option("--image-size", o->image_size, "--model: input height and width")->capture_default_str();
  c->callback([o, c] { throw CommandResult{c->count("--model") ? run_model_table(*o) : run_info()}; });
}

}  // namespace bpr::app
