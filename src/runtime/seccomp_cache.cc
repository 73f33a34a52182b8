#include "runtime/seccomp_cache.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "sys/fs.h"
#include "util/text.h"

namespace ociexec::runtime {

namespace {

// A BPF instruction is 8 bytes; the kernel takes at most BPF_MAXINSNS (4096) of them.
constexpr std::size_t kInstruction = 8;
constexpr std::size_t kMaxProgram = 4096 * kInstruction;

}  // namespace

std::optional<std::string> SeccompCache::apply(nlohmann::json& spec) const {
  auto linux = spec.find("linux");
  if (linux == spec.end()) return std::nullopt;
  auto section = linux->find("seccomp");
  if (section == linux->end()) return std::nullopt;
  std::string text = section->dump();
  std::lock_guard lock(mutex_);
  auto it = programs_.find(text);
  if (it == programs_.end() || support_ != AnnotationSupport::kHonoured) return text;
  spec["annotations"][kSeccompBpfAnnotation] = it->second;
  linux->erase(section);
  return std::nullopt;
}

void SeccompCache::learn(const std::string& section, const std::filesystem::path& bpf_file) const {
  auto program = sys::read_file(bpf_file);
  if (!program || program->empty() || program->size() % kInstruction != 0 ||
      program->size() > kMaxProgram)
    return;
  std::lock_guard lock(mutex_);
  programs_.emplace(section, text::base64_encode(*program));
}

bool SeccompCache::probe_due() const {
  std::lock_guard lock(mutex_);
  return support_ == AnnotationSupport::kUnknown && !programs_.empty();
}

void SeccompCache::set_support(AnnotationSupport support) const {
  std::lock_guard lock(mutex_);
  support_ = support;
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
