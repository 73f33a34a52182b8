#include "image/auth.h"

#include <cctype>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ociexec::image {

using nlohmann::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000/path" -> "host:5000".
std::string host_of_key(std::string_view key) {
  if (auto p = key.find("://"); p != std::string_view::npos) key.remove_prefix(p + 3);
  return std::string(key.substr(0, key.find('/')));
}

}  // namespace

std::optional<Challenge> parse_challenge(std::string_view h) {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  skip_space();
  const std::size_t start = i;
  while (i < h.size() && h[i] != ' ') ++i;
  if (i == start) return std::nullopt;
  Challenge c{lower(h.substr(start, i - start)), {}};
  while (i < h.size()) {
    skip_space();
    const std::size_t key_start = i;
    while (i < h.size() && h[i] != '=' && h[i] != ',' && h[i] != ' ') ++i;
    std::string key = lower(h.substr(key_start, i - key_start));
    skip_space();
    if (i >= h.size() || h[i] != '=') {
      // A new challenge begins ("Bearer ..., Basic realm=..."): only the first is kept.
      if (!key.empty() && c.params.empty()) return c;
      if (i < h.size() && h[i] == ',') ++i;
      if (!key.empty()) break;
      continue;
    }
    ++i;
    skip_space();
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value += h[i++];
      }
      ++i;  // the closing quote
    } else {
      while (i < h.size() && h[i] != ',' && h[i] != ' ') value += h[i++];
    }
    if (!key.empty()) c.params.emplace(std::move(key), std::move(value));
    skip_space();
    if (i < h.size() && h[i] == ',') ++i;
  }
  return c;
}

Expected<Credentials> parse_credentials(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                "credentials: expected USERNAME:PASSWORD"});
  return Credentials{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

Expected<std::optional<Credentials>> credentials_from_auth_json(std::string_view text,
                                                                std::string_view registry) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return tl::unexpected(Error{ErrorKind::kConfig, "auth file: not a JSON object"});
  auto auths = j.find("auths");
  if (auths == j.end() || !auths->is_object()) return std::optional<Credentials>{};
  const std::string want(registry);
  for (const auto& [key, entry] : auths->items()) {
    std::string host = host_of_key(key);
    if (host == "index.docker.io" || host == "registry-1.docker.io") host = "docker.io";
    if (host != want || !entry.is_object()) continue;
    if (auto a = entry.find("auth"); a != entry.end() && a->is_string()) {
      auto decoded = base64_decode(a->get<std::string>());
      if (!decoded)
        return tl::unexpected(Error{ErrorKind::kConfig,
                                    fmt::format("auth file: the auth of {:?} is not base64", key)});
      auto creds = parse_credentials(*decoded);
      if (!creds)
        return tl::unexpected(Error{
            ErrorKind::kConfig,
            fmt::format("auth file: the auth of {:?} is not base64 of USERNAME:PASSWORD", key)});
      return std::optional<Credentials>(*creds);
    }
    auto user = entry.find("username");
    auto pass = entry.find("password");
    if (user != entry.end() && pass != entry.end() && user->is_string() && pass->is_string())
      return std::optional<Credentials>(Credentials{user->get<std::string>(), pass->get<std::string>()});
  }
  return std::optional<Credentials>{};
}

std::vector<std::string> default_auth_files() {
  std::vector<std::string> files;
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v && *v ? v : "";
  };
  if (auto f = env("REGISTRY_AUTH_FILE"); !f.empty()) files.push_back(f);
  if (auto d = env("XDG_RUNTIME_DIR"); !d.empty()) files.push_back(d + "/containers/auth.json");
  const std::string home = env("HOME");
  if (!home.empty()) files.push_back(home + "/.config/containers/auth.json");
  if (auto d = env("DOCKER_CONFIG"); !d.empty())
    files.push_back(d + "/config.json");
  else if (!home.empty())
    files.push_back(home + "/.docker/config.json");
  return files;
}

Expected<std::string> token_from_response(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      auto t = j.find(key);
      if (t != j.end() && t->is_string() && !t->get<std::string>().empty())
        return t->get<std::string>();
    }
  }
  return tl::unexpected(Error{ErrorKind::kAuth,
                              "token server: the response holds no token (expected JSON with "
                              "\"token\" or \"access_token\")"});
}

}  // namespace ociexec::image
