#include "engine/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"

namespace bpr {

namespace {
std::string dir_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}
}  // namespace

namespace {
// Test hook (tests/crash_cli.sh): BPR_TEST_SLOW_WRITE_MS=N holds a .safetensors write for N ms
// after its temp file is written and before the rename, so a test can kill the process at
// exactly that point and check the previous checkpoint survived.
void test_pause_before_rename(const std::string& path) {
  static const char* ms = std::getenv("BPR_TEST_SLOW_WRITE_MS");
  const std::string ext = ".safetensors";
  if (ms && path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    ::usleep(static_cast<useconds_t>(std::atoi(ms)) * 1000);
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  BPR_CHECK(fd >= 0, "{}: cannot create: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      BPR_FAIL("{}: write failed: {}", tmp, std::strerror(e));
    }
    done += static_cast<size_t>(w);
  }
  bool ok = ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (ok) test_pause_before_rename(path);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    BPR_FAIL("{}: could not write atomically: {}", path, std::strerror(e));
  }
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY);
  if (dfd >= 0) {  // make the rename itself durable
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace bpr
