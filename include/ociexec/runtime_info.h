// What the executor knows of an OCI runtime it runs jobs with (Executor::runtime()).
#pragma once

#include <string>

namespace ociexec {

struct RuntimeInfo {
  std::string name;     // "runc" or "crun"
  std::string path;     // absolute path of the binary
  std::string version;  // e.g. "1.1.5"
  // crun on a hybrid cgroup host: every crun call runs in a private mount namespace without
  // the cgroup2 mount, where crun manages the v1 controllers (crun refuses the host otherwise).
  bool private_mount_ns = false;
  // Every call runs a sealed in-memory copy of the binary, made once by the executor, so the
  // runtime skips copying itself at each call (its CVE-2019-5736 guard); crun, and runc
  // rootless (as root, runc guards itself with a read-only bind mount instead of a copy).
  bool sealed_copy = false;
};

}  // namespace ociexec
