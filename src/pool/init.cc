// ociexec-init: the first process of a pooled container. The container was created ahead of
// time with this program as its command; when a job takes the container, the executor writes
// the job file (argv, environment, working directory) into the job's directory and starts the
// container. This program reads the file and execs the job's command, which then runs as the
// container's init exactly as in a container created for it. A failed exec is reported on
// fd 3 (its errno) and the exit code follows the shell: 127 not found, 126 not executable.
//
// Static, no allocation after the read beyond the decoded vectors, no output on success.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "pool/job_file.h"

namespace {

using ociexec::pool::kExecStatusFd;

[[noreturn]] void fail(int err, const std::string& what) {
  (void)!::write(kExecStatusFd, &err, sizeof err);
  std::string line = std::string(ociexec::pool::kInitMessagePrefix) + what + ": " +
                     std::strerror(err) + "\n";
  (void)!::write(2, line.data(), line.size());
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

}  // namespace

int main() {
  ::fcntl(kExecStatusFd, F_SETFD, FD_CLOEXEC);  // a successful exec closes it: "no error"
  auto job = ociexec::pool::decode_job(read_job_file());
  if (!job) fail(EINVAL, "bad job file");
  if (::chdir(job->cwd.c_str()) != 0) fail(errno, "chdir " + job->cwd);

  std::string path_list = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : job->env)
    if (e.rfind("PATH=", 0) == 0) path_list = e.substr(5);
  auto path = ociexec::pool::search_path(job->argv[0], path_list, is_executable_file);
  if (!path) {
    errno = ENOENT;
    fail(ENOENT, "exec " + job->argv[0]);
  }
  std::vector<char*> argv, envp;
  for (auto& a : job->argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : job->env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::execve(path->c_str(), argv.data(), envp.data());
  fail(errno, "exec " + *path);
}
