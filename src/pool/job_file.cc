#include "pool/job_file.h"

#include <charconv>

namespace ociexec::pool {

namespace {

constexpr std::string_view kMagic = "ociexec-job-2";

bool append_field(std::string& out, std::string_view field) {
  if (field.find('\0') != std::string_view::npos) return false;
  out.append(field);
  out.push_back('\0');
  return true;
}

bool append_list(std::string& out, const std::vector<std::string>& list) {
  if (!append_field(out, std::to_string(list.size()))) return false;
  for (const auto& item : list)
    if (!append_field(out, item)) return false;
  return true;
}

class Reader {
 public:
  explicit Reader(std::string_view text) : rest_(text) {}
  std::optional<std::string_view> field() {
    auto nul = rest_.find('\0');
    if (nul == std::string_view::npos) return std::nullopt;
    auto f = rest_.substr(0, nul);
    rest_.remove_prefix(nul + 1);
    return f;
  }
  std::optional<std::vector<std::string>> list() {
    auto count = field();
    if (!count) return std::nullopt;
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(count->data(), count->data() + count->size(), n);
    // Each entry takes at least its NUL: a count beyond what is left is a corrupt file.
    if (ec != std::errc{} || p != count->data() + count->size() || n > rest_.size())
      return std::nullopt;
    std::vector<std::string> items;
    items.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto f = field();
      if (!f) return std::nullopt;
      items.emplace_back(*f);
    }
    return items;
  }
  [[nodiscard]] bool at_end() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace

std::optional<std::string> encode_job(const JobSpec& job) {
  if (job.argv.empty()) return std::nullopt;
  std::string out;
  if (!append_field(out, kMagic) || !append_list(out, job.argv) || !append_list(out, job.env) ||
      !append_field(out, job.cwd) || !append_field(out, job.init ? "1" : "0"))
    return std::nullopt;
  return out;
}

std::optional<JobSpec> decode_job(std::string_view text) {
  Reader r(text);
  auto magic = r.field();
  if (!magic || *magic != kMagic) return std::nullopt;
  JobSpec job;
  auto argv = r.list();
  if (!argv || argv->empty()) return std::nullopt;
  job.argv = std::move(*argv);
  auto env = r.list();
  if (!env) return std::nullopt;
  job.env = std::move(*env);
  auto cwd = r.field();
  if (!cwd) return std::nullopt;
  job.cwd = std::string(*cwd);
  auto init = r.field();
  if (!init || (*init != "0" && *init != "1") || !r.at_end()) return std::nullopt;
  job.init = *init == "1";
  return job;
}

}  // namespace ociexec::pool
