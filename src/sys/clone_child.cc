#include "sys/clone_child.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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

int hold(void* arg) {
  const auto* h = static_cast<const Hold*>(arg);
  if (raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) < 0) return 1;
  if (raw(SYS_getppid) != h->parent) return 1;
  raw(SYS_prctl, PR_SET_NAME, ptr(h->name));
  // Copies of every fd of ours: a pipe's write end held here would keep its reader from EOF.
  raw(SYS_close_range, 0, ~0U, 0);
  for (;;) raw(SYS_pause);  // the clone's caller blocked every signal: only SIGKILL ends it
}

namespace {

bool tree_failed(TreeWrite* w, long rc, const char* step, int op) {
  if (rc >= 0) return false;
  w->err = static_cast<int>(-rc);
  w->step = step;
  w->failed_op = op;
  return true;
}

// openat2 below `dir`: no symlink (the last component's either), no mount crossing, no "..".
long open_beneath(int dir, const char* name, int flags) {
  open_how how{};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
  long rc;
  do rc = raw(SYS_openat2, dir, ptr(name), ptr(&how), sizeof how);
  while (rc == -EINTR || rc == -EAGAIN);
  return rc;
}

long write_all(int fd, const char* data, unsigned long size) {
  while (size > 0) {
    const long n = raw(SYS_write, fd, ptr(data), static_cast<long>(size));
    if (n == -EINTR) continue;
    if (n < 0) return n;
    data += n;
    size -= static_cast<unsigned long>(n);
  }
  return 0;
}

// One op; returns 0 or -errno with w->step set.
long run_op(TreeWrite* w, int i) {
  const TreeOp& op = w->ops[i];
  const int parent = op.parent < 0 ? w->root_fds[op.root] : w->dir_fds[op.parent];
  const long uid = w->uid, gid = w->gid;
  switch (op.kind) {
    case TreeOp::kDir: {
      const long made = raw(SYS_mkdirat, parent, ptr(op.name), op.mode);
      if (made < 0 && made != -EEXIST) return w->step = "mkdir", made;
      const long fd = open_beneath(parent, op.name, O_RDONLY | O_DIRECTORY);
      if (fd < 0) return w->step = "open directory", fd;
      w->dir_fds[i] = static_cast<int>(fd);
      if (made < 0) return 0;  // an existing directory (a mount point) keeps its owner
      if (long rc = raw(SYS_fchown, fd, uid, gid); rc < 0) return w->step = "chown", rc;
      if (long rc = raw(SYS_fchmod, fd, op.mode); rc < 0) return w->step = "chmod", rc;
      return 0;
    }
    case TreeOp::kFile: {
      const long fd = raw(SYS_openat, parent, ptr(op.name),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, op.mode);
      if (fd < 0) return w->step = "create", fd;
      long rc = write_all(static_cast<int>(fd), op.data, op.size);
      if (rc < 0) w->step = "write";
      if (rc >= 0 && (rc = raw(SYS_fchown, fd, uid, gid)) < 0) w->step = "chown";
      if (rc >= 0 && (rc = raw(SYS_fchmod, fd, op.mode)) < 0) w->step = "chmod";
      raw(SYS_close, fd);
      return rc;
    }
    case TreeOp::kSymlink: {
      if (long rc = raw(SYS_symlinkat, ptr(op.data), parent, ptr(op.name)); rc < 0)
        return w->step = "symlink", rc;
      if (long rc = raw(SYS_fchownat, parent, ptr(op.name), uid, gid, AT_SYMLINK_NOFOLLOW); rc < 0)
        return w->step = "chown", rc;
      return 0;
    }
  }
  return -EINVAL;
}

}  // namespace

int write_tree(void* arg) {
  auto* w = static_cast<TreeWrite*>(arg);
  if (w->ns_flags != 0 &&
      tree_failed(w, raw(SYS_setns, w->pidfd, w->ns_flags), "join the job's namespaces", -1000))
    return 1;
  for (int r = 0; r < w->root_count; ++r) {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_MAGICLINKS;
    long fd;
    do fd = raw(SYS_openat2, AT_FDCWD, ptr(w->roots[r]), ptr(&how), sizeof how);
    while (fd == -EINTR || fd == -EAGAIN);
    if (tree_failed(w, fd, w->roots[r], -1 - r)) return 1;
    w->root_fds[r] = static_cast<int>(fd);
    struct statfs fs {};
    if (tree_failed(w, raw(SYS_fstatfs, fd, ptr(&fs)), w->roots[r], -1 - r)) return 1;
    if (w->require_tmpfs && fs.f_type != TMPFS_MAGIC) {
      tree_failed(w, -ENOTSUP, w->roots[r], -1 - r);
      return 1;
    }
  }
  int rc = 0;
  for (int i = 0; i < w->op_count && rc == 0; ++i)
    if (long r = run_op(w, i); r < 0) {
      w->err = static_cast<int>(-r);
      w->failed_op = i;
      rc = 1;
    }
  for (int i = 0; i < w->op_count; ++i)
    if (w->dir_fds[i] >= 0) raw(SYS_close, w->dir_fds[i]);
  return rc;
}

}  // namespace ociexec::sys::clone_child
