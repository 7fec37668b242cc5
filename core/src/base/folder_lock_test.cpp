// The folder lock: a second process is refused with its holder named, and a
// killed holder leaves no stale lock.
#include "base/folder_lock.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tracenas/error.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

std::string scratch(const std::string& name) {
  const fs::path p =
      fs::temp_directory_path() / ("tracenas_lock_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

TEST(FolderLock, ASecondProcessIsRefusedUntilTheHolderDies) {
  const std::string dir = scratch("second");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    lock_folder(dir, "run folder");
    const char c = 'x';
    (void)!::write(ready[1], &c, 1);
    ::pause();  // until killed
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  // The lock file names its holder.
  std::ifstream in(fs::path(dir) / kFolderLockName);
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(holder));
  try {
    lock_folder(dir, "run folder");
    ADD_FAILURE() << "a folder held by another process was locked again";
  } catch (const UsageError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_EQ(std::string(e.what()),
              "run folder '" + dir + "' is in use by another tracenas process (pid " +
                  std::to_string(holder) + "); wait for it to finish, or use another folder");
  }
  // SIGKILL: nothing runs in the holder, and the OS drops its lock.
  ::kill(holder, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(holder, &status, 0), holder);
  EXPECT_NO_THROW(lock_folder(dir, "run folder"));
  EXPECT_NO_THROW(lock_folder(dir, "run folder"));  // held here already: no-op
  std::ifstream again(fs::path(dir) / kFolderLockName);
  again >> pid;
  EXPECT_EQ(pid, std::to_string(::getpid()));
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(FolderLock, AFolderThatCannotBeMadeIsAUsageError) {
  const std::string file = scratch("file");
  { std::ofstream(file) << "x"; }
  try {
    lock_folder(file + "/sub", "--out");
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--out '" + file + "/sub': cannot create the folder"),
              std::string::npos)
        << e.what();
  }
  fs::remove(file);
}

}  // namespace
}  // namespace tracenas
