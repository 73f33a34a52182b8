// Python values into ociexec's options: the keyword options of a job, of the image store, and
// the units they come in (seconds, sizes, text), each with a clear TypeError or the library's
// own error. Shared by the extension's classes (module.cc).
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "ociexec/ociexec.h"

namespace ociexec_python {

namespace py = pybind11;

// Carries an ociexec::Error to the exception translator.
struct ExecutorFailure : std::exception {
  std::string kind;
  std::string message;
  ExecutorFailure(std::string k, std::string m) : kind(std::move(k)), message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

[[noreturn]] void raise_error(const ociexec::Error& e);

template <typename T>
T value_or_raise(ociexec::Expected<T> v) {
  if (!v) raise_error(v.error());
  return std::move(*v);
}

std::string text_of(const py::handle& obj, const char* what);
// Seconds as milliseconds. Values past the longest duration any option takes are held just
// beyond it, so that the library refuses them with its own message (never a wrapped value).
std::chrono::milliseconds milliseconds_of(double seconds);
// An int or float of seconds.
std::chrono::milliseconds seconds_of(const py::handle& obj, const char* what);
// An int of bytes, or a string such as "256m".
std::uint64_t size_of(const py::handle& obj, const char* what);

// Applies keyword options to `job`. None means "no limit" for the limits, and "the default"
// for everything else.
void apply_options(ociexec::JobOptions& job, const py::dict& options);
// Image store and registry settings from keyword arguments (see pull_image in __init__.py),
// over `base` (the config files' settings).
ociexec::ImageOptions image_options(const py::dict& kw, ociexec::ImageOptions base = {});

}  // namespace ociexec_python
