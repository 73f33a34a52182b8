#include "sys/sealed_exe.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ociexec::sys {

namespace {

#ifndef MFD_EXEC
constexpr unsigned MFD_EXEC = 0x0010U;  // Linux 6.3: executable on purpose (vm.memfd_noexec)
#endif

UniqueFd executable_memfd(const std::string& name) {
  const unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  UniqueFd fd(::memfd_create(name.c_str(), flags | MFD_EXEC));
  if (!fd && errno == EINVAL) fd = UniqueFd(::memfd_create(name.c_str(), flags));  // before 6.3
  return fd;
}

}  // namespace

Expected<UniqueFd> sealed_executable_copy(const std::string& path) {
  const std::string what = fmt::format("sealed copy of {}", path);
  UniqueFd src(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) return tl::unexpected(errno_error(fmt::format("{}: open", what), errno));
  struct stat st {};
  if (::fstat(src.get(), &st) != 0)
    return tl::unexpected(errno_error(fmt::format("{}: stat", what), errno));
  constexpr char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
  char magic[sizeof kElfMagic] = {};
  if (::pread(src.get(), magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic) ||
      std::memcmp(magic, kElfMagic, sizeof magic) != 0)
    return tl::unexpected(
        Error{ErrorKind::kInvalidArgument, fmt::format("{}: not an ELF executable", what)});

  UniqueFd fd = executable_memfd(fmt::format("ociexec:{}", path.substr(path.rfind('/') + 1)));
  if (!fd) return tl::unexpected(errno_error(fmt::format("{}: memfd_create", what), errno));
  off_t offset = 0;
  while (offset < st.st_size) {
    const ssize_t n =
        ::sendfile(fd.get(), src.get(), &offset, static_cast<std::size_t>(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return tl::unexpected(errno_error(fmt::format("{}: copy", what), n < 0 ? errno : EIO));
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return tl::unexpected(errno_error(fmt::format("{}: seal", what), errno));
  return fd;
}

}  // namespace ociexec::sys
