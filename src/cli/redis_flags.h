// The flags `worker` and `submit` share: where Redis is, how to log in, and the names of the
// stream and keys.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "worker/redis.h"

namespace ociexec::cli {

struct RedisFlags {
  std::string url;
  std::string password_file;
  std::string stream = "ociexec:jobs";
  std::string prefix = "ociexec:";
};

void add_redis_flags(CLI::App& cmd, RedisFlags& flags);

// The URL parsed, and the password from OCIEXEC_REDIS_PASSWORD or --redis-password-file (its
// first line), never from the command line.
Expected<worker::Redis::Options> redis_options(const RedisFlags& flags);

}  // namespace ociexec::cli
