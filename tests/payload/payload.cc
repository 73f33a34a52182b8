// A small static program that integration tests run inside containers. Each sub-command
// exercises one behaviour the executor must contain: sleeping, ignoring SIGTERM, escaping
// into new sessions, eating memory, fork-bombing, flooding output, probing isolation.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: payload sleep S | ignore-term S | spawn-setsid N S | memhog MB | "
               "forkbomb S | env | flood MB | connect IP PORT | write PATH BYTES | cat | id | "
               "exit N | segv | hold-output S | unshare-user | now\n");
  return 2;
}

void sleep_seconds(double s) {
  struct timespec ts {
    static_cast<time_t>(s),
        static_cast<long>((s - static_cast<double>(static_cast<time_t>(s))) * 1e9)
  };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  auto arg = [&](int i) { return i < argc ? std::atof(argv[i]) : 0.0; };

  if (cmd == "sleep") {
    sleep_seconds(arg(2));
    return 0;
  }
  if (cmd == "ignore-term") {
    signal(SIGTERM, SIG_IGN);
    std::printf("ignoring SIGTERM\n");
    std::fflush(stdout);
    sleep_seconds(arg(2));
    return 0;
  }
  if (cmd == "spawn-setsid") {
    int n = static_cast<int>(arg(2));
    signal(SIGTERM, SIG_IGN);
    for (int i = 0; i < n; ++i) {
      pid_t pid = fork();
      if (pid == 0) {
        setsid();
        signal(SIGTERM, SIG_IGN);
        sleep_seconds(arg(3));
        _exit(0);
      }
    }
    std::printf("spawned %d\n", n);
    std::fflush(stdout);
    sleep_seconds(arg(3));
    return 0;
  }
  if (cmd == "memhog") {
    size_t mb = static_cast<size_t>(arg(2));
    std::vector<char*> blocks;
    for (size_t i = 0; i < mb; ++i) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (!p) {
        std::printf("malloc failed at %zu MiB\n", i);
        return 3;
      }
      std::memset(p, 1, 1 << 20);
      blocks.push_back(p);
    }
    std::printf("allocated %zu MiB\n", mb);
    return 0;
  }
  if (cmd == "forkbomb") {
    int made = 0;
    for (;;) {
      pid_t pid = fork();
      if (pid == 0) {
        sleep_seconds(arg(2));
        _exit(0);
      }
      if (pid < 0) {
        std::printf("fork failed after %d: %s\n", made, std::strerror(errno));
        std::fflush(stdout);
        break;
      }
      ++made;
      if (made > 100000) break;
    }
    return 0;
  }
  if (cmd == "env") {
    for (char** e = environ; *e; ++e) std::printf("%s\n", *e);
    return 0;
  }
  if (cmd == "flood") {
    std::vector<char> buf(1 << 16, 'x');
    size_t total = static_cast<size_t>(arg(2)) << 20;
    for (size_t done = 0; done < total; done += buf.size())
      if (write_all(1, buf.data(), buf.size()) != 0) return 1;
    return 0;
  }
  if (cmd == "connect") {
    if (argc < 4) return usage();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
    inet_pton(AF_INET, argv[2], &addr.sin_addr);
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      std::printf("connected\n");
      return 0;
    }
    std::printf("connect: %s\n", std::strerror(errno));
    return 1;
  }
  if (cmd == "write") {
    if (argc < 4) return usage();
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
      std::printf("open: %s\n", std::strerror(errno));
      return 1;
    }
    std::vector<char> buf(1 << 16, 'y');
    size_t total = static_cast<size_t>(std::atoll(argv[3]));
    for (size_t done = 0; done < total;) {
      size_t chunk = std::min(buf.size(), total - done);
      if (write_all(fd, buf.data(), chunk) != 0) {
        std::printf("write: %s\n", std::strerror(errno));
        return 1;
      }
      done += chunk;
    }
    std::printf("wrote %zu\n", total);
    return 0;
  }
  if (cmd == "cat") {
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
      if (write_all(1, buf, static_cast<size_t>(n)) != 0) return 1;
    return 0;
  }
  if (cmd == "now") {
    // CLOCK_MONOTONIC is not namespaced here: comparable with the executor's steady_clock.
    struct timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    std::printf("%lld\n", static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec);
    return 0;
  }
  if (cmd == "id") {
    std::printf("uid=%d gid=%d\n", static_cast<int>(getuid()), static_cast<int>(getgid()));
    return 0;
  }
  if (cmd == "exit") return std::atoi(argc > 2 ? argv[2] : "0");
  if (cmd == "segv") {
    // A forced, synchronous signal: it kills even a pid-namespace init.
    raise(SIGSEGV);
    volatile int* p = nullptr;
    return *p;
  }
  if (cmd == "hold-output") {
    // A detached grandchild keeps stdout open; the job itself ends at once.
    if (fork() == 0) {
      setsid();
      sleep_seconds(arg(2));
      _exit(0);
    }
    std::printf("parent done\n");
    return 0;
  }
  if (cmd == "unshare-user") {
    if (unshare(CLONE_NEWUSER) == 0) {
      std::printf("unshare: allowed\n");
      return 0;
    }
    std::printf("unshare: %s\n", std::strerror(errno));
    return 1;
  }
  return usage();
}
