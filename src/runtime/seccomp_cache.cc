#include "runtime/seccomp_cache.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <fmt/format.h>

#include "sys/fs.h"
#include "util/text.h"

namespace ociexec::runtime {

namespace {

// A BPF instruction is 8 bytes; the kernel takes at most BPF_MAXINSNS (4096) of them.
constexpr std::size_t kInstruction = 8;
constexpr std::size_t kMaxProgram = 4096 * kInstruction;

bool whole_program(std::string_view program) {
  return !program.empty() && program.size() % kInstruction == 0 && program.size() <= kMaxProgram;
}

// FNV-1a: a file name for a section (the file holds the whole section, compared on load).
std::string name_of(std::string_view text) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

// Written aside and renamed (concurrent executors never read half a file); best effort: a
// cache that cannot be written costs a later executor a compile, or a probe.
void keep(const std::filesystem::path& dir, const std::string& name, const std::string& data) {
  if (!sys::make_dirs(dir, 0700)) return;
  (void)sys::replace_file(dir / name, data, 0600, dir / fmt::format("{}.tmp{}", name, ::getpid()));
}

constexpr std::string_view kSupportFile = "annotation";
constexpr std::string_view kProgramSuffix = ".bpf";

}  // namespace

SeccompCache::SeccompCache(std::filesystem::path dir, std::string identity)
    : dir_(identity.empty() ? std::filesystem::path() : dir / name_of(identity)),
      identity_(std::move(identity)) {
  if (dir_.empty()) return;
  // "<identity>\n<honoured|ignored>\n": the verdict of a probe of this very binary.
  if (auto text = sys::read_file(dir_ / kSupportFile)) {
    if (*text == identity_ + "\nhonoured\n") support_ = AnnotationSupport::kHonoured;
    if (*text == identity_ + "\nignored\n") support_ = AnnotationSupport::kIgnored;
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
    if (e.path().extension() == kProgramSuffix) on_disk_ = true;
}

void SeccompCache::load(const std::string& section) const {
  // "<identity>\n<section>\0<program>"
  auto text = sys::read_file(dir_ / (name_of(section) + std::string(kProgramSuffix)));
  const std::string head = identity_ + "\n" + section + '\0';
  if (!text || !text->starts_with(head)) return;
  const std::string_view program = std::string_view(*text).substr(head.size());
  if (whole_program(program)) programs_.emplace(section, text::base64_encode(program));
}

std::optional<std::string> SeccompCache::apply(nlohmann::json& spec) const {
  auto linux = spec.find("linux");
  if (linux == spec.end()) return std::nullopt;
  auto section = linux->find("seccomp");
  if (section == linux->end()) return std::nullopt;
  std::string text = section->dump();
  std::lock_guard lock(mutex_);
  if (support_ != AnnotationSupport::kHonoured) return text;
  auto it = programs_.find(text);
  if (it == programs_.end() && !dir_.empty()) {
    load(text);
    it = programs_.find(text);
  }
  if (it == programs_.end()) return text;
  spec["annotations"][kSeccompBpfAnnotation] = it->second;
  linux->erase(section);
  return std::nullopt;
}

void SeccompCache::learn(const std::string& section, const std::filesystem::path& bpf_file) const {
  auto program = sys::read_file(bpf_file);
  if (!program || !whole_program(*program)) return;
  std::lock_guard lock(mutex_);
  programs_.emplace(section, text::base64_encode(*program));
  if (!dir_.empty())
    keep(dir_, name_of(section) + std::string(kProgramSuffix),
         identity_ + "\n" + section + '\0' + *program);
}

bool SeccompCache::probe_due() const {
  std::lock_guard lock(mutex_);
  return support_ == AnnotationSupport::kUnknown && (!programs_.empty() || on_disk_);
}

void SeccompCache::set_support(AnnotationSupport support) const {
  std::lock_guard lock(mutex_);
  support_ = support;
  if (dir_.empty() || support == AnnotationSupport::kUnknown) return;
  keep(dir_, std::string(kSupportFile),
       identity_ + (support == AnnotationSupport::kHonoured ? "\nhonoured\n" : "\nignored\n"));
}

AnnotationSupport SeccompCache::support() const {
  std::lock_guard lock(mutex_);
  return support_;
}

std::string seccomp_probe_program() {
  // Classic BPF over struct seccomp_data, whose first field is the syscall number.
  const sock_filter program[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EDOM & SECCOMP_RET_DATA)),
  };
  return std::string(reinterpret_cast<const char*>(program), sizeof program);
}

}  // namespace ociexec::runtime
