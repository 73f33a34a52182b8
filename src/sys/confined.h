// Paths resolved inside a directory as if it were the root (openat2 RESOLVE_IN_ROOT): "..",
// absolute symlinks and absolute names all stay inside it, and no magic link (/proc/self/..)
// or mount crossing is followed. Used wherever untrusted input (an image layer, the paths of
// a job's files) names files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"
#include "sys/unique_fd.h"

namespace ociexec::sys {

// openat2(2) with `flags` (O_CLOEXEC added) and `resolve` (RESOLVE_*), retried while the
// kernel asks for that (EINTR, EAGAIN): the fd, or -1 with errno set.
int openat2_retrying(int dir_fd, const char* path, int flags, std::uint64_t resolve);

// "a/../../b/./c" -> {"b", "c"}: ".." never climbs above the root; empty and "." dropped.
std::vector<std::string> confined_components(std::string_view path);

// Opens `path` (components from confined_components) under `root_fd`, resolving every
// symlink inside the root. `flags` as for open(2); O_CLOEXEC is added.
Expected<UniqueFd> open_in_root(int root_fd, const std::vector<std::string>& path,
                                std::size_t count, int flags);

// The directory made of the first `count` components, created (0755) where missing.
Expected<UniqueFd> make_dirs_in_root(int root_fd, const std::vector<std::string>& path,
                                     std::size_t count);

// The directory `path`, as the caller names it.
Expected<UniqueFd> open_dir(const std::string& path);

// Creates or truncates `name` in `dir_fd` (never through a symlink: a link there is an error)
// with `mode`, and writes `data`.
Expected<void> write_file_at(int dir_fd, const std::string& name, std::string_view data,
                             unsigned mode);

// Removes `name` in the directory `dir_fd` and, for a directory, everything below it,
// never following a symlink. A missing name is not an error.
Expected<void> remove_at(int dir_fd, const std::string& name);

}  // namespace ociexec::sys
