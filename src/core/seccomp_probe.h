// Whether the crun in use loads a seccomp program given through its run.oci.seccomp_bpf_data
// annotation, which the executor's seccomp cache relies on (runtime/seccomp_cache.h): a crun
// that ignored it would run every cached job with no filter at all, since the cache drops the
// spec's seccomp section. Shown, not assumed from a version: one probe container per
// executor, made like the job that asks, is given a program under which every exec fails with
// EDOM. crun honours the annotation when the exec of the container's command fails with EDOM;
// ignoring it, the command runs.
#pragma once

#include "container/container.h"
#include "runtime/seccomp_cache.h"

namespace ociexec::core {

// Runs the probe in a container made from `like` (its root, namespaces and cgroup parent;
// not its command, script or stdin). A probe that cannot run counts as kIgnored: the cache
// is then not used, and every job compiles its own filter.
runtime::AnnotationSupport probe_seccomp_annotation(const container::Request& like);

}  // namespace ociexec::core
