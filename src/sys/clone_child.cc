#include "sys/clone_child.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

extern char** environ;

namespace ociexec::sys::clone_child {

namespace {

// libc's syscall() is a plain trampoline. Returns the result, or -errno.
long raw(long number, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  const long rc = ::syscall(number, a, b, c, d, e);
  return rc < 0 ? -errno : rc;
}

long ptr(const void* p) {
  return static_cast<long>(reinterpret_cast<std::uintptr_t>(p));
}

[[noreturn]] void fail(Spawn* s, long rc) {
  s->err = static_cast<int>(-rc);
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

bool failed(NamespaceSetup* s, long rc, const char* step) {
  if (rc >= 0) return false;
  s->err = static_cast<int>(-rc);
  s->step = step;
  return true;
}

}  // namespace

int exec(void* arg) {
  auto* s = static_cast<Spawn*>(arg);
  // The kernel's sigaction: handler, flags, restorer, an 8-byte mask.
  struct KernelSigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask;
  } dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < NSIG; ++sig) raw(SYS_rt_sigaction, sig, ptr(&dfl), 0, 8);
  // The runtime dies with its caller: a killed CLI or embedding process must not leave a
  // runtime creating a container behind it (gc could not tell it is still at work). It is
  // bound to the calling thread, which always waits for the runtime to end.
  if (long rc = raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL); rc < 0) fail(s, rc);
  if (raw(SYS_getppid) != s->parent) fail(s, -ESRCH);  // the caller died before that
  if (s->mount_ns_fd >= 0)
    if (long rc = raw(SYS_setns, s->mount_ns_fd, CLONE_NEWNS); rc < 0) fail(s, rc);
  // Out of the way first, so that a source fd numbered 0-2 is not overwritten by another dup.
  const int count = s->fds[3] >= 0 ? 4 : 3;
  long exe = -1;
  if (s->exe_fd >= 0) {
    exe = raw(SYS_fcntl, s->exe_fd, F_DUPFD_CLOEXEC, 4);
    if (exe < 0) fail(s, exe);
  }
  long high[4];
  for (int i = 0; i < count; ++i) {
    high[i] = s->fds[i] >= 0 ? raw(SYS_fcntl, s->fds[i], F_DUPFD_CLOEXEC, 4)
                             : raw(SYS_openat, AT_FDCWD, ptr("/dev/null"),
                                   (i ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (high[i] < 0) fail(s, high[i]);
  }
  for (int i = 0; i < count; ++i)
    if (long rc = raw(SYS_dup3, high[i], i, 0); rc < 0) fail(s, rc);
  // The executable right above them (close-on-exec: it is gone once the exec succeeds).
  if (exe >= 0 && exe != count) {
    if (long rc = raw(SYS_dup3, exe, count, O_CLOEXEC); rc < 0) fail(s, rc);
    exe = count;
  }
  // Fds the embedding program left without O_CLOEXEC must not reach the runtime either.
  raw(SYS_close_range, exe >= 0 ? count + 1 : count, ~0U, 0);
  const std::uint64_t none = 0;
  raw(SYS_rt_sigprocmask, SIG_SETMASK, ptr(&none), 0, 8);
  if (exe >= 0)
    fail(s, raw(SYS_execveat, exe, ptr(""), ptr(s->argv), ptr(environ), AT_EMPTY_PATH));
  fail(s, raw(SYS_execve, ptr(s->argv[0]), ptr(s->argv), ptr(environ)));
}

int make_namespace(void* arg) {
  auto* s = static_cast<NamespaceSetup*>(arg);
  if (failed(s, raw(SYS_unshare, CLONE_NEWNS), "unshare")) return 1;
  if (failed(s, raw(SYS_mount, 0, ptr("/"), 0, MS_REC | MS_SLAVE, 0), "make / slave")) return 1;
  if (failed(s, raw(SYS_umount2, ptr(s->hidden), MNT_DETACH), "umount")) return 1;
  const long fd = raw(SYS_openat, AT_FDCWD, ptr("/proc/self/ns/mnt"), O_RDONLY | O_CLOEXEC);
  if (failed(s, fd, "open /proc/self/ns/mnt")) return 1;
  s->ns_fd = static_cast<int>(fd);
  return 0;
}

}  // namespace ociexec::sys::clone_child
