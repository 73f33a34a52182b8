#include "cli/redis_flags.h"

#include <cstdlib>

#include <fmt/format.h>

#include "sys/fs.h"

namespace ociexec::cli {

void add_redis_flags(CLI::App& cmd, RedisFlags& flags) {
  cmd.add_option("--redis", flags.url,
                 "redis://[USER@]HOST[:PORT][/DB] or unix:///PATH (the password: "
                 "OCIEXEC_REDIS_PASSWORD or --redis-password-file)")
      ->required();
  cmd.add_option("--redis-password-file", flags.password_file,
                 "file whose first line is the Redis password");
  cmd.add_option("--stream", flags.stream, "the jobs' stream (default ociexec:jobs)");
  cmd.add_option("--prefix", flags.prefix,
                 "of the result:ID, done:ID, results and dead keys (default ociexec:)");
}

Expected<worker::Redis::Options> redis_options(const RedisFlags& flags) {
  auto url = worker::parse_redis_url(flags.url);
  if (!url) return tl::unexpected(url.error());
  worker::Redis::Options o;
  o.url = std::move(*url);
  if (!flags.password_file.empty()) {
    auto text = sys::read_file(flags.password_file);
    if (!text)
      return tl::unexpected(Error{
          ErrorKind::kInvalidArgument,
          fmt::format("--redis-password-file: {}; give a readable file", text.error().message)});
    o.password = text->substr(0, text->find('\n'));
  } else if (const char* p = std::getenv("OCIEXEC_REDIS_PASSWORD"); p && *p) {
    o.password = p;
  }
  return o;
}

}  // namespace ociexec::cli
