#include "worker/redis.h"

#include <sys/time.h>

#include <charconv>
#include <thread>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace ociexec::worker {

namespace {

// The URL as an error may show it: a password in it (refused) becomes ***.
std::string redacted(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto end = url.find('/', scheme + 3);
  const auto at = url.rfind('@', end);
  if (at == std::string::npos || at < scheme + 3) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

Error invalid(const std::string& url, const std::string& why) {
  return Error{ErrorKind::kInvalidArgument,
               fmt::format("--redis {:?}: {}; e.g. redis://127.0.0.1:6379/0", redacted(url), why)};
}

std::optional<int> number(std::string_view text) {
  int n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || p != text.data() + text.size() || n < 0) return std::nullopt;
  return n;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000),
          static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

Reply copy(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy(r->element[i]));
      break;
    default: break;
  }
  return out;
}

}  // namespace

Expected<RedisUrl> parse_redis_url(const std::string& url) {
  RedisUrl u;
  std::string_view rest = url;
  if (rest.rfind("unix://", 0) == 0) {
    rest.remove_prefix(7);
    const auto q = rest.find("?db=");
    u.unix_path = std::string(rest.substr(0, q));
    if (q != std::string_view::npos) {
      auto db = number(rest.substr(q + 4));
      if (!db) return tl::unexpected(invalid(url, "db is not a number"));
      u.db = *db;
    }
    if (u.unix_path.empty() || u.unix_path[0] != '/')
      return tl::unexpected(invalid(url, "a Unix socket needs an absolute path"));
    return u;
  }
  if (rest.rfind("rediss://", 0) == 0)
    return tl::unexpected(
        invalid(url,
                "TLS is not supported by this build's hiredis (0.14); reach Redis over a TLS "
                "tunnel (stunnel, spiped) on 127.0.0.1"));
  if (rest.rfind("redis://", 0) != 0)
    return tl::unexpected(invalid(url, "expected redis:// or unix://"));
  rest.remove_prefix(8);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    auto db = number(rest.substr(slash + 1));
    if (!db) return tl::unexpected(invalid(url, "the database is not a number"));
    u.db = *db;
  }
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos)
      return tl::unexpected(invalid(url,
                                    "a password in the URL would show in ps and logs; give it in "
                                    "OCIEXEC_REDIS_PASSWORD or --redis-password-file"));
    u.user = std::string(userinfo);
    authority.remove_prefix(at + 1);
  }
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    auto port = number(authority.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535)
      return tl::unexpected(invalid(url, "the port is not a number from 1 to 65535"));
    u.port = *port;
    authority = authority.substr(0, colon);
  }
  if (!authority.empty()) u.host = std::string(authority);
  return u;
}

Expected<Redis> Redis::connect(Options options) {
  Redis r(std::move(options));
  if (auto o = r.open(); !o) return tl::unexpected(o.error());
  return r;
}

Redis::Redis(Redis&&) noexcept = default;
Redis& Redis::operator=(Redis&&) noexcept = default;
Redis::~Redis() = default;

Expected<void> Redis::open() {
  const auto& u = options_.url;
  const timeval tv = to_timeval(options_.timeout);
  redisContext* c = u.unix_path.empty() ? redisConnectWithTimeout(u.host.c_str(), u.port, tv)
                                        : redisConnectUnixWithTimeout(u.unix_path.c_str(), tv);
  const std::string where =
      u.unix_path.empty() ? fmt::format("{}:{}", u.host, u.port) : u.unix_path;
  if (c == nullptr)
    return tl::unexpected(Error{ErrorKind::kSystem, fmt::format("redis {}: out of memory", where)});
  ctx_ = {c, redisFree};
  if (c->err != 0)
    return tl::unexpected(Error{ErrorKind::kSystem, fmt::format("redis {}: {}", where, c->errstr)});
  redisSetTimeout(c, tv);
  redisEnableKeepAlive(c);
  // The log-in, refused in words of its own: bad credentials, or a database out of range.
  auto simple = [&](const std::vector<std::string>& argv) -> Expected<void> {
    auto reply = send(argv, std::nullopt);
    if (!reply) return tl::unexpected(reply.error().with_context(fmt::format("redis {}", where)));
    if (reply->type == Reply::Type::kError)
      return tl::unexpected(Error{ErrorKind::kInvalidArgument,
                                  fmt::format("redis {}: {}: {}", where, argv[0], reply->str)});
    return {};
  };
  if (options_.password) {
    std::vector<std::string> auth{"AUTH"};
    if (!u.user.empty()) auth.push_back(u.user);
    auth.push_back(*options_.password);
    if (auto r = simple(auth); !r) return r;
  }
  if (u.db != 0)
    if (auto r = simple({"SELECT", std::to_string(u.db)}); !r) return r;
  return {};
}

Expected<Reply> Redis::send(const std::vector<std::string>& argv,
                            std::optional<std::chrono::milliseconds> read_timeout) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) args.push_back(a.data()), lens.push_back(a.size());
  if (read_timeout) redisSetTimeout(ctx_.get(), to_timeval(*read_timeout));
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(ctx_.get(), static_cast<int>(args.size()), args.data(), lens.data()));
  if (raw == nullptr) {
    Error failure{ErrorKind::kSystem, fmt::format("{}: {}", argv[0], ctx_->errstr)};
    ctx_.reset();  // a context with an error is unusable
    return tl::unexpected(failure);
  }
  if (read_timeout) redisSetTimeout(ctx_.get(), to_timeval(options_.timeout));
  Reply reply = copy(raw);
  freeReplyObject(raw);
  return reply;
}

Expected<Reply> Redis::call(const std::vector<std::string>& argv,
                            std::optional<std::chrono::milliseconds> read_timeout) {
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    Error failure{ErrorKind::kSystem, "redis: not connected"};
    if (ctx_) {
      auto reply = send(argv, read_timeout);
      if (reply) return reply;
      failure = reply.error().with_context("redis");
    }
    while (true) {
      if (!keep_trying()) return tl::unexpected(failure);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      auto opened = open();
      if (opened) break;
      ctx_.reset();
      failure = opened.error();
    }
    if (on_reconnect) on_reconnect();
  }
}

}  // namespace ociexec::worker
