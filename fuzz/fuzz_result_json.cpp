// Fuzzes result_from_json (--baseline FILE, LoadTestRunner summaries): any bytes in, a result or
// std::invalid_argument out. A parsed result is written back with to_json, read again, and
// compared with itself as a baseline would be, so the writer and compare() see hostile values
// (NaN, huge counts, odd endpoint names) too.
#include "loadtest/baseline.hpp"
#include "loadtest/results_io.hpp"

#include <cmath>
#include <cstdlib>

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::LoadTestResult r = lt::result_from_json(lt::fuzz::text(data, size));
    std::string again = lt::to_json(r);
    lt::LoadTestResult r2 = lt::result_from_json(again);  // what we write, we must read
    if (r2.total_requests != r.total_requests) std::abort();
    auto deltas = lt::compare(r, r2);
    (void)lt::format_comparison(deltas);
    (void)lt::regressed(deltas, 0.1);
  });
  return 0;
}
