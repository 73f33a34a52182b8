// A small static program that integration tests run inside containers. Each sub-command
// exercises one behaviour the executor must contain: sleeping, ignoring SIGTERM, escaping
// into new sessions, eating memory, fork-bombing, flooding output, probing isolation.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <dirent.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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
               "exit N | segv | hold-output S | unshare-user | now | try ATTEMPT | read PATH | "
               "procs | daemon S | euid | orphans N | subreaper CMD...\n");
  return 2;
}

// Calls f(pid, contents of /proc/PID/FILE) for every process this one can see.
template <typename F>
bool each_process(const char* file, F f) {
  DIR* d = opendir("/proc");
  if (!d) return false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[64], text[512] = "";
    std::snprintf(path, sizeof path, "/proc/%s/%s", e->d_name, file);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : 0;
    if (fd >= 0) close(fd);
    f(e->d_name, std::string(text, n > 0 ? static_cast<std::size_t>(n) : 0));
  }
  closedir(d);
  return true;
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

// One thing a contained job must not be able to do. Returns 0 when the kernel said no (which
// is what the tests expect), 1 when it was allowed.
int attempt(const std::string& what) {
  errno = 0;
  long rc = -1;
  if (what == "mount") rc = mount("none", "/tmp", "tmpfs", 0, nullptr);
  else if (what == "umount") rc = umount2("/proc", MNT_DETACH);
  else if (what == "unshare-mount") rc = unshare(CLONE_NEWNS);
  else if (what == "unshare-net") rc = unshare(CLONE_NEWNET);
  else if (what == "setns") rc = syscall(SYS_setns, open("/proc/1/ns/mnt", O_RDONLY), 0);
  else if (what == "ptrace") rc = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0);
  else if (what == "kexec") rc = syscall(SYS_kexec_load, 0, 0, nullptr, 0);
  else if (what == "init-module") rc = syscall(SYS_init_module, nullptr, 0, "");
  else if (what == "delete-module") rc = syscall(SYS_delete_module, "loop", 0);
  else if (what == "reboot") rc = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                                          LINUX_REBOOT_CMD_CAD_OFF, nullptr);
  else if (what == "raw-socket") rc = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  else if (what == "packet-socket") rc = socket(AF_PACKET, SOCK_RAW, 0);
  else if (what == "mknod") rc = mknod("/tmp/mem", S_IFCHR | 0666, makedev(1, 1));
  else if (what == "sethostname") rc = sethostname("escaped", 7);
  else if (what == "chroot") rc = chroot("/tmp");
  else if (what == "setuid-root") rc = setuid(0);
  else if (what == "open-by-handle") rc = syscall(SYS_open_by_handle_at, AT_FDCWD, nullptr, 0);
  else if (what == "bpf") rc = syscall(SYS_bpf, 0, nullptr, 0);
  else if (what == "perf") rc = syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0);
  else if (what == "keyctl") rc = syscall(SYS_keyctl, 0, 0, 0, 0, 0);
  else if (what == "userfaultfd") rc = syscall(SYS_userfaultfd, 0);
  else if (what == "iopl") rc = syscall(SYS_iopl, 3);
  else if (what == "clock-settime") {
    struct timespec ts {};
    rc = clock_settime(CLOCK_REALTIME, &ts);
  } else if (what == "syslog") rc = syscall(SYS_syslog, 3, nullptr, 0);
  else if (what == "swapon") rc = syscall(SYS_swapon, "/tmp/swap", 0);
  // Only seccomp refuses these two: clone3 with no arguments is EINVAL to the kernel (the
  // profile answers ENOSYS), and kcmp of one's own fd 0 with itself needs no privilege.
  else if (what == "clone3") rc = syscall(SYS_clone3, nullptr, 0);
  else if (what == "kcmp") rc = syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0);
  else {
    std::printf("%s: unknown attempt\n", what.c_str());
    return 2;
  }
  if (rc >= 0) {
    std::printf("%s: allowed\n", what.c_str());
    return 1;
  }
  std::printf("%s: %s\n", what.c_str(), std::strerror(errno));
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
  if (cmd == "try") {
    int allowed = 0;
    for (int i = 2; i < argc; ++i) allowed |= attempt(argv[i]);
    return allowed;
  }
  if (cmd == "read") {
    if (argc < 3) return usage();
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) {
      std::printf("open: %s\n", std::strerror(errno));
      return 1;
    }
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
    std::printf(n < 0 ? "read: %s\n" : "read %zu bytes\n",
                n < 0 ? std::strerror(errno) : nullptr, total);
    return n < 0 ? 1 : 0;
  }
  if (cmd == "procs") {
    // The processes this job can see: "pid comm" per line.
    return each_process("comm", [](const char* pid, std::string comm) {
             if (!comm.empty() && comm.back() == '\n') comm.pop_back();
             std::printf("%s %s\n", pid, comm.c_str());
           })
               ? 0
               : 1;
  }
  if (cmd == "daemon") {
    // Tries to outlive the job: double fork, new session, stdio closed, SIGTERM/SIGHUP ignored.
    if (fork() == 0) {
      setsid();
      if (fork() == 0) {
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        for (int fd = 0; fd < 3; ++fd) close(fd);
        sleep_seconds(arg(2));
        _exit(0);
      }
      _exit(0);
    }
    wait(nullptr);
    std::printf("daemonized\n");
    return 0;
  }
  if (cmd == "orphans") {
    // Leaves N orphans that exit at once (reparented to pid 1, which must reap them), waits
    // half a second, then prints how many zombies the job's pid namespace holds.
    const int n = static_cast<int>(arg(2));
    const pid_t child = fork();
    if (child == 0) {
      for (int i = 0; i < n; ++i)
        if (fork() == 0) {
          sleep_seconds(0.1);  // an orphan by then
          _exit(0);
        }
      _exit(0);
    }
    waitpid(child, nullptr, 0);
    sleep_seconds(0.5);
    int zombies = 0;
    const bool listed = each_process("stat", [&zombies](const char*, const std::string& stat) {
      const auto state = stat.rfind(')');  // "pid (comm) S ..."
      if (state != std::string::npos && stat.compare(state, 3, ") Z") == 0) ++zombies;
    });
    std::printf("zombies %d\n", zombies);
    return listed ? 0 : 1;
  }
  if (cmd == "id") {
    std::printf("uid=%d gid=%d\n", static_cast<int>(getuid()), static_cast<int>(getgid()));
    return 0;
  }
  if (cmd == "euid") {
    std::printf("euid=%d\n", static_cast<int>(geteuid()));
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
  if (cmd == "subreaper") {
    // On the host, for tests: runs argv[2...] as a child subreaper, so that whatever it
    // orphans comes to us and not to the test process; reaps every child until none is left,
    // then exits as argv[2] did (128 + N when killed by signal N).
    if (argc < 3 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return 2;
    const pid_t first = fork();
    if (first == 0) {
      execv(argv[2], argv + 2);
      _exit(127);
    }
    int first_status = 0;
    for (;;) {
      int status = 0;
      const pid_t pid = wait(&status);
      if (pid < 0 && errno == EINTR) continue;
      if (pid < 0) break;  // ECHILD: nothing left
      if (pid == first) first_status = status;
    }
    return WIFSIGNALED(first_status) ? 128 + WTERMSIG(first_status) : WEXITSTATUS(first_status);
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
