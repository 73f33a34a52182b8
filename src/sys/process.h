// Child processes and pidfds. A Pidfd refers to one process for its whole life, so signals and
// waits through it can never hit a recycled pid. ChildProcess kills and reaps its process
// unless it was waited for, so no path leaves a zombie or a stray runtime behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

// How a process ended, as waitid reports it.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    // exit status when !signaled
  int signal = 0;  // terminating signal when signaled
  // The shell convention: code, or 128 + signal.
  [[nodiscard]] int shell_code() const noexcept { return signaled ? 128 + signal : code; }
};

class Pidfd {
 public:
  Pidfd() = default;
  // Opens a pidfd for `pid`. The caller must know `pid` cannot have been recycled (an
  // unreaped child of ours) or re-check the identity after opening.
  static Expected<Pidfd> open(pid_t pid);

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] bool valid() const noexcept { return fd_.valid(); }

  // Sends `sig`; a process that already exited is not an error.
  Expected<void> send_signal(int sig) const;
  // Reaps the process if it has exited (WNOHANG) or blocks until it does (!nohang).
  // Returns nullopt while it is still running. Only valid for our own children.
  Expected<std::optional<ExitStatus>> wait(bool nohang) const;
  // Blocks until the process exits or `timeout` passes; true when it exited.
  [[nodiscard]] bool wait_readable(std::chrono::milliseconds timeout) const;

 private:
  pid_t pid_ = -1;
  UniqueFd fd_;
};

struct SpawnOptions {
  // fds that become the child's 0, 1 and 2; none: /dev/null.
  FdRef stdin_fd;
  FdRef stdout_fd;
  FdRef stderr_fd;
  // A mount namespace (an fd from mount_namespace_without) the child joins before exec.
  FdRef mount_ns_fd;
  // Given: becomes the child's fd 3 (every other fd above 2 is closed).
  FdRef fd3;
  // Given: the executable to run (a sealed copy, sys/sealed_exe.h), with argv as given;
  // argv[0] is then only the name the program sees.
  FdRef exe_fd;
};

// A spawned child. Destroying it before wait() SIGKILLs and reaps the process.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&&) noexcept = default;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ~ChildProcess();

  // Like posix_spawn (a vfork-like clone), with a clean signal mask, default dispositions,
  // every fd above 2 (or 3) closed, the mount namespace joined if one is given, and SIGKILL
  // as its parent-death signal: it dies with the calling thread, which must wait for it.
  static Expected<ChildProcess> spawn(const std::vector<std::string>& argv,
                                      const SpawnOptions& options);
  // Takes charge of a child we did not spawn ourselves: a container init reparented to us
  // because we are a subreaper. The caller has checked that `pidfd` is our child.
  static ChildProcess adopt(Pidfd pidfd);
  // Takes charge of `pid`, a child we cloned and have not reaped (so not a recycled pid).
  static Expected<ChildProcess> adopt_spawned(pid_t pid);
  // Takes charge of the process a pid file names, which a runtime or pasta left to us (a
  // subreaper) when it exited: opens a pidfd, then checks that the process is our child, so
  // the pidfd cannot name a recycled pid. Not our child (exited, another subreaper took it,
  // or the file lied): an error, and nothing is sent to it.
  static Expected<ChildProcess> adopt_orphan(const std::filesystem::path& pid_file);

  // Reaps the child if it has exited; nullopt while it runs.
  Expected<std::optional<ExitStatus>> try_wait();

  [[nodiscard]] const Pidfd& pidfd() const noexcept { return pidfd_; }
  // Waits at most `timeout`; on expiry kills the child and its descendants (reaping those
  // that become ours through sys::Reaper) and returns kRuntimeTimeout.
  Expected<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  void kill_and_reap() noexcept;
  // kill_and_reap(), and the descendants too: each is SIGKILLed and handed to sys::Reaper.
  void kill_tree_and_reap() noexcept;
  // Gives up the child without waiting for it (the caller hands it to sys::Reaper, say); an
  // invalid Pidfd when it was reaped already.
  Pidfd release() noexcept;

 private:
  Pidfd pidfd_;
  bool reaped_ = true;
};

// The processes below `root` (a child of ours we have not reaped), as pidfds opened while
// each one's parent still held it, so none is a recycled pid.
std::vector<Pidfd> descendants_of(const Pidfd& root);

// True when SIGCHLD is ignored or SA_NOCLDWAIT is set: the kernel then reaps children itself
// and their exit statuses are lost to waitid.
bool child_statuses_discarded();

// Makes this process a child subreaper: orphaned descendants are reparented to it.
Expected<void> become_subreaper();

// Runs `fn(arg)` in a child that shares our memory (CLONE_VM | CLONE_VFORK, plus `flags`) on
// a stack of its own, with every signal blocked so no handler of ours runs there; we resume
// once it has exec'd or exited. `fn` may only make raw syscalls (see sys/clone_child.h). Returns the child's pid (a zombie
// to reap if it exited).
Expected<pid_t> clone_vfork(int (*fn)(void*), void* arg, int flags = 0);
// The same in a child with a copy of our memory (as fork, without its atfork handlers), which
// runs concurrently with us. `fn` may still only make raw syscalls: the copy is of a process
// whose other threads may have held locks.
Expected<pid_t> clone_copy(int (*fn)(void*), void* arg, int flags);

// Runs argv to completion within `timeout`, with stdout and stderr captured together.
struct CommandOutput {
  ExitStatus status;
  std::string output;
};
// `exe_fd`: as SpawnOptions::exe_fd.
Expected<CommandOutput> run_command(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout, FdRef mount_ns_fd = {},
                                    FdRef exe_fd = {});

// Finds `name` on $PATH (or checks it when it contains a '/'); nullopt when not executable.
std::optional<std::string> find_executable(const std::string& name);

}  // namespace ociexec::sys
