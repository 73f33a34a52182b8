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

#include "convert.h"
#include "ociexec/ociexec.h"

namespace py = pybind11;
using namespace ociexec_python;

namespace {


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

class PyExecutor {
 public:
  PyExecutor(const std::string& state_dir, const std::string& runtime,
             const std::string& cgroup_parent, double runtime_timeout, std::size_t pool_size,
             double pool_max_age, std::size_t pool_max_containers, std::size_t max_concurrent_jobs,
             double kill_wait, const std::string& init_path, const py::dict& images,
             const std::vector<std::string>& cdi_spec_dirs) {
    ociexec::ExecutorOptions o;
    o.images = image_options(images);
    if (!cdi_spec_dirs.empty()) o.cdi_spec_dirs.assign(cdi_spec_dirs.begin(), cdi_spec_dirs.end());
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
      .def(py::init<const std::string&, const std::string&, const std::string&, double, std::size_t,
                    double, std::size_t, std::size_t, double, const std::string&, const py::dict&,
                    const std::vector<std::string>&>(),
           py::arg("state_dir"), py::arg("runtime"), py::arg("cgroup_parent"),
           py::arg("runtime_timeout"), py::arg("pool_size"), py::arg("pool_max_age"),
           py::arg("pool_max_containers"), py::arg("max_concurrent_jobs"), py::arg("kill_wait"),
           py::arg("init_path"), py::arg("images"), py::arg("cdi_spec_dirs"))
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
