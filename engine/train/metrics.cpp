#include "engine/train/metrics.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "engine/io/safetensors.h"

namespace bpr {

namespace {
constexpr const char* kHeader = "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds,img_per_s";

// Keeps metrics.csv rows up to `epoch` (a resumed run rewrites what came after).
void truncate_metrics(const std::string& path, int64_t epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept = std::string(kHeader) + "\n";
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (std::stoll(line.substr(0, line.find(','))) <= epoch) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}
}  // namespace

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

RunLog::RunLog(const std::string& dir, bool quiet, bool resume, int64_t resume_epoch, const std::string& log_name,
               bool metrics)
    : dir_(dir), quiet_(quiet), metrics_(metrics) {
  if (dir_.empty()) return;
  std::filesystem::create_directories(dir_);
  const std::string csv = dir_ + "/metrics.csv";
  if (metrics_ && resume) truncate_metrics(csv, resume_epoch);
  if (metrics_ && (!resume || !std::filesystem::exists(csv))) write_file_atomic(csv, std::string(kHeader) + "\n");
  log_ = std::fopen((dir_ + "/" + log_name).c_str(), resume ? "a" : "w");
  BPR_CHECK(log_ != nullptr, "{}/{}: cannot open for writing", dir_, log_name);
}

RunLog::~RunLog() {
  if (log_) std::fclose(log_);
}

void RunLog::line(const std::string& text) {
  if (!quiet_) {
    std::fputs((text + "\n").c_str(), stdout);
    std::fflush(stdout);
  }
  if (log_) {
    std::fputs((text + "\n").c_str(), log_);
    std::fflush(log_);
  }
}

std::string percent_or_dash(bool has, double fraction) {
  return has ? fmt::format("{:.2f}%", 100 * fraction) : std::string("–");
}

void RunLog::epoch(const EpochStats& s) {
  const std::string test =
      s.has_test ? fmt::format("test loss {:.4f} acc {:.2f}%", s.test_loss, 100 * s.test_acc) : std::string("test –");
  line(fmt::format("epoch {} done: train loss {:.4f} acc {:.2f}% | val {} | {} | lr {:.3g} | {:.0f} img/s | {}",
                   s.epoch, s.train_loss, 100 * s.train_acc, s.has_val ? "acc " + percent_or_dash(true, s.val_acc) : "–",
                   test, s.lr, s.img_per_s, format_duration(s.seconds)));
  if (dir_.empty() || !metrics_) return;
  auto field = [](bool has, double v) { return has ? fmt::format("{:.6f}", v) : std::string(); };  // empty: not measured
  std::ofstream out(dir_ + "/metrics.csv", std::ios::app);
  out << fmt::format("{},{},{:.6g},{:.6f},{:.6f},{},{},{},{},{:.3f},{:.1f}\n", s.epoch, s.step, s.lr, s.train_loss,
                     s.train_acc, field(s.has_val, s.val_loss), field(s.has_val, s.val_acc),
                     field(s.has_test, s.test_loss), field(s.has_test, s.test_acc), s.seconds, s.img_per_s);
  BPR_CHECK(out.good(), "{}/metrics.csv: write failed", dir_);
}

}  // namespace bpr
