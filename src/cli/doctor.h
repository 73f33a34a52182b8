// `ociexec doctor`: what this host offers and lacks, each finding with the fix when one is
// known. Runs a real job with each runtime found, so "works" means a container ran.
#pragma once

#include <string>
#include <vector>

#include "ociexec/options.h"

namespace ociexec::core {

struct Finding {
  std::string topic;  // "cgroups", "runtime runc", "pidfd", ...
  bool ok = false;
  std::string detail;  // what was found
  std::string fix;     // what to do when !ok (may be empty)
};

std::vector<Finding> run_doctor(const ExecutorOptions& options);

}  // namespace ociexec::core
