#include "image/reference.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "image/digest.h"
#include "image/split.h"

namespace ociexec::image {

namespace {

tl::unexpected<Error> bad_reference(std::string_view text, std::string_view why) {
  return tl::unexpected(
      Error{ErrorKind::kInvalidArgument, fmt::format("image reference {:?}: {}", text, why)});
}

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One path component of a repository: [a-z0-9]+ joined by ".", "_", "__" or runs of "-".
bool valid_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (lower_alnum(c[i])) continue;
    if (c[i] == '-') continue;
    if (c[i] == '.' && lower_alnum(c[i + 1])) continue;
    if (c[i] == '_' && (lower_alnum(c[i + 1]) || (c[i + 1] == '_' && lower_alnum(c[i + 2])))) {
      if (c[i + 1] == '_') ++i;
      continue;
    }
    return false;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (t.empty() || t.size() > 128 || !word(t.front())) return false;
  return std::all_of(t.begin(), t.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']';
  });
}

}  // namespace

std::string RegistryReference::canonical() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string RegistryReference::manifest_reference() const {
  return digest.empty() ? tag : digest;
}

std::string RegistryReference::api_host() const {
  return registry == kDockerHub ? std::string(kDockerHubApi) : registry;
}

std::string LayoutReference::canonical() const {
  if (!ref.empty()) return "oci:" + path + ":" + ref;
  // Without a ref, a ':' in the last component would read back as one: a '/' after the
  // path keeps it in the path ("oci:/srv/app:1/" is the layout /srv/app:1).
  const auto slash = path.rfind('/');
  const bool colon_last =
      path.find(':', slash == std::string::npos ? 0 : slash) != std::string::npos;
  return colon_last ? "oci:" + path + "/" : "oci:" + path;
}

std::string Reference::canonical() const {
  return registry ? registry->canonical() : layout->canonical();
}

Expected<RegistryReference> parse_registry_reference(std::string_view text) {
  if (text.empty()) return bad_reference(text, "empty");
  if (text.size() > 1024) return bad_reference(text.substr(0, 64), "longer than 1024 characters");
  RegistryReference r;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto d = parse_digest(rest.substr(at + 1), "image digest");
    if (!d) return bad_reference(text, "its digest must be sha256:<64 lower-case hex digits>");
    r.digest = d->str();
    rest = rest.substr(0, at);
  }
  // The host is the first component when it looks like one (docker's rule).
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    const bool host = first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
                      std::any_of(first.begin(), first.end(), [](char c) {
                        return std::isupper(static_cast<unsigned char>(c));
                      });
    if (host) {
      if (!valid_host(first)) return bad_reference(text, "bad registry host");
      r.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (r.registry.empty() || r.registry == "index.docker.io") r.registry = kDockerHub;
  if (auto colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!valid_tag(r.tag))
      return bad_reference(text, "a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -");
  }
  if (rest.empty()) return bad_reference(text, "no repository name");
  std::string repo(rest);
  if (r.registry == kDockerHub && repo.find('/') == std::string::npos) repo = "library/" + repo;
  for (std::string_view comp : split(repo, '/')) {
    if (!valid_component(comp))
      return bad_reference(
          text, std::any_of(comp.begin(), comp.end(),
                            [](char c) { return std::isupper(static_cast<unsigned char>(c)); })
                    ? "the repository name must be lower-case"
                    : "a repository path component is [a-z0-9] joined by . _ __ or -");
  }
  if (repo.size() + r.registry.size() + 1 > 255)
    return bad_reference(text, "the name is longer than 255 characters");
  r.repository = std::move(repo);
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

Expected<Reference> parse_reference(std::string_view text) {
  Reference out;
  if (text.rfind("oci:", 0) == 0) {
    std::string_view rest = text.substr(4);
    LayoutReference l;
    // PATH[:REF]: the last ':' starts the ref when what follows has no '/'.
    if (auto colon = rest.rfind(':');
        colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
      l.ref = std::string(rest.substr(colon + 1));
      rest = rest.substr(0, colon);
      if (l.ref.empty())
        return bad_reference(text,
                             "the REF after the last ':' is empty; drop the ':' or name a ref");
    }
    if (rest.empty()) return bad_reference(text, "expected oci:PATH[:REF]");
    if (rest.find('\0') != std::string_view::npos)
      return bad_reference(text, "the layout path holds a NUL byte");
    std::error_code ec;
    auto abs = std::filesystem::absolute(std::filesystem::path(rest), ec);
    l.path = (ec ? std::filesystem::path(rest) : abs.lexically_normal()).string();
    // "/srv/app/" and "/srv/app" are one layout; keep "/" itself.
    while (l.path.size() > 1 && l.path.back() == '/') l.path.pop_back();
    out.layout = std::move(l);
    return out;
  }
  if (text.find("://") != std::string_view::npos)
    return bad_reference(text, "give HOST/NAME[:TAG], without a scheme");
  auto r = parse_registry_reference(text);
  if (!r) return tl::unexpected(r.error());
  out.registry = std::move(*r);
  return out;
}

}  // namespace ociexec::image
