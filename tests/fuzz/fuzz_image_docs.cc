// What registries, layouts and images hand us as text: references, digests, manifests,
// indexes and configs, WWW-Authenticate challenges, auth files and token responses, and an
// image's User against its /etc/passwd. The first byte picks the parser.
#include <map>

#include "fuzz.h"
#include "image/auth.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/user.h"

namespace {

template <typename T>
void one_line_on_error(const ociexec::Expected<T>& r) {
  if (!r) ociexec::fuzz::require_one_line(r.error().message);
}

}  // namespace

OCIEXEC_FUZZ_TARGET(const std::uint8_t* data, std::size_t size) {
  using namespace ociexec::image;
  if (size == 0) return 0;
  const std::string input(ociexec::fuzz::text(data + 1, size - 1));
  switch (data[0] % 8) {
    case 0: {
      auto r = parse_reference(input);
      one_line_on_error(r);
      // A parsed reference prints as one that parses to itself.
      if (r) {
        auto again = parse_reference(r->canonical());
        ociexec::fuzz::require(again.has_value(), "canonical reference does not parse");
        ociexec::fuzz::require(again->canonical() == r->canonical(),
                               "canonical reference does not round-trip");
      }
      break;
    }
    case 1: {
      auto d = parse_digest(input);
      one_line_on_error(d);
      if (d) ociexec::fuzz::require(d->str() == input, "digest does not round-trip");
      break;
    }
    case 2: {
      auto kind = document_kind(input, "");
      one_line_on_error(kind);
      one_line_on_error(parse_index(input));
      one_line_on_error(parse_manifest(input));
      break;
    }
    case 3: {
      auto c = parse_config(input);
      one_line_on_error(c);
      if (c)
        for (const auto& id : c->diff_ids)
          ociexec::fuzz::require(parse_digest(id).has_value(), "unvalidated diff_id");
      break;
    }
    case 4: (void)parse_challenge(input); break;
    case 5: {
      auto c = credentials_from_auth_json(input, "docker.io");
      one_line_on_error(c);
      one_line_on_error(token_from_response(input));
      break;
    }
    case 6: {
      auto nl = input.find('\n');
      const std::string spec = input.substr(0, nl);
      const std::string passwd = nl == std::string::npos ? "" : input.substr(nl + 1);
      one_line_on_error(
          resolve_user(spec, [&](const std::string&) { return std::optional(passwd); }));
      break;
    }
    default: {
      auto p = parse_platform(input);
      one_line_on_error(p);
      if (auto b = base64_decode(input))
        ociexec::fuzz::require(base64_decode(base64_encode(*b)) == *b, "base64 round-trip");
      break;
    }
  }
  return 0;
}
