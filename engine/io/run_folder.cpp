#include "engine/io/run_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace bpr {

namespace fs = std::filesystem;

namespace {
// The pid at the end of "<name>.tmp.<pid>", or 0.
pid_t temp_file_pid(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at + 5 >= name.size()) return 0;
  const std::string digits = name.substr(at + 5);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return 0;
  return static_cast<pid_t>(std::stol(digits));
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

void probe_write(const std::string& dir) {
  const std::string probe = dir + "/.bpr-write-probe." + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  BPR_CHECK(fd >= 0, "{}: the run folder is not writable: {}", dir, std::strerror(errno));
  const char bytes[64] = {};
  const bool ok = ::write(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes) && ::fsync(fd) == 0;
  const int e = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  BPR_CHECK(ok, "{}: writing in the run folder failed: {}", dir, std::strerror(e));
}
}  // namespace

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const pid_t pid = temp_file_pid(name);
    if (pid > 0 && pid != ::getpid() && !process_exists(pid) && fs::remove(entry.path(), ec)) removed.push_back(name);
  }
  return removed;
}

std::vector<std::string> prepare_run_folder(const std::string& dir, uint64_t bytes_needed) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  BPR_CHECK(!ec && fs::is_directory(dir), "{}: cannot create the run folder: {}", dir,
            ec ? ec.message() : std::string("a file of that name is in the way"));
  probe_write(dir);
  std::vector<std::string> removed = remove_stale_temp_files(dir);
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) == 0) {
    const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    BPR_CHECK(free_bytes >= bytes_needed, "{}: {:.1f} MiB free, but this run's checkpoints need about {:.1f} MiB; "
              "free some space or choose another --out", dir, free_bytes / 1048576.0, bytes_needed / 1048576.0);
  }
  return removed;
}

}  // namespace bpr
