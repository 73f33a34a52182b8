// ociexec-init: the first process of a container whose job it is given later (a pooled
// container) or that runs its job under an init (JobOptions::init). It reads the job file
// (argv, environment, working directory, whether to stay as init) from the job's directory.
//
// Without `init`, it execs the job's command, which then runs as the container's init exactly
// as in a container created for it. With `init`, it stays pid 1 of the job's pid namespace
// and runs the command as its child, as tini and `docker run --init` do: the command is then
// an ordinary process (SIGTERM ends a shell without a trap; `kill -9 $$` kills it), every
// orphan of the job is reaped, every signal the init gets goes on to every other process of
// the namespace, and the init exits as the command did once it has.
//
// A failed exec is reported on fd 3 (its errno and reason) and the exit code follows the
// shell: 127 not found, 126 not executable. With `init`, a command killed by signal N is
// reported there as -N, and the init exits 128 + N (pid 1 cannot be killed by its own signal).
//
// Static, no allocation after the read beyond the decoded vectors, no output on success.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "pool/job_file.h"

namespace {

using ociexec::pool::kExecStatusFd;

void report(int value) {
  (void)!::write(kExecStatusFd, &value, sizeof value);
}

// The errno and its reason in one write, so that the executor reads them whole; nothing goes
// to the job's stderr, which is the job's own (and passes through live).
[[noreturn]] void fail(int err, const std::string& what) {
  std::string message(reinterpret_cast<const char*>(&err), sizeof err);
  message += what + ": " + std::strerror(err);
  message.resize(std::min(message.size(), ociexec::pool::kExecReportMax));
  (void)!::write(kExecStatusFd, message.data(), message.size());
  ::_exit(err == ENOENT ? 127 : 126);
}

std::string read_job_file() {
  const std::string path(ociexec::pool::kJobFileInContainer);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open " + path);
  std::string text;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, "read " + path);
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// `mask`: the signal mask the command starts with (the one the init was started with).
[[noreturn]] void exec_job(ociexec::pool::JobSpec& job, const sigset_t& mask) {
  if (::chdir(job.cwd.c_str()) != 0) fail(errno, "chdir " + job.cwd);
  std::string path_list = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : job.env)
    if (e.rfind("PATH=", 0) == 0) path_list = e.substr(5);
  auto path = ociexec::pool::search_path(job.argv[0], path_list, is_executable_file);
  if (!path) fail(ENOENT, "exec " + job.argv[0]);
  std::vector<char*> argv, envp;
  for (auto& a : job.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : job.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::sigprocmask(SIG_SETMASK, &mask, nullptr);
  ::execve(path->c_str(), argv.data(), envp.data());
  fail(errno, "exec " + *path);
}

// Pid 1 with the command as its child: waits for signals; SIGCHLD reaps, anything else is
// passed on to every other process of the namespace (kill(-1) from pid 1).
// Every signal is blocked already (main); `before` is the mask the command gets.
[[noreturn]] void run_as_init(ociexec::pool::JobSpec& job, const sigset_t& before) {
  sigset_t all;
  ::sigfillset(&all);
  const pid_t command = ::fork();
  if (command < 0) fail(errno, "fork");
  if (command == 0) exec_job(job, before);
  for (;;) {
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&all, &info);
    if (sig < 0) continue;  // EINTR
    if (sig != SIGCHLD) {
      ::kill(-1, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid != command) continue;  // an orphan of the job, reaped
      if (WIFSIGNALED(status)) {
        report(-WTERMSIG(status));
        ::_exit(128 + WTERMSIG(status));
      }
      ::_exit(WEXITSTATUS(status));
    }
  }
}

}  // namespace

int main() {
  // Every signal blocked from the start: pid 1 of a namespace drops a signal it has no
  // handler for unless the signal is blocked, so one forwarded while the job file is read
  // would be lost. exec_job restores the mask for the command (and the run_as_init child).
  sigset_t all, before;
  ::sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &before);
  ::fcntl(kExecStatusFd, F_SETFD, FD_CLOEXEC);  // a successful exec closes it: "no error"
  auto job = ociexec::pool::decode_job(read_job_file());
  if (!job) fail(EINVAL, "bad job file");
  if (job->init) run_as_init(*job, before);
  exec_job(*job, before);
}
