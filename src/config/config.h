// The YAML configuration file: defaults for every executor and job option. Unknown keys and
// bad values are rejected with "file:line:column: key: problem". The command reads
// /etc/ociexec/config.yaml, and for a user other than root their own file over it
// (config_files below), as podman reads containers.conf.
//
//   runtime: auto            # auto | runc | crun | /path/to/runtime
//   state_dir: /run/ociexec  # default: /run/ociexec as root, else $XDG_RUNTIME_DIR/ociexec
//   cgroup_parent: ociexec
//   runtime_timeout: 30s
//   kill_wait: 10s           # after a deadline's SIGKILL; then the result comes back anyway
//   pool_size: 0             # warm-pool containers per profile (0: off)
//   pool_max_age: 60s
//   pool_max_containers: 0   # across all profiles; 0: twice pool_size
//   warm_interpreters: true  # pooled Python jobs' interpreters start ahead (options.h)
//   timeout: 300s
//   grace: 0s
//   memory: 1g               # or unlimited
//   cpus: 1.5                # or unlimited
//   pids_limit: 1024         # or unlimited
//   cpuset_cpus: 0-3,8       # the CPUs jobs may run on; omit for all
//   volume: /srv/data:/data:ro   # blank-separated, each as -v; also mount: and tmpfs:
//   cpu_time: 10s            # CPU time after which a job is killed; omit (or unlimited) for none
//   tmpfs_size: 64m
//   output_cap: 10m
//   rootfs: /srv/rootfs      # omit for the built-in host view
//   interpreter: /bin/sh     # omit to use the script's #! line
//   image: python:3.12-slim  # instead of rootfs (see images.h)
//   pull: missing            # missing | always | never
//   network: none            # none (loopback only) | host (root only: no isolation)
//   user: 1000:1000          # or a name in the root's /etc/passwd; default the image's, else 65534
//   image_store: /var/lib/ociexec
//   tls_verify: true
//   insecure_registries: 127.0.0.1:5000 registry.lan   # blank- or comma-separated
//   cert_file: /etc/ociexec/ca.pem   # a CA bundle (registry_ca_file, the first spelling)
//   authfile: /root/.docker/config.json   # (auth_file, the first spelling)
//   platform: linux/amd64
//   image_max_size: 32g      # unpacked bytes of one image; beyond: refused as a tar bomb
//   image_max_entries: 1000000
//   pull_timeout: 1h         # a whole pull; transfers slower than 1 KiB/s for 30 s are dropped
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ociexec/error.h"
#include "ociexec/options.h"

namespace ociexec::config {

inline constexpr const char* kSystemConfigPath = "/etc/ociexec/config.yaml";

struct Config {
  ExecutorOptions executor;
  JobOptions job;
};

// Parses YAML text; `source` names it in errors.
Expected<Config> parse_config(std::string_view yaml, const std::string& source);
// Reads `path`; a missing file is an error.
Expected<Config> load_config(const std::filesystem::path& path);
// Reads each of `paths` in order, a later file's key replacing an earlier file's (a list
// such as volume or devices too, whole); a missing file is an error.
Expected<Config> load_configs(const std::vector<std::filesystem::path>& paths);
// The files the command reads: `explicit_path` alone when given; else the system file (when
// it exists) and then, for a user other than root, the user's own when it exists:
// $XDG_CONFIG_HOME/ociexec/config.yaml, else ~/.config/ociexec/config.yaml.
std::vector<std::filesystem::path> config_files(const std::string& explicit_path);
// load_configs(config_files(explicit_path)): the defaults when there is none.
Expected<Config> load_effective_config(const std::string& explicit_path);

}  // namespace ociexec::config
