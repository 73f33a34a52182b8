// A job's files in and out (JobOptions::files, copy_in, copy_out) as steps of its plan: each
// path is checked against the job's work dir and /tmp, host trees are read with the caller's
// rights, and what is copied in must fit the tmpfs it goes to; after the job, what copy_out
// names is read into Result::files from the trees kept open (sys/job_tree.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "container/plan.h"
#include "ociexec/error.h"
#include "ociexec/options.h"
#include "ociexec/result.h"
#include "sys/job_tree.h"

namespace ociexec::core {

// Checked and read before anything is made; a bad path, a missing or unreadable source, or
// more than the tmpfs holds is kInvalidArgument.
Expected<container::JobFiles> plan_files(const JobOptions& job, std::uint64_t tmpfs_bytes);

// After the job: every file the patterns name, by path (relative to the work dir, or
// absolute under /tmp). `roots` are the fds write_tree returned, in plan order.
std::map<std::string, CopiedFile> read_copy_out(const container::JobFiles& files,
                                                const std::vector<sys::UniqueFd>& roots);

// A failed copy-in as the job's error: the path, the step, and the fix where one is known.
Error copy_in_error(const sys::TreeWriteFailure& failure, std::uint64_t tmpfs_bytes);

}  // namespace ociexec::core
