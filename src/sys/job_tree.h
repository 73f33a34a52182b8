// A job's own directories (its tmpfs work dir and /tmp) from the host side: files written into
// them before the job starts, and files read from them after it ended. The trees are reached
// through fds opened inside the job's namespaces, so reading needs neither the container nor
// its mount namespace any more: an open fd keeps a tmpfs alive after its last mount is gone,
// and closing it frees the memory. Nothing is ever followed through a symlink or onto another
// mount, nothing but regular files is read, and no open blocks (a fifo) or reaches a device.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

// One thing to create below a root. Parents come first: "a/b" needs a kDir entry "a" before
// it (a directory that already exists there, a mount point, is used as it is).
struct TreeEntry {
  enum class Kind { kDir, kFile, kSymlink };
  Kind kind = Kind::kFile;
  std::size_t root = 0;  // an index into TreeWriteRequest::roots
  std::string path;      // normalized, relative: "a/b.txt"
  std::uint32_t mode = 0644;
  std::string data;  // a file's bytes; a symlink's target
};

struct TreeWriteRequest {
  int pidfd = -1;    // whose namespaces the roots are resolved in
  int ns_flags = 0;  // CLONE_NEWNS, with CLONE_NEWUSER rootless; 0: this process' own paths
  std::vector<std::string> roots;  // absolute paths there
  std::span<const TreeEntry> entries;
  std::uint32_t uid = 0;  // the owner of what is created (ids as the job's namespace sees them)
  std::uint32_t gid = 0;
  bool require_tmpfs = true;  // each root must be a tmpfs (never a host directory bound there)
};

struct TreeWriteFailure {
  int err = 0;
  std::string where;  // the root's path, or the entry's
  std::string step;   // "mkdir", "write", "not a tmpfs", ...
  bool at_root = false;
};

// Opens the roots and writes the entries, in a vfork-like child that joins the namespaces
// (joining a user namespace takes a single-threaded process). Returns the roots' fds.
tl::expected<std::vector<UniqueFd>, TreeWriteFailure> write_tree(const TreeWriteRequest& request);

// A file read from a tree.
struct TreeFile {
  std::string path;  // relative to the root
  std::string data;
  bool truncated = false;
  std::string error;  // not read, and why
  std::uint32_t mode = 0;
};

// Reads what `pattern` names below `root_fd`: its components are matched one by one, those
// with '*', '?' or '[' as fnmatch(3) globs (a leading '.' only explicitly), the others as
// names; an empty pattern is the root itself. A directory brings every regular file below it.
// Each file keeps at most `file_cap` bytes and what is left of `budget`, which it uses up.
// Paths already in `out` are not read twice. A literal path that does not exist, a symlink,
// a mount crossing or anything but a regular file is an entry with an error.
void read_tree(int root_fd, const std::vector<std::string>& pattern, std::uint64_t file_cap,
               std::uint64_t& budget, std::vector<TreeFile>& out);

}  // namespace ociexec::sys
