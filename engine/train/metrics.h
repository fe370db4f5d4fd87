// metrics.h — run-folder outputs of the training loop (internal to engine/train).
// defines: RunLog, format_duration, percent_or_dash
#pragma once
#include <cstdio>
#include <string>

#include "engine/train/trainer.h"

namespace bpr {

std::string format_duration(double seconds);  // "1h02m", "3m12s", "45s"
// "93.12%" for a measured fraction, "–" for one that was not measured (never a fake 0).
std::string percent_or_dash(bool has, double fraction);

// Console + a log file (train.log) + metrics.csv for one run. With an empty folder it only
// prints. Without `metrics`, epoch lines go to the console and log only (the pipeline's log,
// whose phases each restart their epoch count).
class RunLog {
 public:
  RunLog(const std::string& dir, bool quiet, bool resume, int64_t resume_epoch,
         const std::string& log_name = "train.log", bool metrics = true);
  ~RunLog();
  void line(const std::string& text);     // to stdout and train.log
  void epoch(const EpochStats& s);        // one metrics.csv row + a console line

 private:
  std::string dir_;
  bool quiet_;
  bool metrics_;
  std::FILE* log_ = nullptr;
};

}  // namespace bpr
