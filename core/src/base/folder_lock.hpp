// One writer per output folder: `run`, `study` and `train` hold an exclusive
// OS lock on their folder while they run.
#pragma once

#include <string>

namespace tracenas {

// Creates `dir` if needed and takes an exclusive flock() on `dir`/.tracenas.lock
// for the rest of the process (the OS drops it when the process ends, however
// it ends, so a killed run leaves no stale lock); the file holds this
// process's id. When another process holds it, throws UsageError (exit 2)
// naming the folder and that process. `what` names the folder in the
// message ("run folder", "--out"). Taking a lock this process already holds
// is a no-op.
void lock_folder(const std::string& dir, const std::string& what);

// The lock file's name inside a locked folder.
constexpr const char* kFolderLockName = ".tracenas.lock";

}  // namespace tracenas
