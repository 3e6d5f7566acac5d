// Fuzzes parse_stages (--stages DUR:TARGET,...), then what the CLI builds from it: a Stages users
// pattern (closed model) and a RampingRate (open model, --rate), validated and sampled.
// The first byte picks the start value (the --rate start rate), the rest is the spec.
#include "loadtest/pattern.hpp"
#include "loadtest/pattern_spec.hpp"
#include "loadtest/rate.hpp"

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const double start = static_cast<double>(data[0] % 16);
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::StageList list = lt::parse_stages(lt::fuzz::text(data + 1, size - 1), start);
    lt::Stages users{list.stages, list.start};
    lt::RampingRate rate{list.stages, list.start};
    const lt::Duration length = users.duration();
    for (int i = 0; i <= 8; ++i) {
      lt::Duration t = length / 8 * i;
      (void)users.users_at(t);
      (void)rate.rate_at(t);
    }
    (void)users.max_users();
    users.validate();
    rate.validate();
  });
  return 0;
}
