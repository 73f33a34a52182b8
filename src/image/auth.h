// Registry authentication pieces, pure and fixture-tested: WWW-Authenticate challenges
// (RFC 7235, as registries send them), credentials from docker's ~/.docker/config.json or
// containers' auth.json, token responses, and base64.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ociexec/error.h"
#include "util/text.h"

namespace ociexec::image {

struct Challenge {
  std::string scheme;  // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;  // realm, service, scope, error (keys lower-case)
};

// The first challenge of a WWW-Authenticate value; nullopt when none can be read.
std::optional<Challenge> parse_challenge(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  [[nodiscard]] bool empty() const { return username.empty() && password.empty(); }
};

// "user:password" (the password may hold ':'); an error names the expected form.
Expected<Credentials> parse_credentials(std::string_view text);

// The credentials an auth file holds for `registry` ("docker.io" also matches docker's
// "https://index.docker.io/v1/" key, and any key may carry a scheme and a path).
Expected<std::optional<Credentials>> credentials_from_auth_json(std::string_view json,
                                                                std::string_view registry);

// The auth files searched, in order, when none is given: $REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json,
// ~/.docker/config.json ($DOCKER_CONFIG/config.json).
std::vector<std::string> default_auth_files();

// The token of a token-server response ("token", else "access_token").
Expected<std::string> token_from_response(std::string_view json);

using text::base64_decode;
using text::base64_encode;

}  // namespace ociexec::image
