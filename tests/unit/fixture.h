// Reads a file under tests/fixtures.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

inline std::string fixture(const std::string& name) {
  std::ifstream in(std::string(OCIEXEC_FIXTURES) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
