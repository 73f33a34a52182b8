// The CPython extension behind the `ociexec` package: Executor, Result and the executor's
// exceptions. Keyword options are converted here (one place, with clear TypeErrors); the
// friendly functions and the default executor live in ociexec/__init__.py. The GIL is
// released while a job runs, so Python threads run jobs in parallel.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/mount_specs.h"
#include "config/units.h"
#include "util/text.h"
#include "ociexec/ociexec.h"

namespace py = pybind11;

namespace {

// Carries an ociexec::Error to the exception translator.
struct ExecutorFailure : std::exception {
  std::string kind;
  std::string message;
  ExecutorFailure(std::string k, std::string m) : kind(std::move(k)), message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

// ociexec.ExecutorError and ociexec.InvalidOptionError, made when the module loads.
PyObject* g_executor_error = nullptr;
PyObject* g_invalid_option = nullptr;

py::str decode(const std::string& data) {
  // Scripts may print anything, and messages quote paths and runtime output: invalid UTF-8
  // becomes U+FFFD rather than an exception.
  PyObject* s = PyUnicode_DecodeUTF8(data.data(), static_cast<Py_ssize_t>(data.size()), "replace");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

// The exception a failure becomes in Python: InvalidOptionError for bad values, else
// ExecutorError, with .kind. A null object when making it failed (a Python error is set).
py::object error_object(const std::string& kind, const std::string& message) {
  PyObject* type = kind == "invalid_argument" ? g_invalid_option : g_executor_error;
  PyObject* text = PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()),
                                        "replace");
  if (!text) return {};
  py::object err =
      py::reinterpret_steal<py::object>(PyObject_CallFunctionObjArgs(type, text, nullptr));
  Py_DECREF(text);
  if (err) err.attr("kind") = kind;
  return err;
}

[[noreturn]] void raise_error(const ociexec::Error& e) {
  throw ExecutorFailure(std::string(ociexec::to_string(e.kind)), e.message);
}

template <typename T>
T value_or_raise(ociexec::Expected<T> v) {
  if (!v) raise_error(v.error());
  return std::move(*v);
}

std::string text_of(const py::handle& obj, const char* what) {
  if (py::isinstance<py::bytes>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  throw py::type_error(std::string(what) + ": expected str or bytes");
}

// Seconds as milliseconds. Values past the longest duration any option takes are held just
// beyond it, so that the library refuses them with its own message (never a wrapped value).
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

// An int of bytes, or a string such as "256m".
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

// Applies keyword options to `job`. None means "no limit" for memory, cpus and pids, and
// "the default" for everything else.
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
        const auto texts = py::isinstance<py::str>(value)
                               ? std::vector<std::string>{value.cast<std::string>()}
                               : strings_of(value, key.c_str());
        if (auto r = ociexec::config::parse_mounts(texts, parse, job.mounts); !r)
          raise_error(r.error().with_context(key));
      }
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
                           "runtime, workdir, init, network, volume, mount, tmpfs, ulimit, "
                           "on_output, allow_unenforced_limits");
    }
  }
  // podman's order: the env file first, then the env entries over it.
  if (!env_file.empty()) job.env.insert(job.env.begin(), env_file.begin(), env_file.end());
}

py::object optional_seconds(const std::optional<std::chrono::nanoseconds>& d) {
  if (!d) return py::none();
  return py::float_(std::chrono::duration<double>(*d).count());
}

template <typename T>
py::object optional_value(const std::optional<T>& v) {
  return v ? py::cast(*v) : py::none();
}

py::dict limits_dict(const ociexec::EffectiveLimits& l) {
  py::dict d;
  d["timeout"] = std::chrono::duration<double>(l.timeout).count();
  d["grace"] = std::chrono::duration<double>(l.grace).count();
  d["memory"] = optional_value(l.memory_bytes);
  d["cpus"] = optional_value(l.cpus);
  d["pids"] = optional_value(l.pids);
  d["tmpfs_size"] = l.tmpfs_bytes;
  d["output_cap"] = l.output_cap;
  py::dict ulimit;
  auto value = [](std::uint64_t v) -> py::object {
    return v == ociexec::kUnlimitedRlimit ? py::object(py::none()) : py::object(py::int_(v));
  };
  for (const auto& u : l.ulimit) ulimit[py::str(u.name)] = py::make_tuple(value(u.soft), value(u.hard));
  d["ulimit"] = ulimit;
  d["cpuset_cpus"] = optional_value(l.cpuset_cpus);
  d["cpu_time"] = l.cpu_time ? py::object(py::float_(std::chrono::duration<double>(*l.cpu_time).count()))
                             : py::object(py::none());
  d["unenforced"] = l.unenforced;
  return d;
}

// Image store and registry settings from keyword arguments (see images() in __init__.py).
ociexec::ImageOptions image_options(const py::dict& kw) {
  ociexec::ImageOptions o;
  for (auto [key_obj, value] : kw) {
    const auto key = py::str(key_obj).cast<std::string>();
    if (value.is_none()) continue;
    if (key == "store") o.store = py::str(value).cast<std::string>();
    else if (key == "tls_verify") o.tls_verify = value.cast<bool>();
    else if (key == "insecure_registries") o.insecure_registries = value.cast<std::vector<std::string>>();
    else if (key == "ca_file") o.ca_file = py::str(value).cast<std::string>();
    else if (key == "credentials") o.credentials = value.cast<std::string>();
    else if (key == "auth_file") o.auth_file = py::str(value).cast<std::string>();
    else if (key == "platform") o.platform = value.cast<std::string>();
    else if (key == "max_unpacked_size") o.max_unpacked_bytes = size_of(value, "max_unpacked_size");
    else if (key == "max_entries") o.max_entries = value.cast<std::uint64_t>();
    else if (key == "pull_timeout") o.pull_timeout = seconds_of(value, "pull_timeout");
    else
      throw py::type_error("unknown image option '" + key +
                           "'; known: store, tls_verify, insecure_registries, ca_file, "
                           "credentials, auth_file, platform, max_unpacked_size, max_entries, pull_timeout");
  }
  return o;
}

py::dict image_dict(const ociexec::ImageInfo& i) {
  py::dict d;
  d["name"] = i.name;
  d["digest"] = i.digest;
  d["config_digest"] = i.config_digest;
  d["layers"] = i.layers;
  d["size"] = i.size_bytes;
  d["pulled_at"] = std::chrono::duration<double>(i.pulled_at.time_since_epoch()).count();
  return d;
}

class PyExecutor {
 public:
  PyExecutor(const std::string& state_dir, const std::string& runtime,
             const std::string& cgroup_parent, double runtime_timeout, std::size_t pool_size,
             double pool_max_age, std::size_t pool_max_containers, std::size_t max_concurrent_jobs,
             double kill_wait, const std::string& init_path, const py::dict& images) {
    ociexec::ExecutorOptions o;
    o.images = image_options(images);
    o.state_dir = state_dir;
    o.runtime = runtime;
    o.cgroup_parent = cgroup_parent;
    o.runtime_timeout = milliseconds_of(runtime_timeout);
    o.pool_size = pool_size;
    o.pool_max_age = milliseconds_of(pool_max_age);
    o.pool_max_containers = pool_max_containers;
    o.kill_wait = milliseconds_of(kill_wait);
    o.max_concurrent_jobs = max_concurrent_jobs;
    o.init_path = init_path;
    exec_ = std::make_shared<ociexec::Executor>(value_or_raise(ociexec::Executor::create(o)));
  }
  PyExecutor(const PyExecutor&) = delete;
  PyExecutor& operator=(const PyExecutor&) = delete;
  // Destroying the executor waits for submitted jobs, whose callbacks need the GIL.
  ~PyExecutor() {
    py::gil_scoped_release unlocked;
    exec_.reset();
  }

  // Runs the job in the background; `done(result, None)` or `done(None, exception)` is called
  // on a worker thread, with the GIL.
  void submit(const py::handle& script, const py::dict& options, py::function done) const {
    ociexec::JobOptions job;
    apply_options(job, options);
    auto callback = std::make_shared<py::function>(std::move(done));
    exec_->submit(text_of(script, "script"), std::move(job),
                  [callback](ociexec::Expected<ociexec::Result> r) {
                    py::gil_scoped_acquire gil;
                    // Moved out: the Python object is released here, under the GIL, not
                    // wherever the worker drops this closure.
                    py::function f = std::move(*callback);
                    try {
                      if (r) {
                        f(py::cast(std::move(*r)), py::none());
                      } else {
                        auto err = error_object(std::string(ociexec::to_string(r.error().kind)),
                                                r.error().message);
                        // Making it failed: the future still resolves, with that failure.
                        if (!err) err = py::error_already_set().value();
                        f(py::none(), err);
                      }
                    } catch (py::error_already_set& e) {
                      e.discard_as_unraisable("ociexec submit callback");
                    }
                  });
  }

  std::size_t prewarm(const py::dict& options, double timeout) const {
    ociexec::JobOptions job;
    apply_options(job, options);
    ociexec::Expected<std::size_t> ready;
    {
      py::gil_scoped_release unlocked;
      ready = exec_->prewarm(job, std::chrono::milliseconds(std::llround(timeout * 1000.0)));
    }
    return value_or_raise(std::move(ready));
  }

  ociexec::Result run(const py::handle& script, const py::dict& options) const {
    ociexec::JobOptions job;
    apply_options(job, options);
    const std::string text = text_of(script, "script");
    ociexec::Expected<ociexec::Result> result;
    {
      py::gil_scoped_release unlocked;  // jobs in other Python threads run meanwhile
      result = exec_->run(text, job);
    }
    return value_or_raise(std::move(result));
  }

  py::list collect_garbage() const {
    auto report = exec_->collect_garbage();
    if (!report.errors.empty())
      raise_error({ociexec::ErrorKind::kSystem, "gc: " + report.errors.front()});
    return py::cast(report.removed);
  }

  py::dict runtime() const {
    py::dict d;
    d["name"] = exec_->runtime().name;
    d["path"] = exec_->runtime().path;
    d["version"] = exec_->runtime().version;
    return d;
  }

 private:
  std::shared_ptr<ociexec::Executor> exec_;
};

}  // namespace

PYBIND11_MODULE(_ociexec, m) {
  m.doc() = "Compiled core of the ociexec package; use the functions in `ociexec`.";
  // ExecutorError(RuntimeError) for every executor failure, with .kind; InvalidOptionError is
  // also a ValueError, as Python code expects of a bad value.
  g_executor_error = PyErr_NewException("ociexec.ExecutorError", PyExc_RuntimeError, nullptr);
  PyObject* bases = PyTuple_Pack(2, g_executor_error, PyExc_ValueError);
  g_invalid_option = PyErr_NewException("ociexec.InvalidOptionError", bases, nullptr);
  Py_DECREF(bases);
  m.attr("ExecutorError") = py::handle(g_executor_error);
  m.attr("InvalidOptionError") = py::handle(g_invalid_option);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ExecutorFailure& e) {
      py::object err = error_object(e.kind, e.message);
      if (!err) return;  // making it already set a Python error
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(err.ptr())), err.ptr());
    }
  });

  py::class_<ociexec::Result>(m, "Result")
      .def_property_readonly("exit_code", [](const ociexec::Result& r) { return r.exit_code; })
      .def_property_readonly("stdout",
                             [](const ociexec::Result& r) { return decode(r.stdout_data); })
      .def_property_readonly("stderr",
                             [](const ociexec::Result& r) { return decode(r.stderr_data); })
      .def_property_readonly("stdout_bytes",
                             [](const ociexec::Result& r) { return py::bytes(r.stdout_data); })
      .def_property_readonly("stderr_bytes",
                             [](const ociexec::Result& r) { return py::bytes(r.stderr_data); })
      .def_property_readonly(
          "outcome",
          [](const ociexec::Result& r) { return std::string(ociexec::to_string(r.outcome)); })
      .def_property_readonly(
          "signal",
          [](const ociexec::Result& r) { return r.signal ? py::cast(r.signal) : py::none(); })
      .def_property_readonly("wall_time",
                             [](const ociexec::Result& r) {
                               return std::chrono::duration<double>(r.wall_time).count();
                             })
      .def_property_readonly("cpu_time",
                             [](const ociexec::Result& r) { return optional_seconds(r.cpu_time); })
      .def_property_readonly(
          "peak_memory",
          [](const ociexec::Result& r) { return optional_value(r.peak_memory_bytes); })
      .def_property_readonly("stdout_truncated",
                             [](const ociexec::Result& r) { return r.stdout_truncated; })
      .def_property_readonly("stderr_truncated",
                             [](const ociexec::Result& r) { return r.stderr_truncated; })
      .def_property_readonly("runtime",
                             [](const ociexec::Result& r) {
                               return py::make_tuple(r.runtime_name, r.runtime_version);
                             })
      .def_property_readonly("container_id",
                             [](const ociexec::Result& r) { return r.container_id; })
      .def_property_readonly("pooled", [](const ociexec::Result& r) { return r.pooled; })
      .def_property_readonly("warnings",
                             [](const ociexec::Result& r) {
                               py::list out;
                               for (const auto& w : r.warnings) out.append(decode(w));
                               return out;
                             })
      .def_property_readonly("limits",
                             [](const ociexec::Result& r) { return limits_dict(r.limits); })
      .def("__iter__",
           [](const ociexec::Result& r) {
             return py::iter(
                 py::make_tuple(r.exit_code, decode(r.stdout_data), decode(r.stderr_data)));
           })
      .def("__repr__", [](const ociexec::Result& r) {
        return "<ociexec.Result exit_code=" + std::to_string(r.exit_code) +
               " outcome=" + std::string(ociexec::to_string(r.outcome)) + ">";
      });

  py::class_<PyExecutor>(m, "Executor")
      .def(py::init<const std::string&, const std::string&, const std::string&, double,
                    std::size_t, double, std::size_t, std::size_t, double, const std::string&,
                    const py::dict&>(),
           py::arg("state_dir"), py::arg("runtime"), py::arg("cgroup_parent"),
           py::arg("runtime_timeout"), py::arg("pool_size"), py::arg("pool_max_age"),
           py::arg("pool_max_containers"), py::arg("max_concurrent_jobs"), py::arg("kill_wait"),
           py::arg("init_path"), py::arg("images"))
      .def("run", &PyExecutor::run, py::arg("script"), py::arg("options"))
      .def("submit", &PyExecutor::submit, py::arg("script"), py::arg("options"), py::arg("done"))
      .def("prewarm", &PyExecutor::prewarm, py::arg("options"), py::arg("timeout"))
      .def("collect_garbage", &PyExecutor::collect_garbage)
      .def_property_readonly("runtime", &PyExecutor::runtime);

  m.def("version", [] { return std::string(ociexec::version()); });
  m.def(
      "pull_image",
      [](const std::string& reference, const py::dict& kw) {
        const auto options = image_options(kw);
        ociexec::Expected<ociexec::PullSummary> s;
        {
          py::gil_scoped_release unlocked;
          s = ociexec::pull_image(reference, options);
        }
        auto summary = value_or_raise(std::move(s));
        py::dict d = image_dict(summary.image);
        d["layers_fetched"] = summary.layers_fetched;
        d["layers_cached"] = summary.layers_cached;
        d["bytes_fetched"] = summary.bytes_fetched;
        return d;
      },
      py::arg("reference"), py::arg("options"));
  m.def(
      "list_images",
      [](const py::dict& kw) {
        py::list out;
        for (const auto& i : value_or_raise(ociexec::list_images(image_options(kw))))
          out.append(image_dict(i));
        return out;
      },
      py::arg("options"));
  m.def(
      "remove_image",
      [](const std::string& reference, const py::dict& kw) {
        py::list out;
        for (const auto& i : value_or_raise(ociexec::remove_image(reference, image_options(kw))))
          out.append(i.name);
        return out;
      },
      py::arg("reference"), py::arg("options"));
  m.def(
      "prune_images",
      [](const py::dict& kw) {
        auto r = value_or_raise(ociexec::prune_images(image_options(kw)));
        py::dict d;
        d["layers_removed"] = r.layers_removed;
        d["blobs_removed"] = r.blobs_removed;
        d["in_use"] = r.in_use;
        d["bytes_freed"] = r.bytes_freed;
        return d;
      },
      py::arg("options"));
  m.def(
      "_check_options",
      [](const py::dict& options) {
        ociexec::JobOptions job;
        apply_options(job, options);
      },
      "Raises TypeError or InvalidOptionError for options that no job would accept.");
}
