// Helpers shared by the test suites: a temporary directory, reading a file, listing a directory,
// and a short-test configuration against the embedded target.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "loadtest/config.hpp"
#include "loadtest/testing/target_server.hpp"

namespace loadtest::test_support {

namespace fs = std::filesystem;

/** A fresh directory under the system's temporary directory, removed with everything in it at
 *  the end of the test. */
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "loadtest_test_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

/** The whole content of a file ("" when it cannot be read). */
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/** The sorted names in a directory (none when it does not exist). */
inline std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/** A configuration for short engine tests against `server`: no signal handling, a 50 ms monitor,
 *  a 2 s grace period, a fixed seed. */
inline Config quick(std::string name, const testing::TargetServer& server) {
  Config c;
  c.name = std::move(name);
  c.handle_signals = false;
  c.monitor_interval = std::chrono::milliseconds(50);
  c.grace_period = std::chrono::seconds(2);
  c.seed = 42;
  c.target = server.url("");
  return c;
}

}  // namespace loadtest::test_support
