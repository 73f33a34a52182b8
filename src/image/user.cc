#include "image/user.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "image/split.h"

namespace ociexec::image {

namespace {

constexpr std::uint64_t kMaxId = 4294967294ULL;  // (uid_t)-1 means "no change" to the kernel

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Fields of the line of `file` whose field `key_index` equals `key`.
std::optional<std::vector<std::string>> find_entry(const std::string& file, std::string_view key,
                                                   std::size_t key_index) {
  std::size_t start = 0;
  while (start < file.size()) {
    auto end = file.find('\n', start);
    if (end == std::string::npos) end = file.size();
    std::string_view line(file.data() + start, end - start);
    start = end + 1;
    if (line.empty() || line.front() == '#') continue;
    const auto fields = split(line, ':');
    if (fields.size() > key_index && fields[key_index] == key)
      return std::vector<std::string>(fields.begin(), fields.end());
  }
  return std::nullopt;
}

}  // namespace

Expected<UserIds> resolve_user(
    std::string_view spec,
    const std::function<std::optional<std::string>(const std::string&)>& read_etc) {
  auto bad = [&](std::string_view why) {
    return tl::unexpected(Error{ErrorKind::kInvalidArgument, fmt::format("user {:?}: {}", spec, why)});
  };
  const auto colon = spec.find(':');
  const std::string_view user = spec.substr(0, colon);
  const std::optional<std::string_view> group =
      colon == std::string_view::npos ? std::nullopt : std::optional(spec.substr(colon + 1));
  if (user.empty() || (group && group->empty())) return bad("expected UID[:GID] or NAME[:GROUP]");
  UserIds ids;
  std::optional<std::string> passwd;
  bool passwd_read = false;
  auto load_passwd = [&]() -> const std::optional<std::string>& {
    if (!passwd_read) passwd = read_etc("passwd"), passwd_read = true;
    return passwd;
  };
  std::optional<std::uint32_t> passwd_gid;
  if (auto n = number(user)) {
    if (*n > kMaxId) return bad(fmt::format("ids are at most {}", kMaxId));
    ids.uid = static_cast<std::uint32_t>(*n);
    if (!group && load_passwd())
      if (auto e = find_entry(*passwd, fmt::format("{}", *n), 2); e && e->size() > 3)
        if (auto g = number((*e)[3]); g && *g <= kMaxId) passwd_gid = static_cast<std::uint32_t>(*g);
  } else {
    if (!load_passwd()) return bad("the root file system has no /etc/passwd to look the name up in");
    auto e = find_entry(*passwd, user, 0);
    if (!e || e->size() < 4) return bad("no such user in the root file system's /etc/passwd");
    auto uid = number((*e)[2]);
    auto gid = number((*e)[3]);
    if (!uid || !gid || *uid > kMaxId || *gid > kMaxId)
      return bad("its /etc/passwd entry has bad ids");
    ids.uid = static_cast<std::uint32_t>(*uid);
    passwd_gid = static_cast<std::uint32_t>(*gid);
  }
  if (!group) {
    ids.gid = passwd_gid.value_or(0);
    return ids;
  }
  if (auto n = number(*group)) {
    if (*n > kMaxId) return bad(fmt::format("ids are at most {}", kMaxId));
    ids.gid = static_cast<std::uint32_t>(*n);
    return ids;
  }
  auto groups = read_etc("group");
  if (!groups) return bad("the root file system has no /etc/group to look the group up in");
  auto e = find_entry(*groups, *group, 0);
  if (!e || e->size() < 3) return bad("no such group in the root file system's /etc/group");
  auto gid = number((*e)[2]);
  if (!gid || *gid > kMaxId) return bad("its /etc/group entry has a bad id");
  ids.gid = static_cast<std::uint32_t>(*gid);
  return ids;
}

}  // namespace ociexec::image
