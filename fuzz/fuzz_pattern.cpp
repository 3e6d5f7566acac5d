// Fuzzes parse_shape (--pattern step:... / spike:...) and the Stages and RampingRate patterns the
// CLI builds from the result, validated and sampled. The test length given to a spike without
// duration= is 60 s, the CLI's default.
#include "loadtest/pattern.hpp"
#include "loadtest/pattern_spec.hpp"
#include "loadtest/rate.hpp"

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::StageList list = lt::parse_shape(lt::fuzz::text(data, size), lt::Duration(std::chrono::seconds(60)));
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
