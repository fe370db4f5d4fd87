// bpr data — pack image folders into CIFAR-10 binary; describe a data set.
#include <chrono>
#include <filesystem>

#include "apps/app_common.h"
#include "apps/commands.h"
#include "data/pack.h"
#include "data/readers.h"

namespace bpr::app {

namespace {
void print_set(const Dataset& d) {
  fmt::print("{}: {} images, {}x{}x{} (C x H x W), {} classes\n", d.name, d.size(), d.channels(), d.height(),
             d.width(), d.num_classes());
  auto hist = class_histogram(d);
  for (size_t k = 0; k < hist.size(); ++k) fmt::print("  {:>3} {:<14} {:>7}\n", k, d.classes[k], hist[k]);
  ChannelStats s = channel_stats(d);
  for (size_t c = 0; c < s.mean.size(); ++c)
    fmt::print("  channel {}: mean {:.4f} std {:.4f} (of pixel/255)\n", c, s.mean[c], s.std[c]);
}

// A spec (cifar10:<dir>, ...) or a bare path whose layout tells what it is.
std::string spec_for(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.find(':') != std::string::npos || path == "synthetic" || path == "fashion-mnist") return path;
  if (fs::exists(path + "/data_batch_1.bin") || fs::exists(path + "/cifar-10-batches-bin")) return "cifar10:" + path;
  if (fs::exists(path + "/train-images-idx3-ubyte.gz") || fs::exists(path + "/train-images-idx3-ubyte"))
    return "fashion-mnist:" + path;
  if (fs::is_directory(path)) return "folder:" + path;
  BPR_FAIL("{}: not a data set folder (expected CIFAR-10 binary, IDX files or an image folder)", path);
}

int run_info(const std::string& path) {
  DataOptions o;
  o.spec = spec_for(path);
  o.val_split = 0;
  DataBundle b = load_data(o, 42);
  fmt::print("{} ({})\n", o.spec, b.kind);
  print_set(b.train);
  print_set(b.test);
  return 0;
}

int run_pack(const std::string& folder, const std::string& out) {
  auto t0 = std::chrono::steady_clock::now();
  PackResult r = pack_cifar10(folder, out);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("packed {} training and {} test images from {} into {} (data_batch_1..5.bin, test_batch.bin, "
             "batches.meta.txt) in {:.1f}s\n", r.train, r.test, folder, out, s);
  return 0;
}
}  // namespace

void add_data_command(CLI::App& root) {
  CLI::App* d = root.add_subcommand("data", "Data sets: pack an image folder as CIFAR-10 binary, describe a set");
  d->require_subcommand(1);
  auto pack_in = std::make_shared<std::string>(), pack_out = std::make_shared<std::string>();
  CLI::App* p = d->add_subcommand("pack", "Write <folder>/{train,test}/<class>/*.jpg as CIFAR-10 binary batches");
  p->add_option("folder", *pack_in, "image folder with train/ and test/")->required()->check(CLI::ExistingDirectory);
  p->add_option("out", *pack_out, "output folder (cifar-10-batches-bin layout)")->required();
  p->callback([pack_in, pack_out] { throw CommandResult{run_pack(*pack_in, *pack_out)}; });
  auto info_path = std::make_shared<std::string>();
  CLI::App* i = d->add_subcommand("info", "Counts, class histogram and per-channel mean/std of a data set");
  i->add_option("path", *info_path, "folder or spec (cifar10:<dir>, fashion-mnist[:<dir>], folder:<dir>, synthetic)")
      ->required();
  i->callback([info_path] { throw CommandResult{run_info(*info_path)}; });
}

}  // namespace bpr::app
