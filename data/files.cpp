#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "data/readers.h"

namespace bpr {

std::string read_file(const std::string& path, size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  BPR_CHECK(f != nullptr, "{}: cannot open: {}", path, std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (out.size() + got > max_bytes) {
      std::fclose(f);
      BPR_FAIL("{}: larger than the {} bytes this reader accepts", path, max_bytes);
    }
    out.append(buf, got);
  }
  bool err = std::ferror(f) != 0;
  std::fclose(f);
  BPR_CHECK(!err, "{}: read error", path);
  return out;
}

std::string read_file_gz(const std::string& path, size_t max_bytes) {
  // gzread reads plain files transparently, so one path serves .gz and uncompressed files.
  gzFile f = gzopen(path.c_str(), "rb");
  BPR_CHECK(f != nullptr, "{}: cannot open: {}", path, std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int got = gzread(f, buf, sizeof buf);
    if (got < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      BPR_FAIL("{}: corrupt gzip data ({})", path, msg);
    }
    if (got == 0) break;
    if (out.size() + static_cast<size_t>(got) > max_bytes) {
      gzclose(f);
      BPR_FAIL("{}: decompresses to more than the {} bytes this reader accepts", path, max_bytes);
    }
    out.append(buf, static_cast<size_t>(got));
  }
  // A truncated .gz stream ends without error from gzread but gzclose reports it.
  int rc = gzclose(f);
  BPR_CHECK(rc == Z_OK, "{}: truncated or corrupt gzip stream (zlib code {})", path, rc);
  return out;
}

}  // namespace bpr
