// bpr bench conv — every distinct convolution of a VGG at a batch size, on the CPU: forward
// and backward (input and weight gradients, bias) through each CPU path (oneDNN when built in,
// im2col + OpenBLAS), with PyTorch's convolution on the same cores as the peer
// (scripts/bench_pytorch_conv.py). The per-layer table behind the CPU's convolution choice.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/files.h"
#include "engine/rng.h"

namespace bpr::app {

namespace {
struct ConvBenchOptions {
  ModelOptions model;
  int64_t batch = 128;
  int reps = 5;
  int threads = 0;
  std::string json_out;
  std::string peer = "pytorch";
  std::string python = "/usr/bin/python3";
  std::string peer_script = "scripts/bench_pytorch_conv.py";
};

// (forward ms, backward ms) of one shape through the current CPU path.
std::pair<double, double> time_shape(const ConvShape& s, int64_t batch, int reps) {
  Rng rng(1);
  CpuBackend& be = cpu_backend();
  const Tensor x = random_tensor({batch, s.C, s.H, s.H}, rng, 1.0), w = random_tensor({s.O, s.C, 3, 3}, rng, 0.05);
  const Tensor b = random_tensor({s.O}, rng, 0.1), gy = random_tensor({batch, s.O, s.H, s.H}, rng, 1.0);
  Tensor y = Tensor::empty({batch, s.O, s.H, s.H}), gx = Tensor::empty(x.shape()), gw = Tensor::empty(w.shape());
  Tensor gb = Tensor::empty({s.O});
  const Conv2dArgs args{1, 1};
  const double fwd = time_ms(be, reps, [&] { be.conv2d_forward(x, w, &b, args, y); });
  const double bwd = time_ms(be, reps, [&] { be.conv2d_backward(x, w, gy, args, s.C > 3 ? &gx : nullptr, &gw, &gb); });
  return {fwd, bwd};
}

nlohmann::json run_peer(const ConvBenchOptions& o, const std::vector<ConvShape>& shapes, std::string& why) {
  if (!std::filesystem::exists(o.peer_script)) {
    why = o.peer_script + " not found (run from the repository root)";
    return nullptr;
  }
  nlohmann::json spec = nlohmann::json::array();
  for (const ConvShape& s : shapes) spec.push_back({{"C", s.C}, {"H", s.H}, {"O", s.O}});
  const std::string path = (std::filesystem::temp_directory_path() / "bpr-bench-conv.json").string();
  write_file_atomic(path, spec.dump());
  return run_peer_command(fmt::format("{} {} --shapes {} --batch {} --reps {} --threads {}", o.python, o.peer_script,
                                      path, o.batch, o.reps, cpu_threads()),
                          why);
}

int run_bench_conv(const ConvBenchOptions& o) {
  apply_threads(o.threads);
  const std::vector<ConvShape> shapes = vgg_conv_shapes(o.model);
  CpuBackend& be = cpu_backend();
  be.set_conv_impl(CpuConvImpl::Auto);  // oneDNN when built in
  std::vector<CpuConvImpl> paths{CpuConvImpl::Im2col};
  if (be.conv_uses_onednn()) paths.push_back(CpuConvImpl::OneDnn);
  fmt::print("bench conv: {} width {} batch {}, 3x3 convolutions, {} threads; oneDNN: {}\n", o.model.model,
             o.model.width, o.batch, cpu_threads(),
             paths.size() > 1 ? be.conv_summary() : std::string("not built in"));
  std::string why;
  const nlohmann::json peer = o.peer == "pytorch" ? run_peer(o, shapes, why) : nlohmann::json(nullptr);
  if (o.peer == "pytorch" && peer.is_null()) fmt::print("peer: unavailable ({})\n", why);
  fmt::print("{:<18} {:>3}  {:>9} {:>9}  {:>9} {:>9}  {:>9} {:>9}   (median ms)\n", "C->O @ HxW", "n", "im2col f",
             "im2col b", "oneDNN f", "oneDNN b", "torch f", "torch b");
  nlohmann::json report = nlohmann::json::array();
  std::map<std::string, double> total;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const ConvShape& s = shapes[i];
    nlohmann::json row = {{"C", s.C}, {"H", s.H}, {"O", s.O}, {"count", s.count}};
    std::string line = fmt::format("{:<18} {:>3}", fmt::format("{}->{} @ {}x{}", s.C, s.O, s.H, s.H), s.count);
    for (CpuConvImpl p : {CpuConvImpl::Im2col, CpuConvImpl::OneDnn}) {
      const std::string name = enum_name(cpu_conv_names(), p);
      if (std::find(paths.begin(), paths.end(), p) == paths.end()) {
        line += fmt::format("  {:>9} {:>9}", "-", "-");
        continue;
      }
      be.set_conv_impl(p);
      const auto [f, b] = time_shape(s, o.batch, o.reps);
      line += fmt::format("  {:9.2f} {:9.2f}", f, b);
      row[name] = {{"fwd_ms", f}, {"bwd_ms", b}};
      total[name] += s.count * (f + b);
    }
    if (!peer.is_null()) {
      const nlohmann::json& pl = peer.at("layers").at(i);
      line += fmt::format("  {:9.2f} {:9.2f}", pl.at("fwd_ms").get<double>(), pl.at("bwd_ms").get<double>());
      row["pytorch"] = pl;
      total["pytorch"] += s.count * (pl.at("fwd_ms").get<double>() + pl.at("bwd_ms").get<double>());
    }
    fmt::print("{}\n", line);
    report.push_back(row);
  }
  be.set_conv_impl(CpuConvImpl::Auto);
  for (const auto& [name, ms] : total) fmt::print("all {} convolutions of the model, {}: {:.1f} ms\n", o.model.model, name, ms);
  if (total.count("pytorch"))
    for (const auto& [name, ms] : total)
      if (name != "pytorch")
        fmt::print("ratio {}: {:.2f}x PyTorch's convolution throughput (>1 is faster)\n", name, total["pytorch"] / ms);
  if (!o.json_out.empty())
    write_file_atomic(o.json_out, nlohmann::json{{"layers", report}, {"totals_ms", total}}.dump(2) + "\n");
  return 0;
}
}  // namespace

void add_bench_conv_command(CLI::App* bench) {
  auto o = std::make_shared<ConvBenchOptions>();
  CLI::App* c = bench->add_subcommand("conv", "Time each convolution of a VGG on the CPU: oneDNN, im2col, PyTorch");
  add_model_options(c, o->model);
  c->add_option("--batch", o->batch, "batch size")->capture_default_str();
  c->add_option("--reps", o->reps, "timed repetitions (median is reported)")->capture_default_str();
  c->add_option("--threads", o->threads, "CPU threads (0: all cores); the peer uses the same")->capture_default_str();
  c->add_option("--json", o->json_out, "also write the figures to this JSON file");
  add_peer_options(c, o->peer, o->python, o->peer_script);
  c->callback([o] { throw CommandResult{run_bench_conv(*o)}; });
}

}  // namespace bpr::app
