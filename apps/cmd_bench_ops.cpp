// bpr bench ops — every op of the op-case table (engine/ops/op_cases.h) at its benchmark size:
// forward, and forward + backward, on the chosen device, with the same ops in PyTorch on the
// same device as the peer (scripts/bench_pytorch_ops.py reads the cases from a JSON file).
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "engine/autograd.h"
#include "engine/files.h"
#include "engine/ops/op_cases.h"

namespace bpr::app {

namespace {
struct OpBenchOptions {
  DeviceOptions device;
  std::string filter;
  int reps = 10;
  std::string json_out;
  std::string peer = "pytorch";
  std::string python = "/usr/bin/python3";
  std::string peer_script = "scripts/bench_pytorch_ops.py";
};

const std::vector<OpInput>& bench_inputs(const OpCase& c) { return c.bench.empty() ? c.inputs : c.bench; }

nlohmann::json case_json(const OpCase& c) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const OpInput& in : bench_inputs(c)) {
    const char* kind = in.kind == InputKind::Normal     ? "normal"
                       : in.kind == InputKind::Positive ? "positive"
                       : in.kind == InputKind::Mask     ? "mask"
                                                        : "labels";
    inputs.push_back({{"shape", in.shape}, {"kind", kind}, {"scale", in.scale}, {"keep", in.keep},
                      {"classes", in.classes}});
  }
  return {{"name", c.name}, {"torch", c.torch}, {"inputs", inputs}};
}

// The PyTorch peer's milliseconds per case, or null with `why`.
nlohmann::json run_peer(const OpBenchOptions& o, const nlohmann::json& cases, Device dev, std::string& why) {
  if (!std::filesystem::exists(o.peer_script)) {
    why = o.peer_script + " not found (run from the repository root)";
    return nullptr;
  }
  const std::string spec = (std::filesystem::temp_directory_path() / "bpr-bench-ops.json").string();
  write_file_atomic(spec, cases.dump());
  return run_peer_command(fmt::format("{} {} --cases {} --reps {} --device {}", o.python, o.peer_script, spec, o.reps,
                                      dev.is_cuda() ? "cuda" : "cpu"),
                          why);
}

// Forward and forward+backward milliseconds of one case on `dev`.
std::pair<double, double> time_case(const OpCase& c, Device dev, int reps) {
  Backend& be = backend_for(dev);
  std::vector<Tensor> in = make_op_inputs(bench_inputs(c), DType::F32, 1);
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = in[i].to(dev);
    if (c.inputs[i].differentiable()) in[i].set_requires_grad(true);
  }
  Tensor gy;
  const double fwd = time_ms(be, reps, [&] {
    NoGradGuard no_grad;
    c.fn(in);
  });
  const double both = time_ms(be, reps, [&] {
    for (Tensor& t : in) t.set_grad(Tensor());
    Tensor y = c.fn(in);
    if (!gy.defined()) gy = Tensor::ones(y.shape(), y.dtype(), y.device());
    y.backward(gy);
  });
  return {fwd, both};
}

int run_ops_bench(const OpBenchOptions& o) {
  BPR_CHECK(o.reps >= 1, "--reps must be at least 1");
  const Device dev = setup_device(o.device, false);
  nlohmann::json cases = nlohmann::json::array(), report = nlohmann::json::object();
  std::vector<const OpCase*> chosen;
  for (const OpCase& c : op_cases())
    if (o.filter.empty() || c.name.find(o.filter) != std::string::npos) {
      chosen.push_back(&c);
      cases.push_back(case_json(c));
    }
  BPR_CHECK(!chosen.empty(), "--filter '{}' matches no op (see `bpr bench ops` without it)", o.filter);
  std::string why;
  nlohmann::json peer = o.peer == "none" ? nlohmann::json() : run_peer(o, cases, dev, why);
  fmt::print("bench ops on {} (median of {}; ratio = PyTorch ms / bpr ms, >1 is faster)\n", dev.str(), o.reps);
  fmt::print("{:<28} {:>10} {:>10} {:>9}  {:>10} {:>9}\n", "op", "fwd ms", "GB/s", "ratio", "fwd+bwd ms", "ratio");
  for (const OpCase* c : chosen) {
    const auto [fwd, both] = time_case(*c, dev, o.reps);
    double bytes = 0;
    for (const OpInput& in : bench_inputs(*c)) bytes += double(shape_numel(in.shape)) * 4;
    std::string r1 = "-", r2 = "-";
    if (peer.is_object() && peer["cases"].contains(c->name)) {
      r1 = fmt::format("{:.2f}x", peer["cases"][c->name].value("fwd_ms", 0.0) / fwd);
      r2 = fmt::format("{:.2f}x", peer["cases"][c->name].value("fwdbwd_ms", 0.0) / both);
    }
    fmt::print("{:<28} {:>10.3f} {:>10.1f} {:>9}  {:>10.3f} {:>9}\n", c->name, fwd, bytes / (fwd * 1e6), r1, both, r2);
    report[c->name] = {{"fwd_ms", fwd}, {"fwdbwd_ms", both}, {"input_bytes", bytes}};
  }
  if (peer.is_object()) fmt::print("peer: {}\n", peer.value("version", std::string("?")));
  else if (o.peer != "none") fmt::print("peer: unavailable: {}\n", why);
  if (!o.json_out.empty()) write_file_atomic(o.json_out, report.dump(2) + "\n");
  return 0;
}
}  // namespace

void add_bench_ops_command(CLI::App* bench) {
  auto o = std::make_shared<OpBenchOptions>();
  CLI::App* c = bench->add_subcommand("ops", "Time every op of the op-case table, forward and backward, vs PyTorch");
  add_device_options(c, o->device);
  c->add_option("--filter", o->filter, "only ops whose name contains this");
  c->add_option("--reps", o->reps, "timed repetitions (median is reported)")->capture_default_str();
  c->add_option("--json", o->json_out, "also write the figures to this JSON file");
  add_peer_options(c, o->peer, o->python, o->peer_script);
  c->callback([o] { throw CommandResult{run_ops_bench(*o)}; });
}

}  // namespace bpr::app
