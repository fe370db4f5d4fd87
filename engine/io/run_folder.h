// run_folder.h — making sure a run can write its folder before it starts.
// defines: prepare_run_folder, remove_stale_temp_files
//
// A run that trains for hours and then cannot write its checkpoint has lost those hours.
// prepare_run_folder fails at once, with one clear error, when the folder cannot be created,
// is not writable (a probe file is written, synced and removed) or its file system has less
// free space than the run's checkpoints need. Writes later are atomic (write_file_atomic),
// so a failure then leaves the previous checkpoint in place, never a truncated one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bpr {

// Creates `dir` if needed and checks it can take `bytes_needed` more bytes. Removes temp
// files that writers killed mid-write left behind (remove_stale_temp_files) and returns
// their names.
std::vector<std::string> prepare_run_folder(const std::string& dir, uint64_t bytes_needed);

// Deletes "<name>.tmp.<pid>" files in `dir` whose writing process no longer exists.
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

}  // namespace bpr
