// What runs in the children of vfork-like clones (sys::clone_vfork). They share the caller's
// memory and its thread's TLS until they exec or exit, so they make raw system calls only,
// and this code is never instrumented by a sanitizer: a libc wrapper could take a lock or
// change state the caller shares, and instrumentation would record the child's calls and
// frames as the caller's (TSan's shadow stack would grow a frame that never returns).
#pragma once

#include <sys/types.h>

namespace ociexec::sys::clone_child {

// Joins a mount namespace (optional), takes SIGKILL as its parent-death signal, sets up fds
// 0-2 (and 3), closes the rest, resets signals and execs argv[0], or the executable open at
// `exe_fd` (execveat). On failure, `err` holds the errno.
struct Spawn {
  char* const* argv;
  int fds[4];       // stdin, stdout, stderr, fd 3 (-1: /dev/null for 0-2, none for 3)
  int mount_ns_fd;  // -1: stay in ours
  pid_t parent;
  int exe_fd = -1;  // -1: exec argv[0] by path
  int err = 0;
};
int exec(void* spawn);

// Unshares the mount namespace, makes / a slave and detaches `hidden` there; `ns_fd` is then
// an fd on the new namespace, in the caller's table (the clone shares it: CLONE_FILES).
struct NamespaceSetup {
  const char* hidden;
  int ns_fd = -1;
  int err = 0;
  const char* step = "";
};
int make_namespace(void* setup);

// The holder of sys::HeldNamespaces: a copy of the caller (no memory shared), in namespaces
// of its own, that only holds them. It dies with its parent (SIGKILL), is named `name`, keeps
// none of the caller's fds, and waits, every signal blocked, to be killed. It exits 1 at once
// if its parent died before it could take that signal.
struct Hold {
  pid_t parent;
  const char* name;
};
int hold(void* hold);

}  // namespace ociexec::sys::clone_child

namespace ociexec::sys::clone_child {

// One step of writing a tree into a job's directory: a directory, a file or a symlink, named
// `name` in its parent (`parent`: the index of an earlier kDir op; -1: root `root` itself).
struct TreeOp {
  enum Kind : int { kDir, kFile, kSymlink };
  Kind kind;
  int root;
  int parent;
  const char* name;
  unsigned mode;
  const char* data;  // a file's bytes; a symlink's target (NUL-terminated)
  unsigned long size;
};

// Joins the namespaces of the process `pidfd` names (`ns_flags`, 0: none, so the roots are
// this process' paths), opens each of `roots` (absolute, resolved in that root) into
// `root_fds` in the caller's table (the clone shares it: CLONE_FILES), checks that each is a
// tmpfs when `require_tmpfs`, then runs `ops` in order: nothing is followed through a
// symlink, nothing is created over an existing file, and what is created is owned by
// uid:gid. On failure, `err`, `step` and `failed_op` (-1: a root) say where.
struct TreeWrite {
  int pidfd;
  int ns_flags;
  const char* const* roots;
  int root_count;
  int* root_fds;  // out: -1 until opened
  const TreeOp* ops;
  int op_count;
  int* dir_fds;  // scratch, one per op
  unsigned uid;
  unsigned gid;
  bool require_tmpfs;
  int err = 0;
  int failed_op = -1;
  const char* step = "";
};
int write_tree(void* write);

}  // namespace ociexec::sys::clone_child
