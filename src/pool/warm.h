// Warm interpreters: a warm-pool container for a Python job starts its interpreter ahead,
// with common standard modules imported, and runs the job in it once assigned. The container,
// its namespaces and cgroup are still made for one job and removed after it; only the
// interpreter's start moves ahead of the job. What the job sees (sys.argv, the environment,
// the working directory, __main__) is what a cold start gives it; where the start could have
// come out differently for the job, the loader execs the job's command instead, a cold start
// in the same container (pool/warm_python.py says how, docs/design.md what is left).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ociexec::pool {

// The interpreter whose start a pooled container of this command can move ahead: its first
// word when that is a Python 3 interpreter named by its absolute path ("/usr/bin/python3",
// ".../python3.11") followed directly by the script (a "#!" line without options); else none.
std::optional<std::string> warm_interpreter(const std::vector<std::string>& args);

// The loader that such a container's interpreter runs (src/pool/warm_python.py, compiled in).
std::string_view warm_python_loader() noexcept;

}  // namespace ociexec::pool
