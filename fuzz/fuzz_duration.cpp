// Fuzzes parse_duration (--duration, --ramp-up, --timeout, --abort-grace, and every DUR inside a
// stage, pattern, think or backoff spec). A parsed duration must be non-negative and print back.
#include "loadtest/time.hpp"

#include <cstdlib>

#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  loadtest::fuzz::expect_parse_or_invalid([&] {
    loadtest::Duration d = loadtest::parse_duration(loadtest::fuzz::text(data, size));
    if (d < loadtest::Duration::zero()) std::abort();
    (void)loadtest::format_duration(d);
  });
  return 0;
}
