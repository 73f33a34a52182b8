// The CPython extension behind the `ociexec` package: Executor, Result and the executor's
// exceptions. Keyword options are converted here (one place, with clear TypeErrors); the
// friendly functions and the default executor live in ociexec/__init__.py. The GIL is
// released while a job runs, so Python threads run jobs in parallel.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/config.h"
#include "convert.h"
#include "ociexec/ociexec.h"

namespace py = pybind11;
using namespace ociexec_python;

namespace {

// ociexec.ExecutorError and its subclasses, made when the module loads: the class of each
// error kind that has one of its own (the others are ExecutorError).
PyObject* g_executor_error = nullptr;
std::map<std::string, PyObject*, std::less<>> g_error_of_kind;

py::str decode(const std::string& data) {
  // Scripts may print anything, and messages quote paths and runtime output: invalid UTF-8
  // becomes U+FFFD rather than an exception.
  PyObject* s = PyUnicode_DecodeUTF8(data.data(), static_cast<Py_ssize_t>(data.size()), "replace");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

// The exception a failure becomes in Python: the class of its kind (InvalidOptionError,
// ImageNotFound, ...), else ExecutorError, with .kind. A null object when making it failed
// (a Python error is set).
py::object error_object(const std::string& kind, const std::string& message) {
  const auto own = g_error_of_kind.find(kind);
  PyObject* type = own != g_error_of_kind.end() ? own->second : g_executor_error;
  PyObject* text = PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()),
                                        "replace");
  if (!text) return {};
  py::object err =
      py::reinterpret_steal<py::object>(PyObject_CallFunctionObjArgs(type, text, nullptr));
  Py_DECREF(text);
  if (err) err.attr("kind") = kind;
  return err;
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

// The config files' settings: none for None, the command's files for "auto" (the system
// file, then the user's own), else the file named.
ociexec::config::Config read_config(const py::handle& config) {
  if (config.is_none()) return {};
  const auto path = py::str(config).cast<std::string>();
  return value_or_raise(ociexec::config::load_effective_config(path == "auto" ? "" : path));
}

// Image options as pull_image() and the other module functions take them: `config` first.
ociexec::ImageOptions configured_image_options(const py::handle& config, const py::dict& kw) {
  return image_options(kw, read_config(config).executor.images);
}

class PyExecutor {
 public:
  // `config`: None, "auto" (the command's files: config_files("")) or a file's path; then
  // `settings` (the executor's keywords that were given) and `images` over it. `init_default`
  // is the ociexec-init found beside the package, for when neither names one.
  PyExecutor(const py::handle& config, const py::dict& settings, const py::dict& images,
             const std::string& init_default) {
    auto configured = read_config(config);
    ociexec::ExecutorOptions o = std::move(configured.executor);
    base_job_ = std::move(configured.job);
    o.images = image_options(images, std::move(o.images));
    for (auto [key_obj, value] : settings) {
      const auto key = py::str(key_obj).cast<std::string>();
      if (value.is_none()) continue;
      if (key == "state_dir")
        o.state_dir = py::str(value).cast<std::string>();
      else if (key == "runtime")
        o.runtime = value.cast<std::string>();
      else if (key == "cgroup_parent")
        o.cgroup_parent = value.cast<std::string>();
      else if (key == "runtime_timeout_seconds")
        o.runtime_timeout = seconds_of(value, key.c_str());
      else if (key == "pool_size")
        o.pool_size = value.cast<std::size_t>();
      else if (key == "pool_max_age_seconds")
        o.pool_max_age = seconds_of(value, key.c_str());
      else if (key == "pool_max_containers")
        o.pool_max_containers = value.cast<std::size_t>();
      else if (key == "warm_interpreters")
        o.warm_interpreters = value.cast<bool>();
      else if (key == "max_concurrent_jobs")
        o.max_concurrent_jobs = value.cast<std::size_t>();
      else if (key == "kill_wait_seconds")
        o.kill_wait = seconds_of(value, key.c_str());
      else if (key == "init_path")
        o.init_path = py::str(value).cast<std::string>();
      else if (key == "cdi_spec_dirs") {
        o.cdi_spec_dirs.clear();
        for (auto dir : value) o.cdi_spec_dirs.emplace_back(py::str(dir).cast<std::string>());
      } else {
        throw py::type_error("Executor: unknown setting '" + key + "'");
      }
    }
    if (o.init_path.empty()) o.init_path = init_default;
    exec_ = std::make_shared<ociexec::Executor>(value_or_raise(ociexec::Executor::create(o)));
  }
  PyExecutor(const PyExecutor&) = delete;
  PyExecutor& operator=(const PyExecutor&) = delete;
  // Destroying the executor removes its warm pool without the GIL, which a job still running
  // in another thread may need for its on_output callback.
  ~PyExecutor() {
    py::gil_scoped_release unlocked;
    exec_.reset();
  }

  std::size_t prewarm(const py::dict& options, double timeout) const {
    ociexec::JobOptions job = base_job_;
    apply_options(job, options);
    ociexec::Expected<std::size_t> ready;
    {
      py::gil_scoped_release unlocked;
      ready = exec_->prewarm(job, std::chrono::milliseconds(std::llround(timeout * 1000.0)));
    }
    return value_or_raise(std::move(ready));
  }

  // `signal_fd`: JobOptions::signal_fd, the read end of a pipe through which ociexec/
  // __init__.py kills a job that is cancelled or interrupted (Ctrl-C).
  ociexec::Result run(const py::handle& script, const py::dict& options, int signal_fd) const {
    ociexec::JobOptions job = base_job_;
    apply_options(job, options);
    job.signal_fd = signal_fd;
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

  std::size_t max_concurrent_jobs() const { return exec_->options().max_concurrent_jobs; }

  py::dict runtime() const {
    py::dict d;
    d["name"] = exec_->runtime().name;
    d["path"] = exec_->runtime().path;
    d["version"] = exec_->runtime().version;
    return d;
  }

 private:
  std::shared_ptr<ociexec::Executor> exec_;
  ociexec::JobOptions base_job_;  // the config files' job defaults
};

}  // namespace

PYBIND11_MODULE(_ociexec, m) {
  m.doc() = "Compiled core of the ociexec package; use the functions in `ociexec`.";
  // ExecutorError(RuntimeError) for every executor failure, with .kind; InvalidOptionError is
  // also a ValueError, as Python code expects of a bad value.
  // The image errors derive from ImageError, as docker-py's ImageNotFound from its APIError.
  g_executor_error = PyErr_NewException("ociexec.ExecutorError", PyExc_RuntimeError, nullptr);
  m.attr("ExecutorError") = py::handle(g_executor_error);
  auto subclass = [&m](const char* name, py::handle base, std::initializer_list<const char*> kinds,
                       PyObject* second_base = nullptr) {
    PyObject* bases =
        second_base ? PyTuple_Pack(2, base.ptr(), second_base) : PyTuple_Pack(1, base.ptr());
    PyObject* type = PyErr_NewException((std::string("ociexec.") + name).c_str(), bases, nullptr);
    Py_DECREF(bases);
    m.attr(name) = py::handle(type);
    for (const char* kind : kinds) g_error_of_kind[kind] = type;
    return py::handle(type);
  };
  subclass("InvalidOptionError", g_executor_error, {"invalid_argument"}, PyExc_ValueError);
  subclass("ConfigError", g_executor_error, {"config"});
  subclass("RuntimeNotFoundError", g_executor_error, {"runtime_not_found"});
  subclass("LimitNotEnforcedError", g_executor_error, {"limit_not_enforced"});
  const py::handle image_error = subclass("ImageError", g_executor_error, {"image"});
  subclass("ImageNotFound", image_error, {"image_not_found"});
  subclass("RegistryAuthError", image_error, {"auth"});
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ExecutorFailure& e) {
      py::object err = error_object(e.kind, e.message);
      if (!err) return;  // making it already set a Python error
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(err.ptr())), err.ptr());
    }
  });

  py::class_<ociexec::CopiedFile>(m, "CopiedFile")
      .def_property_readonly("data", [](const ociexec::CopiedFile& f) { return py::bytes(f.data); })
      .def_property_readonly("truncated", [](const ociexec::CopiedFile& f) { return f.truncated; })
      .def_property_readonly("error",
                             [](const ociexec::CopiedFile& f) {
                               return f.error.empty() ? py::none() : py::cast(f.error);
                             })
      .def_property_readonly("mode", [](const ociexec::CopiedFile& f) { return f.mode; })
      .def("__bytes__", [](const ociexec::CopiedFile& f) { return py::bytes(f.data); })
      .def("__repr__", [](const ociexec::CopiedFile& f) {
        return f.error.empty() ? "<ociexec.CopiedFile " + std::to_string(f.data.size()) + " bytes" +
                                     (f.truncated ? ", truncated>" : ">")
                               : "<ociexec.CopiedFile error=" + f.error + ">";
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
                               py::dict d;  // Executor.runtime's keys, less the path
                               d["name"] = r.runtime_name;
                               d["version"] = r.runtime_version;
                               return d;
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
      .def_property_readonly("files",
                             [](const ociexec::Result& r) {
                               py::dict out;
                               for (const auto& [path, f] : r.files)
                                 out[py::str(decode(path))] = py::cast(f);
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
      .def(py::init<const py::handle&, const py::dict&, const py::dict&, const std::string&>(),
           py::arg("config"), py::arg("settings"), py::arg("images"), py::arg("init_default"))
      .def("run", &PyExecutor::run, py::arg("script"), py::arg("options"),
           py::arg("signal_fd") = -1)
      .def("prewarm", &PyExecutor::prewarm, py::arg("options"), py::arg("timeout"))
      .def("collect_garbage", &PyExecutor::collect_garbage)
      .def_property_readonly("runtime", &PyExecutor::runtime)
      .def_property_readonly("max_concurrent_jobs", &PyExecutor::max_concurrent_jobs);

  m.def("version", [] { return std::string(ociexec::version()); });
  m.def(
      "pull_image",
      [](const std::string& reference, const py::handle& config, const py::dict& kw) {
        const auto options = configured_image_options(config, kw);
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
      py::arg("reference"), py::arg("config"), py::arg("options"));
  m.def(
      "list_images",
      [](const py::handle& config, const py::dict& kw) {
        py::list out;
        for (const auto& i :
             value_or_raise(ociexec::list_images(configured_image_options(config, kw))))
          out.append(image_dict(i));
        return out;
      },
      py::arg("config"), py::arg("options"));
  m.def(
      "remove_image",
      [](const std::string& reference, const py::handle& config, const py::dict& kw) {
        py::list out;
        for (const auto& i :
             value_or_raise(ociexec::remove_image(reference, configured_image_options(config, kw))))
          out.append(i.name);
        return out;
      },
      py::arg("reference"), py::arg("config"), py::arg("options"));
  m.def(
      "prune_images",
      [](const py::handle& config, const py::dict& kw) {
        auto r = value_or_raise(ociexec::prune_images(configured_image_options(config, kw)));
        py::dict d;
        d["layers_removed"] = r.layers_removed;
        d["blobs_removed"] = r.blobs_removed;
        d["in_use"] = r.in_use;
        d["bytes_freed"] = r.bytes_freed;
        return d;
      },
      py::arg("config"), py::arg("options"));
  m.def(
      "_check_options",
      [](const py::dict& options) {
        ociexec::JobOptions job;
        apply_options(job, options);
      },
      "Raises TypeError or InvalidOptionError for options that no job would accept.");
}
