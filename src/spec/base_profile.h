// The base OCI profile (oci-bundles/default.json), compiled into the library.
#pragma once

#include <string_view>

namespace ociexec::spec {

std::string_view base_profile_json() noexcept;

}  // namespace ociexec::spec
