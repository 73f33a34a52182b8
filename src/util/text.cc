#include "util/text.h"

#include <cstdint>

#include <algorithm>

namespace ociexec::text {

namespace {

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

std::string one_line(std::string_view message) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(message.size());
  for (char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && blank(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !blank(text[i])) ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::size_t whole_utf8_prefix(std::string_view bytes) {
  // Back over at most three continuation bytes to the byte that starts the last character.
  const std::size_t n = bytes.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(4, n); ++back) {
    const auto c = static_cast<unsigned char>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte
    const std::size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  auto byte = [&](std::size_t i) -> std::uint32_t {
    return i < data.size() ? static_cast<unsigned char>(data[i]) : 0U;
  };
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const std::uint32_t v = byte(i) << 16U | byte(i + 1) << 8U | byte(i + 2);
    const std::size_t have = std::min<std::size_t>(3, data.size() - i);  // bytes in this group
    for (std::size_t k = 0; k < 4; ++k) out += k <= have ? kBase64[(v >> (18 - 6 * k)) & 63U] : '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r'))
    text.remove_suffix(1);
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      std::uint32_t six = 0;
      if (c == '=' && i + 4 == text.size() && k >= 2 && (k == 3 || text[i + 3] == '=')) {
        ++pad;
      } else if (const char* at = std::char_traits<char>::find(kBase64, 64, c); at && !pad) {
        six = static_cast<std::uint32_t>(at - kBase64);
      } else {
        return std::nullopt;
      }
      v = v << 6U | six;
    }
    out += static_cast<char>((v >> 16U) & 255U);
    if (pad < 2) out += static_cast<char>((v >> 8U) & 255U);
    if (pad < 1) out += static_cast<char>(v & 255U);
  }
  return out;
}

}  // namespace ociexec::text
