#include "image/registry.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/text.h"
#include "image/hasher.h"
#include "sys/fs.h"
#include "sys/unique_fd.h"

namespace ociexec::image {

namespace {

constexpr int kMaxRedirects = 6;

// "scheme://host[:port]/path" -> "host[:port]".
std::string url_host(std::string_view url) {
  auto p = url.find("://");
  if (p == std::string_view::npos) return {};
  url.remove_prefix(p + 3);
  return std::string(url.substr(0, url.find_first_of("/?#")));
}

std::string url_scheme(std::string_view url) {
  return std::string(url.substr(0, url.find("://")));
}

// The registry's own words from an error body ({"errors":[{"code","message"}]}).
std::string registry_message(const std::string& error_body) {
  auto j = nlohmann::json::parse(error_body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const auto& e = j["errors"][0];
    if (e.is_object()) {
      std::string code = e.value("code", "");
      std::string msg = e.value("message", "");
      return code.empty() ? msg : code + (msg.empty() ? "" : ": " + msg);
    }
  }
  return {};
}

bool retriable(CURLcode c) {
  return c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR || c == CURLE_PARTIAL_FILE ||
         c == CURLE_GOT_NOTHING || c == CURLE_OPERATION_TIMEDOUT || c == CURLE_HTTP2 ||
         c == CURLE_HTTP2_STREAM || c == CURLE_COULDNT_CONNECT;
}

}  // namespace

struct RegistryClient::State {
  struct Response {
    long status = 0;
    std::string content_type;
    std::string www_authenticate;
    std::string content_digest;
    std::string retry_after;
    std::string location;
    std::string error_body;  // the start of a non-2xx body, for its message
  };
  RegistryReference ref;
  RegistryOptions options;
  CURL* curl = nullptr;
  std::string host;    // the API host[:port]
  std::string scheme = "https";
  bool insecure = false;
  bool scheme_known = false;
  std::optional<Credentials> creds;  // loaded on the first challenge
  bool creds_loaded = false;
  // Per scope: the Authorization value and whether the credentials made it.
  struct Grant {
    std::string header;
    bool with_credentials = false;
  };
  std::map<std::string, Grant> grants;
  std::string basic;  // Basic auth header once a Basic challenge came
  std::string current_scope;
  std::uint64_t blob_requests = 0;

  // Per transfer.
  Response response;
  std::function<bool(const char*, std::size_t)> sink;
  std::size_t error_cap = 64 * 1024;

  ~State() {
    if (curl) curl_easy_cleanup(curl);
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<State*>(user);
    std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
      s->response = Response{};
      return size * n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string key(line.substr(0, colon));
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value(text::trim(line.substr(colon + 1)));
    if (key == "content-type") s->response.content_type = value;
    else if (key == "www-authenticate" && s->response.www_authenticate.empty())
      s->response.www_authenticate = value;
    else if (key == "docker-content-digest") s->response.content_digest = value;
    else if (key == "retry-after") s->response.retry_after = value;
    else if (key == "location") s->response.location = value;
    return size * n;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<State*>(user);
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
      const std::size_t room = s->error_cap - std::min(s->error_cap, s->response.error_body.size());
      s->response.error_body.append(data, std::min(room, size * n));
      return size * n;
    }
    return s->sink(data, size * n) ? size * n : 0;
  }

  Expected<std::optional<Credentials>> credentials() {
    if (creds_loaded) return creds;
    creds_loaded = true;
    if (!options.credentials.empty()) return creds = options.credentials;
    std::vector<std::string> files =
        options.auth_file.empty() ? default_auth_files() : std::vector{options.auth_file};
    for (const auto& f : files) {
      auto text = sys::read_file(f);
      if (!text) {
        if (!options.auth_file.empty())
          return tl::unexpected(Error{ErrorKind::kConfig, fmt::format("auth file: {}", text.error().message)});
        continue;
      }
      auto found = credentials_from_auth_json(*text, ref.registry);
      if (!found) return tl::unexpected(found.error().with_context(f));
      if (*found) return creds = **found;
    }
    return creds;
  }

  // One GET of `url` with `headers`, the body to `sink`: no retry, no redirect.
  CURLcode get_once(const std::string& url, const std::vector<std::string>& headers) {
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    const bool verify = !(insecure && url_host(url) == host);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    response = Response{};
    // Each request gets what is left of the pull's time, whatever else the transfer does.
    const auto left = options.deadline.left();
    if (left.count() <= 0) {
      curl_slist_free_all(list);
      return CURLE_OPERATION_TIMEDOUT;
    }
    // A little past the deadline, so that a request it cuts short is seen as the pull's
    // timeout, not as a transfer error.
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()) + 5);
    const CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    curl_slist_free_all(list);
    return rc;
  }

  // A token (Bearer) or Basic header for a 401; false when nothing new can be tried.
  Expected<bool> answer_challenge(const std::string& scope_hint) {
    auto challenge = parse_challenge(response.www_authenticate);
    if (!challenge)
      return tl::unexpected(Error{ErrorKind::kAuth, fmt::format("{}: 401 Unauthorized without a "
                                                                "usable WWW-Authenticate challenge",
                                                                host)});
    auto c = credentials();
    if (!c) return tl::unexpected(c.error());
    if (challenge->scheme == "basic") {
      if (!*c || !basic.empty()) return false;
      basic = "Authorization: Basic " + base64_encode((*c)->username + ":" + (*c)->password);
      return true;
    }
    if (challenge->scheme != "bearer")
      return tl::unexpected(Error{ErrorKind::kAuth, fmt::format("{}: unsupported authentication "
                                                                "scheme {:?}",
                                                                host, challenge->scheme)});
    std::string scope = challenge->params.count("scope") ? challenge->params["scope"] : scope_hint;
    auto& grant = grants[scope];
    current_scope = scope;
    if (grant.with_credentials || (!grant.header.empty() && !*c)) return false;
    // Anonymous first; the credentials when the anonymous token was not enough.
    const bool use_creds = !grant.header.empty() && *c;
    auto token = fetch_token(challenge->params, scope, use_creds ? *c : std::optional<Credentials>{});
    if (!token && !use_creds && *c && token.error().kind == ErrorKind::kAuth) {
      token = fetch_token(challenge->params, scope, *c);
      grant.with_credentials = true;
    }
    if (!token) return tl::unexpected(token.error());
    grant.header = "Authorization: Bearer " + *token;
    grant.with_credentials = grant.with_credentials || use_creds;
    return true;
  }

  Expected<std::string> fetch_token(std::map<std::string, std::string>& params,
                                    const std::string& scope,
                                    const std::optional<Credentials>& with) {
    const std::string realm = params["realm"];
    if (url_scheme(realm) != "https" && url_scheme(realm) != "http")
      return tl::unexpected(Error{ErrorKind::kAuth, fmt::format("{}: token realm {:?} is not an "
                                                                "http(s) URL",
                                                                host, realm)});
    if (url_scheme(realm) == "http" && with && !(insecure && url_host(realm) == host))
      return tl::unexpected(Error{ErrorKind::kAuth, fmt::format("{}: refusing to send credentials "
                                                                "to {} over plain HTTP",
                                                                host, realm)});
    char* service = curl_easy_escape(curl, params["service"].c_str(), 0);
    char* sc = curl_easy_escape(curl, scope.c_str(), 0);
    std::string url = fmt::format("{}{}service={}&scope={}", realm,
                                  realm.find('?') == std::string::npos ? "?" : "&", service, sc);
    curl_free(service);
    curl_free(sc);
    std::vector<std::string> headers;
    if (with) headers.push_back("Authorization: Basic " + base64_encode(with->username + ":" + with->password));
    std::string body;
    sink = [&body](const char* d, std::size_t n) {
      if (body.size() + n > kMaxManifestBytes) return false;
      body.append(d, n);
      return true;
    };
    const CURLcode rc = get_once(url, headers);
    if (rc != CURLE_OK)
      return tl::unexpected(Error{ErrorKind::kAuth, fmt::format("token server {}: {}", url_host(realm),
                                                                curl_easy_strerror(rc))});
    if (response.status == 401 || response.status == 403)
      return tl::unexpected(Error{ErrorKind::kAuth,
                                  fmt::format("token server {} refused {}: HTTP {}",
                                              url_host(realm),
                                              with ? "the credentials" : "an anonymous token",
                                              response.status)});
    if (response.status != 200)
      return tl::unexpected(Error{ErrorKind::kAuth, fmt::format("token server {}: HTTP {}",
                                                                url_host(realm), response.status)});
    return token_from_response(body);
  }

  [[nodiscard]] std::string auth_header() const {
    if (!basic.empty()) return basic;
    auto it = grants.find(current_scope);
    return it == grants.end() ? std::string() : it->second.header;
  }

  // GET base+path with retries, auth and redirects; `reset` runs before every attempt.
  Expected<void> get(const std::string& path, const std::vector<std::string>& extra,
                     const std::function<bool(const char*, std::size_t)>& body_sink,
                     const std::function<void()>& reset, std::string_view what) {
    const std::string scope_hint = fmt::format("repository:{}:pull", ref.repository);
    if (current_scope.empty()) current_scope = scope_hint;
    auto backoff = options.backoff;
    for (int attempt = 1;; ++attempt) {
      std::string url = fmt::format("{}://{}{}", scheme, host, path);
      int hops = 0, challenges = 0;
      CURLcode rc = CURLE_OK;
      while (true) {
        reset();
        sink = body_sink;
        std::vector<std::string> headers = extra;
        // Credentials and tokens only ever go to the registry's own host.
        if (url_host(url) == host && !auth_header().empty()) headers.push_back(auth_header());
        rc = get_once(url, headers);
        if (rc == CURLE_SSL_CONNECT_ERROR && insecure && !scheme_known && url_host(url) == host) {
          scheme = "http";  // an insecure registry without TLS
          scheme_known = true;
          url = fmt::format("{}://{}{}", scheme, host, path);
          continue;
        }
        if (rc == CURLE_OK) scheme_known = true;
        if (rc != CURLE_OK) break;
        if (response.status == 401 && url_host(url) == host && challenges++ < 3) {
          auto answered = answer_challenge(scope_hint);
          if (!answered) return tl::unexpected(answered.error());
          if (*answered) continue;
          auto c = credentials();
          return tl::unexpected(Error{
              ErrorKind::kAuth,
              fmt::format("{}: {} refused{}: {}", what, host,
                          c && *c ? " the credentials" : " anonymous access",
                          c && *c ? "check them (--creds or the auth file)"
                                  : "give credentials with --creds USER:PASS or an auth file "
                                    "(--authfile, ~/.docker/config.json)")});
        }
        if (response.status >= 300 && response.status < 400 && response.status != 304) {
          char* next = nullptr;
          curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &next);
          if (!next || ++hops > kMaxRedirects)
            return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: too many redirects", what)});
          std::string target = next;
          const std::string s = url_scheme(target);
          if (s != "https" && !(s == "http" && (url_scheme(url) == "http")))
            return tl::unexpected(Error{ErrorKind::kImage,
                                        fmt::format("{}: refusing a redirect to {:?}", what, target)});
          url = std::move(target);
          continue;
        }
        break;
      }
      const bool transient = (rc != CURLE_OK && retriable(rc)) ||
                             (rc == CURLE_OK && (response.status == 429 || response.status >= 500));
      if (rc == CURLE_OK && response.status >= 200 && response.status < 300) return {};
      if (options.deadline.passed())
        return tl::unexpected(options.deadline.error().with_context(what));
      if (!transient || attempt >= options.attempts) {
        if (rc != CURLE_OK)
          return tl::unexpected(Error{
              ErrorKind::kImage,
              fmt::format("{}: {}://{}: {}{}", what, scheme, host, curl_easy_strerror(rc),
                          rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION
                              ? " (for a registry without valid TLS, pass --tls-verify=false "
                                "or list it in insecure_registries)"
                              : "")});
        const std::string msg = registry_message(response.error_body);
        const ErrorKind kind =
            response.status == 404 ? ErrorKind::kImageNotFound
            : response.status == 403 ? ErrorKind::kAuth : ErrorKind::kImage;
        return tl::unexpected(Error{kind, fmt::format("{}: {} answered HTTP {}{}{}", what, host,
                                                      response.status, msg.empty() ? "" : ": ", msg)});
      }
      auto wait = backoff;
      if (!response.retry_after.empty()) {
        const long secs = std::strtol(response.retry_after.c_str(), nullptr, 10);
        if (secs > 0) wait = std::chrono::seconds(std::min(secs, 10L));
      }
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(wait, options.deadline.left()));
      backoff *= 2;
    }
  }
};

std::chrono::milliseconds PullDeadline::left() const {
  const auto now = std::chrono::steady_clock::now();
  if (now >= at) return std::chrono::milliseconds(0);
  if (at == std::chrono::steady_clock::time_point::max()) return std::chrono::hours(24 * 365);
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
}

Error PullDeadline::error() const {
  return Error{ErrorKind::kImage,
               fmt::format("pull: not finished within its time limit of {} s; raise it with "
                           "--pull-timeout (pull_timeout), or check the registry's speed",
                           std::chrono::duration_cast<std::chrono::seconds>(limit).count())};
}

RegistryClient::RegistryClient(std::unique_ptr<State> state) : s_(std::move(state)) {}
RegistryClient::~RegistryClient() = default;

Expected<std::unique_ptr<RegistryClient>> RegistryClient::create(const RegistryReference& ref,
                                                                 const RegistryOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto s = std::make_unique<State>();
  s->ref = ref;
  s->options = options;
  s->host = ref.api_host();
  s->insecure = !options.tls_verify ||
                std::find(options.insecure_registries.begin(), options.insecure_registries.end(),
                          ref.registry) != options.insecure_registries.end();
  s->curl = curl_easy_init();
  if (!s->curl) return tl::unexpected(Error{ErrorKind::kSystem, "libcurl: cannot make a handle"});
  CURL* c = s->curl;
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "ociexec");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &State::on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, s.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &State::on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, s.get());
  if (!options.ca_file.empty()) {
    if (::access(options.ca_file.c_str(), R_OK) != 0)
      return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                  fmt::format("CA file {:?}: cannot be read", options.ca_file)});
    curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");  // and the system's
  }
  return std::unique_ptr<RegistryClient>(new RegistryClient(std::move(s)));
}

Expected<FetchedManifest> RegistryClient::manifest(const std::string& reference) {
  FetchedManifest out;
  const std::string what = fmt::format("manifest {}", s_->ref.canonical());
  auto r = s_->get(fmt::format("/v2/{}/manifests/{}", s_->ref.repository, reference),
                   {"Accept: " + media::manifest_accept()},
                   [&out](const char* d, std::size_t n) {
                     if (out.body.size() + n > kMaxManifestBytes) return false;
                     out.body.append(d, n);
                     return true;
                   },
                   [&out] { out.body.clear(); }, what);
  if (!r) return tl::unexpected(r.error());
  out.content_type = s_->response.content_type;
  // Verified against the digest asked for, else the one the registry announced.
  const std::string expected =
      reference.find(':') != std::string::npos ? reference : s_->response.content_digest;
  std::string algorithm = "sha256";
  if (!expected.empty()) {
    auto d = parse_digest(expected, "manifest digest");
    if (!d) return tl::unexpected(d.error());
    algorithm = d->algorithm;
  }
  out.digest = digest_of(out.body, algorithm).str();
  if (!expected.empty() && out.digest != expected)
    return tl::unexpected(Error{ErrorKind::kImage,
                                fmt::format("{}: its content has digest {}, not {}: refused",
                                            what, out.digest, expected)});
  return out;
}

Expected<void> RegistryClient::blob(const Descriptor& d, int fd, const BlobProgress& progress) {
  auto digest = parse_digest(d.digest, "blob digest");
  if (!digest) return tl::unexpected(digest.error());
  std::optional<Hasher> hasher;
  std::uint64_t got = 0;
  bool too_big = false;
  Error write_error;
  bool write_failed = false;
  auto sink = [&](const char* data, std::size_t n) {
    if (got + n > d.size) {
      too_big = true;
      return false;
    }
    hasher->update(data, n);
    if (auto w = sys::write_all(fd, std::string_view(data, n)); !w) {
      write_error = w.error().with_context("blob");
      write_failed = true;
      return false;
    }
    got += n;
    if (progress) progress(got, d.size);
    return true;
  };
  auto reset = [&] {
    hasher.emplace(digest->algorithm);
    got = 0;
    (void)sys::rewind(sys::FdRef(fd), /*truncate=*/true);
  };
  ++s_->blob_requests;
  const std::string what = fmt::format("blob {}", d.digest);
  auto r = s_->get(fmt::format("/v2/{}/blobs/{}", s_->ref.repository, d.digest), {}, sink, reset, what);
  if (write_failed) return tl::unexpected(write_error);
  if (too_big)
    return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: more than the {} bytes its "
                                                               "descriptor states: refused",
                                                               what, d.size)});
  if (!r) return tl::unexpected(r.error());
  if (got != d.size)
    return tl::unexpected(Error{ErrorKind::kImage, fmt::format("{}: {} bytes, not the {} its "
                                                               "descriptor states: refused",
                                                               what, got, d.size)});
  const Digest actual = hasher->finish();
  if (!(actual == *digest))
    return tl::unexpected(Error{ErrorKind::kImage,
                                fmt::format("{}: the content has digest {}: refused (tampered "
                                            "or corrupt)",
                                            what, actual.str())});
  return {};
}

std::uint64_t RegistryClient::blob_requests() const noexcept {
  return s_->blob_requests;
}

}  // namespace ociexec::image
