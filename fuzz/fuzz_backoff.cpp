// Fuzzes AnyBackoff::parse (--backoff none | fixed:D | linear:STEP:CAP |
// exponential:BASE:CAP[:jitter]), then validates it and asks for the delays of a long error streak.
// The first byte is the --retry count (0..127; more than 100 must be refused).
#include "loadtest/backoff.hpp"

#include <cstdlib>

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned retries = data[0] % 128;
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::AnyBackoff b = lt::AnyBackoff::parse(lt::fuzz::text(data + 1, size - 1));
    b.validate();
    b.with_retries(retries);
    b.seed(size);
    for (unsigned attempt = 1; attempt <= 70; ++attempt)
      if (b.delay(attempt) < lt::Duration::zero()) std::abort();
    b.reset();
    (void)b.cap();
  });
  return 0;
}
