#include "sys/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "sys/clone_child.h"
#include "sys/fs.h"
#include "sys/proc.h"
#include "sys/reaper.h"

extern char** environ;
extern "C" int __clone(int (*fn)(void*), void* stack, int flags, void* arg, ...);

namespace ociexec::sys {

Expected<Pidfd> Pidfd::open(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return tl::unexpected(errno_error(fmt::format("pidfd_open {}", pid), errno));
  Pidfd p;
  p.pid_ = pid;
  p.fd_.reset(fd);
  return p;
}

Expected<void> Pidfd::send_signal(int sig) const {
  if (::syscall(SYS_pidfd_send_signal, fd_.get(), sig, nullptr, 0) != 0 && errno != ESRCH)
    return tl::unexpected(errno_error(fmt::format("pidfd_send_signal {} to {}", sig, pid_), errno));
  return {};
}

Expected<std::optional<ExitStatus>> Pidfd::wait(bool nohang) const {
  for (;;) {
    siginfo_t info{};
    // P_PIDFD is 3; glibc 2.36 headers know it, older ones do not.
    int rc = ::waitid(static_cast<idtype_t>(3), static_cast<id_t>(fd_.get()), &info,
                      WEXITED | (nohang ? WNOHANG : 0));
    if (rc != 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_error(fmt::format("waitid pid {}", pid_), errno));
    }
    if (info.si_pid == 0) return std::optional<ExitStatus>{};
    ExitStatus st;
    if (info.si_code == CLD_EXITED) {
      st.code = info.si_status;
    } else {
      st.signaled = true;
      st.signal = info.si_status;
    }
    return std::optional<ExitStatus>{st};
  }
}

bool Pidfd::wait_readable(std::chrono::milliseconds timeout) const {
  pollfd p{fd_.get(), POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int rc = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pidfd_ = std::move(other.pidfd_);
    reaped_ = std::exchange(other.reaped_, true);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  kill_and_reap();
}

void ChildProcess::kill_and_reap() noexcept {
  if (reaped_ || !pidfd_.valid()) return;
  (void)pidfd_.send_signal(SIGKILL);
  (void)pidfd_.wait(false);
  reaped_ = true;
}

namespace {

// __clone on a stack of its own, every signal blocked meanwhile so no handler runs in the child.
Expected<pid_t> clone_on_stack(int (*fn)(void*), void* arg, int flags) {
  constexpr std::size_t kStack = 64 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) return tl::unexpected(errno_error("mmap", errno));
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  // glibc's __clone, the same function as clone(): a sanitizer's clone interceptor treats the
  // call as a fork and resets its own state in the child, which may share our memory.
  const pid_t pid = ::__clone(fn, static_cast<char*>(stack) + kStack, SIGCHLD | flags, arg);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // A vfork child has exec'd or exited; any other has a copy of the stack: ours is free.
  ::munmap(stack, kStack);
  if (pid < 0) return tl::unexpected(errno_error("clone", clone_errno));
  return pid;
}

}  // namespace

Expected<pid_t> clone_vfork(int (*fn)(void*), void* arg, int flags) {
  return clone_on_stack(fn, arg, CLONE_VM | CLONE_VFORK | flags);
}

Expected<pid_t> clone_copy(int (*fn)(void*), void* arg, int flags) {
  return clone_on_stack(fn, arg, flags);
}

Expected<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv,
                                           const SpawnOptions& options) {
  if (argv.empty()) return tl::unexpected(Error{ErrorKind::kInvalidArgument, "spawn: empty argv"});
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  // posix_spawn can neither join a namespace nor set a parent-death signal: clone with
  // CLONE_VM | CLONE_VFORK, as posix_spawn itself does, and do both in the child.
  clone_child::Spawn c{cargv.data(),
               {options.stdin_fd.get(), options.stdout_fd.get(), options.stderr_fd.get(),
                options.fd3.get()},
               options.mount_ns_fd.get(),
               ::getpid(),
               options.exe_fd.get()};
  auto pid = clone_vfork(clone_child::exec, &c);
  if (!pid) return tl::unexpected(pid.error().with_context(fmt::format("spawn \"{}\"", argv[0])));
  if (c.err != 0) {  // it exited without exec: reap it, report why
    ::waitpid(*pid, nullptr, 0);
    return tl::unexpected(errno_error(fmt::format("spawn \"{}\"", argv[0]), c.err));
  }
  return adopt_spawned(*pid);
}

Expected<ChildProcess> ChildProcess::adopt_spawned(pid_t pid) {
  // An unreaped child cannot be recycled, so this pidfd names exactly the process we spawned.
  auto pidfd = Pidfd::open(pid);
  if (!pidfd) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return tl::unexpected(pidfd.error());
  }
  return adopt(std::move(*pidfd));
}

Expected<ChildProcess> ChildProcess::adopt_orphan(const std::filesystem::path& pid_file) {
  auto text = read_file(pid_file);
  if (!text) return tl::unexpected(text.error());
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), pid);
  if (ec != std::errc{} || pid <= 0)
    return tl::unexpected(
        Error{ErrorKind::kSystem, fmt::format("bad pid file {}: {:?}", pid_file.string(), *text)});
  auto pidfd = Pidfd::open(pid);
  if (!pidfd) return tl::unexpected(pidfd.error());
  auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat || parse_stat_ppid(*stat) != ::getpid())
    return tl::unexpected(
        Error{ErrorKind::kSystem, fmt::format("pid {} is not a child of this process (exited, or "
                                              "another subreaper adopted it)",
                                              pid)});
  return adopt(std::move(*pidfd));
}

ChildProcess ChildProcess::adopt(Pidfd pidfd) {
  ChildProcess child;
  child.pidfd_ = std::move(pidfd);
  child.reaped_ = false;
  return child;
}

Expected<std::optional<ExitStatus>> ChildProcess::try_wait() {
  auto st = pidfd_.wait(true);
  if (st && *st) reaped_ = true;
  return st;
}

bool child_statuses_discarded() {
  struct sigaction current {};
  if (::sigaction(SIGCHLD, nullptr, &current) != 0) return false;
  return current.sa_handler == SIG_IGN || (current.sa_flags & SA_NOCLDWAIT) != 0;
}

Expected<void> become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    return tl::unexpected(errno_error("prctl PR_SET_CHILD_SUBREAPER", errno));
  return {};
}

std::vector<Pidfd> descendants_of(const Pidfd& root) {
  std::multimap<pid_t, pid_t> children;  // ppid -> pid
  for (const auto& p : list_processes()) children.emplace(p.ppid, p.pid);
  std::vector<Pidfd> found;
  // (index in `found` of the parent, or -1 for root; the child's pid)
  std::vector<std::pair<long, pid_t>> todo;
  for (auto [it, end] = children.equal_range(root.pid()); it != end; ++it)
    todo.emplace_back(-1, it->second);
  while (!todo.empty()) {
    const auto [parent_index, pid] = todo.back();
    todo.pop_back();
    const Pidfd& parent = parent_index < 0 ? root : found[static_cast<std::size_t>(parent_index)];
    auto fd = Pidfd::open(pid);
    if (!fd) continue;  // gone already
    // The pid could have been reused since /proc was read. It is the child we saw if its
    // parent is still the process we hold (so the parent's pid was not reused either).
    auto stat = read_file(fmt::format("/proc/{}/stat", pid));
    if (!stat || parse_stat_ppid(*stat) != parent.pid()) continue;
    if (::syscall(SYS_pidfd_send_signal, parent.fd(), 0, nullptr, 0) != 0) continue;
    found.push_back(std::move(*fd));
    const long index = static_cast<long>(found.size() - 1);
    for (auto [it, end] = children.equal_range(pid); it != end; ++it)
      todo.emplace_back(index, it->second);
  }
  return found;
}

Pidfd ChildProcess::release() noexcept {
  if (reaped_) return {};
  reaped_ = true;
  return std::move(pidfd_);
}

void ChildProcess::kill_tree_and_reap() noexcept {
  if (reaped_ || !pidfd_.valid()) return;
  // Found while the child still holds them: once it dies they are reparented to us (a
  // subreaper) and nobody else would ever reap them.
  std::vector<Pidfd> rest;
  try {
    rest = descendants_of(pidfd_);
  } catch (...) {  // allocation: the child is still killed below
  }
  kill_and_reap();
  for (auto& p : rest) Reaper::instance().adopt(std::move(p));
  Reaper::instance().settle(std::chrono::milliseconds(500));
}

Expected<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  if (!pidfd_.wait_readable(timeout)) {
    kill_tree_and_reap();
    return tl::unexpected(Error{
        ErrorKind::kRuntimeTimeout,
        fmt::format("process {} did not finish within {} ms", pidfd_.pid(), timeout.count())});
  }
  auto st = pidfd_.wait(false);
  reaped_ = true;
  if (!st) return tl::unexpected(st.error());
  return **st;
}

Expected<CommandOutput> run_command(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout, FdRef mount_ns_fd,
                                    FdRef exe_fd) {
  // A memfd, not a pipe: the command can write any amount without us reading concurrently.
  auto out = make_memfd("ociexec-cmd-output", {});
  if (!out) return tl::unexpected(out.error());
  auto child = ChildProcess::spawn(argv, {{}, *out, *out, mount_ns_fd, {}, exe_fd});
  if (!child) return tl::unexpected(child.error());
  auto st = child->wait_for(timeout);
  if (!st) return tl::unexpected(st.error().with_context(argv[0]));
  if (::lseek(out->get(), 0, SEEK_SET) != 0) return tl::unexpected(errno_error("lseek", errno));
  auto text = read_all(out->get());
  if (!text) return tl::unexpected(text.error());
  return CommandOutput{*st, std::move(*text)};
}

std::optional<std::string> find_executable(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

}  // namespace ociexec::sys
