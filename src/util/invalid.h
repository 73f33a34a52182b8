// The error of a bad value, one helper for every parser and check of what people give: the
// option's kInvalidArgument, with a message that names the value and what would be accepted.
#pragma once

#include <string>
#include <utility>

#include "ociexec/error.h"

namespace ociexec {

inline tl::unexpected<Error> invalid_argument(std::string message) {
  return tl::unexpected(Error{ErrorKind::kInvalidArgument, std::move(message)});
}

}  // namespace ociexec
