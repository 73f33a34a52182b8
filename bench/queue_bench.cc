// The queue's own cost per job, with no container: the Redis round trips one job takes
// through `ociexec worker` and a waiting producer, on the worker's own client (hiredis):
//   producer XADD; worker XREADGROUP, SET NX EX, XADD results, LPUSH, EXPIRE, XACK;
//   producer BLPOP, GET.
// Prints the mean per job in ms.   ociexec_queue_bench PORT [ROUNDS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "worker/redis.h"

using ociexec::worker::Redis;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ociexec_queue_bench PORT [ROUNDS]\n");
    return 2;
  }
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 1000;
  Redis::Options o;
  o.url.port = std::atoi(argv[1]);
  auto producer = Redis::connect(o);
  auto worker = Redis::connect(o);
  if (!producer || !worker) {
    std::fprintf(stderr, "ociexec_queue_bench: cannot connect to 127.0.0.1:%s\n", argv[1]);
    return 1;
  }
  (void)worker->call({"DEL", "bench:q"});
  (void)worker->call({"XGROUP", "CREATE", "bench:q", "g", "0", "MKSTREAM"});
  const std::string line = R"({"script":"true"})";
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    auto id = producer->call({"XADD", "bench:q", "*", "job", line});
    if (!id) return 1;
    const std::string job = id->str;
    (void)worker->call({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "bench:q", ">"});
    (void)worker->call({"SET", "bench:result:" + job, "{}", "NX", "EX", "86400"});
    (void)worker->call(
        {"XADD", "bench:results", "MAXLEN", "~", "100000", "*", "job", job, "result", "{}"});
    (void)worker->call({"LPUSH", "bench:done:" + job, "1"});
    (void)worker->call({"EXPIRE", "bench:done:" + job, "86400"});
    (void)worker->call({"XACK", "bench:q", "g", job});
    (void)producer->call({"BLPOP", "bench:done:" + job, "1"});
    (void)producer->call({"GET", "bench:result:" + job});
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  std::printf("%.4f\n", ms / rounds);
  return 0;
}
