// bpr infer — class probabilities for images, with the latency of each forward at batch 1.
// Inputs are JPEG/PNG files (decoded to the checkpoint's channels, resized by area averaging
// to its data set's image size when they differ, then placed and normalized exactly as the
// test loader does) or data set specs (synthetic, cifar10:<dir>, ...), whose first --limit
// test images are classified and checked against their labels. Checkpoints in the sparse
// layout (bpr export --sparse) load like any other. The network runs folded for inference
// (batch norm in the convolutions, engine/nn/fold.h), masked layers as CSR where --sparse
// (auto: the cost model) runs them sparse.
#include <chrono>
#include <cmath>
#include <filesystem>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "data/readers.h"
#include "engine/autograd.h"
#include "engine/prune/sparsity.h"

namespace bpr::app {

namespace {
struct InferOptions {
  CheckpointInput in;
  std::vector<std::string> inputs;
  int top = 3;
  int64_t limit = 10;
  int reps = 3;
};

struct InferItem {
  std::string name;   // what to call it in the output
  Tensor image;       // (C, H, W) u8 at the data set's size
  int32_t label = -1; // -1: unknown
};

bool looks_like_spec(const std::string& s) {
  return s == "synthetic" || s == "fashion-mnist" || s.find(':') != std::string::npos;
}

// The images named by one command-line input, appended to `items`.
void add_input(const std::string& input, const InferOptions& o, const DataBundle& d, std::vector<InferItem>& items) {
  const int64_t H = d.test.height(), W = d.test.width();
  if (std::filesystem::is_regular_file(input)) {
    const std::string bytes = read_file(input, size_t(1) << 30);
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
    const Tensor planes = decode_image(b, bytes.size(), static_cast<int>(d.channels), input);
    std::string name = input;
    if (planes.size(1) != H || planes.size(2) != W)
      name += fmt::format(" (resized {}x{} -> {}x{})", planes.size(2), planes.size(1), W, H);
    items.push_back({name, resize_area(planes, H, W), -1});
    return;
  }
  BPR_CHECK(looks_like_spec(input), "{}: no such image file, and not a data set spec (synthetic, cifar10:<dir>, "
            "fashion-mnist[:<dir>], folder:<dir>)", input);
  DataOptions spec;
  spec.spec = input;
  const DataBundle other = load_data(spec, o.in.seed);
  BPR_CHECK(other.channels == d.channels && other.test.height() == H && other.test.width() == W &&
                other.classes == d.classes,
            "{}: {}-channel {}x{} images in {} classes, but the checkpoint takes {}-channel {}x{} images in {} classes",
            input, other.channels, other.test.width(), other.test.height(), other.classes, d.channels, W, H, d.classes);
  const int64_t n = std::min(o.limit, other.test.size());
  const int64_t plane = d.channels * H * W;
  for (int64_t i = 0; i < n; ++i) {
    Tensor img = Tensor::empty({d.channels, H, W}, DType::U8);
    std::copy_n(other.test.images.data<uint8_t>() + i * plane, plane, img.data<uint8_t>());
    items.push_back({fmt::format("{} test #{}", input, i), img, other.test.labels.data<int32_t>()[i]});
  }
}

// The (1, C, canvas, canvas) normalized input of one image, as the test loader makes it.
Tensor input_tensor(const InferItem& item, const DataBundle& d) {
  Dataset one;
  one.images = item.image.view({1, item.image.size(0), item.image.size(1), item.image.size(2)});
  one.labels = Tensor::zeros({1}, DType::I32);
  one.classes = d.test.classes;
  LoaderConfig cfg;
  cfg.canvas = d.canvas;
  cfg.norm = d.norm;
  Tensor x = Tensor::empty({1, d.channels, d.canvas, d.canvas});
  const int64_t idx = 0;
  int32_t label = 0;
  assemble_batch(one, cfg, &idx, 1, 0, x.data<float>(), &label);
  return x;
}

// "cat 91.20%, dog 5.03%, deer 1.10%": the `top` most probable classes.
std::string top_classes(const std::vector<double>& prob, const std::vector<std::string>& classes, int top,
                        int64_t& best) {
  std::vector<int64_t> order(prob.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return prob[a] > prob[b]; });
  best = order[0];
  std::string s;
  for (int k = 0; k < top && k < static_cast<int>(order.size()); ++k)
    s += fmt::format("{}{} {:.2f}%", k ? ", " : "", classes[static_cast<size_t>(order[k])], 100 * prob[order[k]]);
  return s;
}

std::vector<double> softmax_host(const Tensor& logits) {
  const std::vector<float> z = logits.to(cpu_device()).to_vector<float>();
  const double m = *std::max_element(z.begin(), z.end());
  std::vector<double> p(z.size());
  double sum = 0;
  for (size_t i = 0; i < z.size(); ++i) sum += p[i] = std::exp(z[i] - m);
  for (double& v : p) v /= sum;
  return p;
}

int run_infer(InferOptions& o, const CLI::App* app) {
  BPR_CHECK(o.top >= 1, "--top must be >= 1, got {}", o.top);
  BPR_CHECK(o.limit >= 1, "--limit must be >= 1, got {}", o.limit);
  BPR_CHECK(o.reps >= 1, "--reps must be >= 1, got {}", o.reps);
  LoadedRun run = load_checkpoint_input(o.in, app);
  std::vector<InferItem> items;
  for (const std::string& input : o.inputs) add_input(input, o, run.data, items);
  Backend& be = backend_for(run.device);
  NoGradGuard no_grad;
  run.model->eval();
  BPR_CHECK(!items.empty(), "nothing to classify");
  run.model->forward(input_tensor(items[0], run.data).to(run.device));  // layers learn their input size
  // batch norm folded into the convolutions; masked layers as CSR where --sparse runs them sparse
  const InferenceNet net = run.model->fold_for_inference();
  std::vector<double> ms;
  int64_t labelled = 0, right = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Tensor x = input_tensor(items[i], run.data).to(run.device);
    if (i == 0) net.forward(x);  // first use: workspaces, cuDNN plans
    Tensor logits;
    for (int r = 0; r < o.reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      logits = net.forward(x);
      be.synchronize();
      ms.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    int64_t best = 0;
    const std::string line = top_classes(softmax_host(logits), run.data.test.classes, o.top, best);
    std::string verdict;
    if (items[i].label >= 0) {
      ++labelled;
      right += best == items[i].label;
      verdict = fmt::format("  (label {}: {})", run.data.test.classes[static_cast<size_t>(items[i].label)],
                            best == items[i].label ? "right" : "wrong");
    }
    fmt::print("{}: {}{}\n", items[i].name, line, verdict);
  }
  std::sort(ms.begin(), ms.end());
  const SparsityReport rep = sparsity_report(run.model->prunable_parameters());
  const auto sparse_layers = std::count_if(rep.layers.begin(), rep.layers.end(), [](const LayerSparsity& l) {
    return l.sparse_exec;
  });
  fmt::print("latency at batch 1: median {:.2f} ms, min {:.2f}, max {:.2f} over {} forwards ({} image{} x {}) on {}{}; "
             "{:.2f}% sparse, {} of {} masked layers run sparse\n",
             ms[ms.size() / 2], ms.front(), ms.back(), ms.size(), items.size(), items.size() == 1 ? "" : "s", o.reps,
             run.device.str(), run.device.is_cpu() ? fmt::format(" ({} threads)", cpu_threads()) : "",
             100 * rep.sparsity(), sparse_layers, rep.layers.size());
  if (labelled) fmt::print("{} of {} labelled images right ({:.1f}%)\n", right, labelled, 100.0 * right / labelled);
  return 0;
}
}  // namespace

void add_infer_command(CLI::App& root) {
  auto o = std::make_shared<InferOptions>();
  CLI::App* c = root.add_subcommand("infer", "Classify images with a checkpoint: top classes, probabilities, latency");
  add_checkpoint_input(c, o->in, "checkpoint (.safetensors, dense or sparse)", DataFlags::Evaluate);
  c->add_option("inputs", o->inputs, "JPEG/PNG files, or data set specs whose first --limit test images to classify")
      ->required();
  c->add_option("--top", o->top, "classes to show per image")->capture_default_str();
  c->add_option("--limit", o->limit, "test images taken from each data set spec")->capture_default_str();
  c->add_option("--reps", o->reps, "timed forwards per image (latency: median over all)")->capture_default_str();
  c->callback([o, c] { throw CommandResult{run_infer(*o, c)}; });
}

}  // namespace bpr::app
