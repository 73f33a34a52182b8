#include "convert.h"

#include <filesystem>
#include <map>

#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "config/mount_specs.h"
#include "config/units.h"
#include "util/text.h"

namespace ociexec_python {

[[noreturn]] void raise_error(const ociexec::Error& e) {
  throw ExecutorFailure(std::string(ociexec::to_string(e.kind)), e.message);
}

std::string text_of(const py::handle& obj, const char* what) {
  if (py::isinstance<py::bytes>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  throw py::type_error(std::string(what) + ": expected str or bytes");
}

std::chrono::milliseconds milliseconds_of(double seconds) {
  constexpr auto kBeyond = static_cast<double>(ociexec::kMaxDuration.count() + 1);
  const double ms = std::clamp(seconds * 1000.0, -kBeyond, kBeyond);
  return std::chrono::milliseconds(std::llround(ms));
}

std::chrono::milliseconds seconds_of(const py::handle& obj, const char* what) {
  if (!py::isinstance<py::int_>(obj) && !py::isinstance<py::float_>(obj))
    throw py::type_error(std::string(what) + ": expected a number of seconds");
  const double s = obj.cast<double>();
  if (!std::isfinite(s)) throw py::value_error(std::string(what) + ": must be finite");
  return milliseconds_of(s);
}

std::uint64_t size_of(const py::handle& obj, const char* what) {
  if (py::isinstance<py::str>(obj))
    return value_or_raise(ociexec::config::parse_size(obj.cast<std::string>()));
  if (py::isinstance<py::int_>(obj)) {
    const auto v = obj.cast<long long>();
    if (v < 0)
      raise_error({ociexec::ErrorKind::kInvalidArgument, std::string(what) + ": negative size"});
    return static_cast<std::uint64_t>(v);
  }
  throw py::type_error(std::string(what) +
                       ": expected bytes as an int, or a size string like '256m'");
}

namespace {

std::vector<std::string> env_of(const py::handle& obj) {
  std::vector<std::string> env;
  if (py::isinstance<py::dict>(obj)) {
    for (auto [k, v] : obj.cast<py::dict>())
      env.push_back(py::str(k).cast<std::string>() + "=" + py::str(v).cast<std::string>());
    return env;
  }
  if (py::isinstance<py::str>(obj)) throw py::type_error("env: expected a dict or a list of 'K=V'");
  for (auto item : obj) env.push_back(py::str(item).cast<std::string>());
  return env;
}

std::vector<std::string> command_of(const py::handle& obj) {
  if (py::isinstance<py::str>(obj)) return ociexec::text::words(obj.cast<std::string>());
  std::vector<std::string> argv;
  for (auto item : obj) argv.push_back(py::str(item).cast<std::string>());
  return argv;
}

// A list of str (or bytes): a str alone would be taken letter by letter.
std::vector<std::string> strings_of(const py::handle& obj, const char* what) {
  if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
    throw py::type_error(std::string(what) + ": expected a list of strings");
  std::vector<std::string> out;
  for (auto item : obj) out.push_back(text_of(item, what));
  return out;
}

// on_output=callable(stream, data): called on the job's relay thread (with the GIL) with
// "stdout" or "stderr" and the bytes just written. The callable is released under the GIL
// too, wherever the last copy of the job's options goes. An exception it raises ends the
// calls for that job; the result's warnings name it.
ociexec::OutputCallback output_callback_of(const py::handle& obj) {
  if (!PyCallable_Check(obj.ptr())) throw py::type_error("on_output: expected a callable");
  std::shared_ptr<py::function> f(new py::function(py::reinterpret_borrow<py::function>(obj)),
                                  [](py::function* p) {
                                    py::gil_scoped_acquire gil;
                                    delete p;
                                  });
  return [f](ociexec::OutputStream stream, std::string_view bytes) {
    py::gil_scoped_acquire gil;
    try {
      (*f)(py::str(std::string(ociexec::to_string(stream))),
           py::bytes(bytes.data(), bytes.size()));
    } catch (py::error_already_set& e) {
      throw std::runtime_error(e.what());  // the relay stops calling, and says why
    }
  };
}

// ulimit={"nofile": 1024, "fsize": (soft, hard)} (None or -1: unlimited), or a list of
// podman's "NAME=SOFT[:HARD]" strings.
std::vector<ociexec::Ulimit> ulimits_of(const py::handle& obj) {
  if (!py::isinstance<py::dict>(obj))
    return value_or_raise(ociexec::config::parse_ulimits(strings_of(obj, "ulimit")));
  std::vector<ociexec::Ulimit> out;
  auto add = [&out](const std::string& text) {
    out.push_back(value_or_raise(ociexec::config::parse_ulimit(text)));
  };
  auto number = [](const py::handle& v) -> std::string {
    if (v.is_none()) return "-1";
    if (!py::isinstance<py::int_>(v)) throw py::type_error("ulimit: expected ints, or None for unlimited");
    return py::str(v).cast<std::string>();
  };
  for (auto [name, value] : obj.cast<py::dict>()) {
    const auto key = py::str(name).cast<std::string>();
    if (py::isinstance<py::tuple>(value) || py::isinstance<py::list>(value)) {
      auto pair = value.cast<py::sequence>();
      if (pair.size() != 2) throw py::type_error("ulimit: expected (soft, hard)");
      add(key + "=" + number(pair[0]) + ":" + number(pair[1]));
    } else {
      add(key + "=" + number(value));
    }
  }
  return out;
}

// One str, or a list of them: podman's texts ("/srv:/data:ro"), copy_out's patterns.
std::vector<std::string> one_or_list(const py::handle& obj, const char* what) {
  return py::isinstance<py::str>(obj) ? std::vector{obj.cast<std::string>()}
                                      : strings_of(obj, what);
}

// files={"data.csv": b"...", "notes.txt": "text"}.
std::map<std::string, std::string> files_of(const py::handle& obj) {
  if (!py::isinstance<py::dict>(obj)) throw py::type_error("files: expected a dict of path: bytes");
  std::map<std::string, std::string> out;
  for (auto [path, data] : obj.cast<py::dict>())
    out[py::str(path).cast<std::string>()] = text_of(data, "files");
  return out;
}

// copy_in="/host/dir", "/host/file:in/name", ("/host/file", "in/name"), or a list of them.
std::vector<ociexec::CopyIn> copy_in_of(const py::handle& obj) {
  auto one = [](const py::handle& item) -> ociexec::CopyIn {
    if (py::isinstance<py::tuple>(item)) {
      auto pair = item.cast<py::tuple>();
      if (pair.size() != 2) throw py::type_error("copy_in: expected (host_path, job_path)");
      return {std::filesystem::absolute(py::str(pair[0]).cast<std::string>()),
              py::str(pair[1]).cast<std::string>()};
    }
    auto copy = ociexec::config::parse_copy_in(py::str(item).cast<std::string>());
    if (!copy) raise_error(copy.error().with_context("copy_in"));
    return std::move(*copy);
  };
  std::vector<ociexec::CopyIn> out;
  if (py::isinstance<py::str>(obj) || py::isinstance<py::tuple>(obj) ||
      py::hasattr(obj, "__fspath__")) {
    out.push_back(one(obj));
  } else {
    for (auto item : obj) out.push_back(one(item));
  }
  return out;
}

}  // namespace

void apply_options(ociexec::JobOptions& job, const py::dict& options) {
  std::vector<std::string> env_file;
  for (auto [key_obj, value] : options) {
    const auto key = py::str(key_obj).cast<std::string>();
    const bool none = value.is_none();
    auto& lim = job.limits;
    if (key == "timeout_seconds") {
      if (!none) job.timeout = seconds_of(value, "timeout_seconds");
    } else if (key == "grace_seconds") {
      if (!none) job.grace = seconds_of(value, "grace_seconds");
    } else if (key == "memory") {
      lim.memory_bytes = none ? std::nullopt : std::optional(size_of(value, "memory"));
    } else if (key == "cpus") {
      if (none)
        lim.cpus.reset();
      else if (py::isinstance<py::str>(value))
        lim.cpus = value_or_raise(ociexec::config::parse_cpus(value.cast<std::string>()));
      else
        lim.cpus = value.cast<double>();
    } else if (key == "pids_limit" || key == "pids") {  // "pids": the first spelling
      lim.pids = none ? std::nullopt : std::optional(value.cast<std::int64_t>());
    } else if (key == "cpuset_cpus") {
      if (none)
        lim.cpuset_cpus.reset();
      else
        lim.cpuset_cpus = py::str(value).cast<std::string>();
    } else if (key == "cpu_time_seconds") {
      if (none)
        lim.cpu_time.reset();
      else
        lim.cpu_time = seconds_of(value, "cpu_time_seconds");
    } else if (key == "tmpfs_size") {
      if (!none) lim.tmpfs_bytes = size_of(value, "tmpfs_size");
    } else if (key == "output_cap") {
      if (!none) job.output_cap = static_cast<std::size_t>(size_of(value, "output_cap"));
    } else if (key == "env") {
      job.env = none ? std::vector<std::string>{} : env_of(value);
    } else if (key == "env_file") {
      if (!none) {
        auto entries = ociexec::config::read_env_file(py::str(value).cast<std::string>());
        if (!entries) raise_error(entries.error().with_context("env_file"));
        env_file = std::move(*entries);
      }
    } else if (key == "args") {
      job.args = none ? std::vector<std::string>{} : strings_of(value, "args");
    } else if (key == "stdin") {
      job.stdin_data = none ? std::string() : text_of(value, "stdin");
    } else if (key == "interpreter") {
      job.interpreter = none ? std::vector<std::string>{} : command_of(value);
    } else if (key == "rootfs") {
      if (none)
        job.rootfs.reset();
      else
        job.rootfs = py::str(value).cast<std::string>();  // str or os.PathLike via __str__
    } else if (key == "runtime") {
      if (none)
        job.runtime.reset();
      else
        job.runtime = value.cast<std::string>();
    } else if (key == "workdir") {
      if (!none) job.workdir = value.cast<std::string>();
    } else if (key == "allow_unenforced_limits") {
      job.allow_unenforced_limits = !none && value.cast<bool>();
    } else if (key == "init") {
      job.init = !none && value.cast<bool>();
    } else if (key == "volume" || key == "mount" || key == "tmpfs") {
      // podman's texts, one (a str) or a list: "/srv:/data:ro", "type=tmpfs,target=/t".
      const auto parse = key == "volume"  ? &ociexec::config::parse_volume
                         : key == "mount" ? &ociexec::config::parse_mount
                                          : &ociexec::config::parse_tmpfs;
      if (!none) {
        const auto texts = one_or_list(value, key.c_str());
        if (auto r = ociexec::config::parse_mounts(texts, parse, job.mounts); !r)
          raise_error(r.error().with_context(key));
      }
    } else if (key == "devices") {
      job.devices.clear();
      if (!none)
        if (auto r = ociexec::config::parse_devices(one_or_list(value, "devices"), job.devices); !r)
          raise_error(r.error().with_context("devices"));
    } else if (key == "gpus") {
      job.gpus = 0;
      if (!none)
        if (auto r = ociexec::config::parse_gpus(py::str(value).cast<std::string>(), job.devices,
                                                 job.gpus);
            !r)
          raise_error(r.error().with_context("gpus"));
    } else if (key == "files") {
      job.files = none ? std::map<std::string, std::string>{} : files_of(value);
    } else if (key == "copy_in") {
      job.copy_in = none ? std::vector<ociexec::CopyIn>{} : copy_in_of(value);
    } else if (key == "copy_out") {
      job.copy_out = none ? std::vector<std::string>{} : one_or_list(value, "copy_out");
    } else if (key == "copy_out_file_cap") {
      if (!none) job.copy_out_file_cap = size_of(value, "copy_out_file_cap");
    } else if (key == "copy_out_cap") {
      if (!none) job.copy_out_cap = size_of(value, "copy_out_cap");
    } else if (key == "ulimit") {
      job.ulimit = none ? std::vector<ociexec::Ulimit>{} : ulimits_of(value);
    } else if (key == "on_output") {
      job.on_output = none ? ociexec::OutputCallback{} : output_callback_of(value);
    } else if (key == "image") {
      if (none)
        job.image.reset();
      else
        job.image = value.cast<std::string>();
    } else if (key == "pull") {
      auto policy = none ? ociexec::Expected<ociexec::PullPolicy>(ociexec::PullPolicy::kMissing)
                         : ociexec::config::parse_pull_policy(value.cast<std::string>());
      if (!policy) raise_error(policy.error().with_context("pull"));
      job.pull = *policy;
    } else if (key == "network") {
      job.network =
          none ? ociexec::Network::kNone
               : value_or_raise(ociexec::config::parse_network(value.cast<std::string>()));
    } else if (key == "user") {
      if (none)
        job.user.reset();
      else
        job.user = py::str(value).cast<std::string>();
    } else {
      throw py::type_error("unknown option '" + key +
                           "'; known: timeout_seconds, grace_seconds, memory, cpus, "
                           "pids_limit, cpuset_cpus, cpu_time_seconds, tmpfs_size, output_cap, "
                           "env, env_file, args, stdin, interpreter, rootfs, image, pull, user, "
                           "runtime, workdir, init, network, volume, mount, tmpfs, devices, gpus, "
                           "ulimit, files, "
                           "copy_in, copy_out, copy_out_file_cap, copy_out_cap, "
                           "on_output, allow_unenforced_limits");
    }
  }
  // podman's order: the env file first, then the env entries over it.
  if (!env_file.empty()) job.env.insert(job.env.begin(), env_file.begin(), env_file.end());
}

ociexec::ImageOptions image_options(const py::dict& kw, ociexec::ImageOptions o) {
  // The names are the command's and the config file's (README's table); ociexec/__init__.py
  // renames the earlier spellings.
  for (auto [key_obj, value] : kw) {
    const auto key = py::str(key_obj).cast<std::string>();
    if (value.is_none()) continue;
    if (key == "image_store")
      o.store = py::str(value).cast<std::string>();
    else if (key == "tls_verify") o.tls_verify = value.cast<bool>();
    else if (key == "insecure_registries") o.insecure_registries = value.cast<std::vector<std::string>>();
    else if (key == "cert_file")
      o.ca_file = py::str(value).cast<std::string>();
    else if (key == "creds")
      o.credentials = value.cast<std::string>();
    else if (key == "authfile")
      o.auth_file = py::str(value).cast<std::string>();
    else if (key == "platform") o.platform = value.cast<std::string>();
    else if (key == "image_max_size")
      o.max_unpacked_bytes = size_of(value, "image_max_size");
    else if (key == "image_max_entries")
      o.max_entries = value.cast<std::uint64_t>();
    else if (key == "pull_timeout_seconds")
      o.pull_timeout = seconds_of(value, "pull_timeout_seconds");
    else
      throw py::type_error("unknown image option '" + key +
                           "'; known: image_store, tls_verify, insecure_registries, cert_file, "
                           "creds, authfile, platform, image_max_size, image_max_entries, "
                           "pull_timeout_seconds");
  }
  return o;
}

}  // namespace ociexec_python
