// A Redis connection for the worker (hiredis, synchronous): a URL parsed once, replies copied
// out of hiredis' objects, and every call retried across a lost connection, reconnecting with
// backoff, for as long as the caller wants it to. One connection per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ociexec/error.h"

struct redisContext;

namespace ociexec::worker {

// redis://[USER@]HOST[:PORT][/DB] or unix:///PATH[?db=N]. A password is never part of it
// (it would show in `ps` and in logs): it comes from the environment or a file.
struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;  // set: a Unix socket
  std::string user;       // an ACL user (AUTH user password); empty: the default user
  int db = 0;
};
Expected<RedisUrl> parse_redis_url(const std::string& url);

struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // string, status and error replies
  long long integer = 0;
  std::vector<Reply> elements;
  [[nodiscard]] bool nil() const noexcept { return type == Type::kNil; }
};

class Redis {
 public:
  struct Options {
    RedisUrl url;
    std::optional<std::string> password;
    std::chrono::milliseconds timeout{5000};  // connect, and each reply but a blocking read's
  };
  // Connects now; an unreachable server or refused credentials is an error.
  static Expected<Redis> connect(Options options);
  Redis(Redis&&) noexcept;
  Redis& operator=(Redis&&) noexcept;
  ~Redis();

  // One command. A reply of type error is a reply (the caller decides), a lost connection is
  // retried after reconnecting, with backoff from 100 ms to 5 s, while `keep_trying()` says
  // so; `read_timeout` (for a blocking read) replaces the usual timeout for this reply.
  Expected<Reply> call(const std::vector<std::string>& argv,
                       std::optional<std::chrono::milliseconds> read_timeout = std::nullopt);
  // Asked between retries: false makes call() give up with the last error.
  std::function<bool()> keep_trying = [] { return false; };
  // Called once per reconnection that succeeded (the worker's heartbeat runs then).
  std::function<void()> on_reconnect;

 private:
  explicit Redis(Options options) : options_(std::move(options)) {}
  Expected<void> open();
  // One command on the open connection, once: a reply, or the connection's error (after
  // which it is closed).
  Expected<Reply> send(const std::vector<std::string>& argv,
                       std::optional<std::chrono::milliseconds> read_timeout);
  Options options_;
  std::unique_ptr<redisContext, void (*)(redisContext*)> ctx_{nullptr, nullptr};
};

}  // namespace ociexec::worker
