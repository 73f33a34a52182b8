// The text helpers every parser of outside input shares (config values, flags, batch lines,
// runtime output, cgroup and /proc files, registry headers): one of each, here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ociexec::text {

// `s` without the ASCII whitespace at either end (space, \t, \n, \v, \f, \r).
std::string_view trim(std::string_view s);

// The blank-separated words of `text`, in order ("python3 -u" -> {"python3", "-u"}; a cgroup
// controller list; a pid list).
std::vector<std::string> words(std::string_view text);

// `message` on one line: control characters shown escaped ("\x0a"), for an error that quotes
// outside input raw (yaml-cpp's "unknown escape character: \n", a value with a newline).
std::string one_line(std::string_view message);

// How much of `bytes` ends on a whole UTF-8 character: all of it unless its last 1 to 3 bytes
// start a multi-byte sequence that is not complete yet (a piece of output split inside a
// character; the rest comes with the next piece). Invalid bytes count as whole.
std::size_t whole_utf8_prefix(std::string_view bytes);

// Standard base64 (RFC 4648, with padding): crun's seccomp annotation, registry auth, and
// the bytes of files in JSON (batch input, results).
std::string base64_encode(std::string_view data);
// nullopt unless `text` (trailing blanks and newlines aside) is whole, padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ociexec::text
