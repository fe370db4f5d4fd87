// files.h — writing a file so that a crash never leaves a partial one.
// defines: write_file_atomic
//
// Every file bpr writes (checkpoints, metrics, reports, packed data) goes through here: the
// bytes go to "<path>.tmp.<pid>", are fsync'ed and renamed over <path>, and the folder is
// fsync'ed. A reader sees the old file or the new one, never a partial one; a failed write
// removes its temp file and leaves the old file as it was.
#pragma once
#include <string>

namespace bpr {

// Throws bpr::Error naming the path and the system's reason on failure.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace bpr
