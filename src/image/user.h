// "UID[:GID]" or "NAME[:GROUP]" (an image's User, a job's user) to numeric ids, names looked
// up in the root's own /etc/passwd and /etc/group text. Pure: the caller reads the files.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ociexec/error.h"

namespace ociexec::image {

struct UserIds {
  std::uint32_t uid = 65534;
  std::uint32_t gid = 65534;
  bool operator==(const UserIds&) const = default;
};

// `read_etc("passwd")` returns the file's text or nullopt. A numeric UID without a GID takes
// the passwd entry's group, else 0 (docker's rule). Ids above 4294967294 are refused.
Expected<UserIds> resolve_user(std::string_view spec,
                               const std::function<std::optional<std::string>(const std::string&)>& read_etc);

}  // namespace ociexec::image
