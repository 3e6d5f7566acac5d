// Fuzzes ThinkTime::parse (--think none | constant:D | uniform:A:B | exponential:M | pacing:P) and
// draws a few pauses from a parsed, validated think time.
#include "loadtest/behavior.hpp"

#include <cstdlib>
#include <random>

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::ThinkTime think = lt::ThinkTime::parse(lt::fuzz::text(data, size));
    think.validate();
    std::mt19937_64 rng(size);
    for (int i = 0; i < 4; ++i)
      if (think.after(lt::Duration(std::chrono::milliseconds(i)), rng) < lt::Duration::zero()) std::abort();
  });
  return 0;
}
