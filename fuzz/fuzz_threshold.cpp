// Fuzzes parse_threshold (--threshold, Config::thresholds): k6-style expressions such as
// p(99)<200ms, error_rate<1%, 'GET /items: p(95)<300ms'. A parsed threshold must print back.
#include "loadtest/threshold.hpp"

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::Threshold t = lt::parse_threshold(lt::fuzz::text(data, size));
    (void)t;
  });
  return 0;
}
