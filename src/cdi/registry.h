// The CDI specs a host has: every *.json, *.yaml and *.yml file of the spec dirs, read when a
// job asks for a CDI device (specs come and go with drivers; nothing is cached). As the
// reference implementation: a dir later in the list has precedence (/etc/cdi, then
// /var/run/cdi), a device defined twice in one dir is a conflict that cannot be used, and a
// spec that cannot be read is reported, never half-used. A spec's hooks run with the
// runtime's privileges, so a spec file (or its dir) that another user than root or the caller
// may write is refused, as sudo refuses such a sudoers file.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cdi/spec_file.h"
#include "ociexec/error.h"

namespace ociexec::cdi {

class Registry {
 public:
  static Registry scan(const std::vector<std::filesystem::path>& dirs);

  // The edits of `names` (fully qualified), in order: each spec's own edits once, before its
  // first device's. An unknown or conflicting name is an error naming it and the fix, and
  // every spec that could not be read (which may be where it was meant to be).
  [[nodiscard]] Expected<Edits> resolve(const std::vector<std::string>& names) const;
  // Every usable device's qualified name, sorted.
  [[nodiscard]] std::vector<std::string> device_names() const;
  // The names of `kind`'s devices, sorted.
  [[nodiscard]] std::vector<std::string> names_of_kind(const std::string& kind) const;
  // Each spec that could not be read or used: "CDI spec FILE:LINE: problem".
  [[nodiscard]] std::vector<std::string> problems() const;

 private:
  struct Entry {
    std::size_t spec = 0;
    std::size_t device = 0;
    std::size_t priority = 0;
  };
  [[nodiscard]] std::string dirs_text() const;
  std::vector<std::filesystem::path> dirs_;
  std::vector<SpecFile> specs_;
  std::map<std::string, Entry> devices_;
  std::map<std::string, std::string> conflicts_;  // name -> why
  std::vector<std::string> problems_;             // specs and dirs that could not be read
};

}  // namespace ociexec::cdi
