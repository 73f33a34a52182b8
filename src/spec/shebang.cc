#include "spec/shebang.h"

namespace ociexec::spec {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

std::vector<std::string> interpreter_for(std::string_view script) {
  if (script.size() < 2 || script.substr(0, 2) != "#!") return {std::string(kDefaultShell)};
  std::string_view line =
      script.substr(2, script.find('\n') == std::string_view::npos ? std::string_view::npos
                                                                   : script.find('\n') - 2);
  // As the kernel reads it: a NUL ends the line too (and argv cannot hold one).
  line = line.substr(0, line.find('\0'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::size_t i = 0;
  while (i < line.size() && is_blank(line[i])) ++i;
  std::size_t j = i;
  while (j < line.size() && !is_blank(line[j])) ++j;
  if (j == i) return {std::string(kDefaultShell)};
  std::vector<std::string> argv{std::string(line.substr(i, j - i))};
  while (j < line.size() && is_blank(line[j])) ++j;
  std::size_t end = line.size();
  while (end > j && is_blank(line[end - 1])) --end;
  if (end > j) argv.emplace_back(line.substr(j, end - j));
  return argv;
}

}  // namespace ociexec::spec
